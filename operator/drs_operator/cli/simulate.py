"""``drs-operator simulate``: run the DRS simulator server until SIGINT/SIGTERM.

Prints one line with the URL and a summary of the credentials it accepts
(values only with ``--show-credentials``: they are test credentials, but
still credentials). Without ``--scenario`` it serves the bundled demo
scenario. Exit codes: 0 after a signal, 1 when it cannot listen, 2 for a bad
scenario file or bad flags.
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
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free one)")
    parser.add_argument(
        "--scenario", metavar="FILE", help="YAML scenario (default: the bundled demo scenario)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for generated data and faults")
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
        help="print the accepted test credentials' values",
    )


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code


def _default_scenario() -> Scenario:
    ref = resources.files("drs_operator") / "data" / "demo-scenario.yaml"
    with resources.as_file(ref) as path:
        return Scenario.from_file(path)


def _describe(scenario: Scenario, *, show: bool) -> str:
    parts = []
    for token in scenario.tokens:
        value = f" {token.token}" if show else ""
        parts.append(f"token{value} for project {token.project_id or '(any)'}")
    for user in scenario.users:
        secret = f" password {user.password}" if show else ""
        parts.append(f"IAM user {user.name}@{user.domain}{secret} for project {user.project_id}")
    for key in scenario.access_keys:
        value = f" {key.access_key} secret {key.secret_key}" if show else ""
        temporary = " (temporary, with security token)" if key.security_token else ""
        parts.append(f"AK/SK access key{value}{temporary}")
    return "; ".join(parts) if parts else "no credentials (add some with POST /_sim/tokens)"


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
    credentials = _describe(scenario, show=args.show_credentials)
    jobs = len(simulator.job_ids())
    print(
        f"DRS simulator listening on {url} (DRS and IAM; admin API under /_sim): "
        f"{jobs} jobs; accepting {credentials}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await simulator.stop()
    return 0
