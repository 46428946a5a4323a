"""``drs-operator simulate``: run the DRS simulator server until SIGINT/SIGTERM.

Prints one line with the URL, the number of jobs and the credentials it
accepts: each token's project, each IAM user (``name@domain``) and each
access key ID, the secret values hidden. ``--show-credentials`` prints every
credential in full, one per line, with a ``drs-operator query`` command that
uses it (they are test credentials, but still credentials). ``--list``
prints the scenario's job IDs, statuses and names and exits; while it runs,
``GET /_sim/jobs`` lists them with their current statuses. Without
``--scenario`` it serves the bundled demo scenario. Exit codes: 0 after a
signal (or ``--list``), 1 when it cannot listen, 2 for a bad scenario file
or bad flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
from importlib import resources
from pathlib import Path

from drs_operator.sandbox.simulator.scenario import MIXED_MISSING_MODES, Scenario, ScenarioError
from drs_operator.sandbox.simulator.server import Simulator

__all__ = ["DEFAULT_PORT", "configure", "execute"]

DEFAULT_PORT = 8900
PROG = "drs-operator simulate"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="address to listen on (loopback)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, metavar="PORT",
        help=f"port (0: any free one; default {DEFAULT_PORT})",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", metavar="FILE", help="YAML scenario (default: the bundled demo scenario)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed for generated data and faults (default 0)",
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="the certificate's private key")
    parser.add_argument(
        "--mixed-missing",
        choices=MIXED_MISSING_MODES,
        help="how a batch mixing found and missing IDs is answered (overrides the scenario)",
    )
    parser.add_argument(
        "--show-credentials",
        action="store_true",
        help="print every accepted credential in full (token, AK/SK, user/password)",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the scenario's job IDs, statuses and names, then exit",
    )


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code


def _default_scenario() -> Scenario:
    ref = resources.files("drs_operator") / "data" / "demo-scenario.yaml"
    with resources.as_file(ref) as path:
        return Scenario.from_file(path)


def _describe(scenario: Scenario) -> str:
    """The accepted credentials, secrets hidden: identities only."""
    parts = []
    for token in scenario.tokens:
        parts.append(f"a token for project {token.project_id or '(any)'}")
    for user in scenario.users:
        parts.append(f"IAM user {user.name}@{user.domain} for project {user.project_id}")
    for key in scenario.access_keys:
        temporary = " (temporary, with a security token)" if key.security_token else ""
        parts.append(f"AK/SK with access key {key.access_key}{temporary}")
    if not parts:
        return "no credentials (add some with POST /_sim/tokens)"
    return "; ".join(parts) + " (--show-credentials prints them in full)"


def credential_lines(scenario: Scenario, url: str, job_id: str | None) -> list[str]:
    """Every accepted credential in full, each with a query command that uses it."""
    job = job_id or "JOB_ID"
    lines = ["Accepted credentials (test values; use them only with this simulator):"]
    for token in scenario.tokens:
        project = token.project_id or "ANY_PROJECT"
        lines += [
            f"  token     {token.token} (project {token.project_id or 'any'})",
            f"            drs-operator query {job} --endpoint {url} --project-id {project} "
            f"--token {token.token}",
        ]
    for user in scenario.users:
        lines += [
            f"  password  user {user.name}, password {user.password}, domain {user.domain} "
            f"(project {user.project_id})",
            f"            drs-operator query {job} --endpoint {url} --iam-endpoint {url} "
            f"--project-id {user.project_id} --username {user.name} "
            f"--password {user.password} --domain {user.domain}",
        ]
    project = next((t.project_id for t in scenario.tokens if t.project_id), None) or next(
        (u.project_id for u in scenario.users), "PROJECT_ID"
    )
    for key in scenario.access_keys:
        security = f" --security-token {key.security_token}" if key.security_token else ""
        lines += [
            f"  AK/SK     access key {key.access_key}, secret key {key.secret_key}"
            + (f", security token {key.security_token}" if key.security_token else ""),
            f"            drs-operator query {job} --endpoint {url} --project-id {project} "
            f"--access-key {key.access_key} --secret-key {key.secret_key}{security}",
        ]
    return lines


def job_lines(jobs: list[dict[str, object]]) -> list[str]:
    """The jobs as a table: ID, status, name."""
    rows = [("ID", "STATUS", "NAME")]
    rows += [(str(j["id"]), str(j.get("status") or ""), str(j.get("name") or "")) for j in jobs]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"{a:{widths[0]}}   {b:{widths[1]}}   {c}".rstrip() for a, b, c in rows]


def execute(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be between 0 and 65535, got {args.port}")
    if bool(args.tls_cert) != bool(args.tls_key):
        return _fail("--tls-cert and --tls-key go together")
    try:
        scenario = Scenario.from_file(args.scenario) if args.scenario else _default_scenario()
    except ScenarioError as exc:
        return _fail(str(exc))
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(Path(args.tls_cert), Path(args.tls_key))
        except (OSError, ssl.SSLError) as exc:
            reason = " ".join(str(exc).split())
            return _fail(
                f"cannot load the TLS certificate {args.tls_cert} or key {args.tls_key}: {reason}"
            )
    simulator = Simulator(scenario=scenario, seed=args.seed)
    if args.mixed_missing:
        simulator.mixed_missing = args.mixed_missing
    if args.list:
        for line in job_lines(simulator.job_summaries()):
            print(line)
        return 0
    return asyncio.run(_serve(simulator, args, scenario, context))


async def _serve(
    simulator: Simulator,
    args: argparse.Namespace,
    scenario: Scenario,
    context: ssl.SSLContext | None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        url = await simulator.start(host=args.host, port=args.port, ssl_context=context)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    ids = simulator.job_ids()
    print(
        f"DRS simulator listening on {url} (DRS and IAM; admin API under /_sim, "
        f"GET {url}/_sim/jobs lists the jobs): {len(ids)} jobs; accepting {_describe(scenario)}",
        flush=True,
    )
    if args.show_credentials:
        print("\n".join(credential_lines(scenario, url, ids[0] if ids else None)), flush=True)
    try:
        await stop.wait()
    finally:
        await simulator.stop()
    return 0
