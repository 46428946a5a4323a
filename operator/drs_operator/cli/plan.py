"""``drs-operator plan -f PATH...``: DrsJob manifests checked against the cloud, before merging.

Reads files, folders (recursively: ``*.yaml``, ``*.yml``, ``*.json``) or ``-``
(stdin, e.g. ``kustomize build | drs-operator plan -f -``), multi-document;
documents of other kinds are skipped. Each DrsJob is checked offline as the
API server would check it (:func:`drs_operator.domain.manifests.manifest_errors`),
then the valid ones are resolved through batch-detail, grouped by connection
as the operator groups them (endpoint, project, credentials) and cut into
batches of ``--batch-size``, with the same client code. Credentials come from
the flags and ``DRS_*`` variables as for ``query``, or, with ``--kubeconfig``,
from each DrsJob's own Secret read by name in its namespace. A ``spec.endpoint``
is honoured only as the operator honours it (``--allowed-endpoint-hosts``).

Each DrsJob gets one result: ``in-sync``, ``modified`` (with one
``field: expected -> observed`` line per difference), ``not-found``,
``not-checked`` (found, but ``spec.expect`` declares nothing), ``invalid``
(with every reason, its file and document index) or ``error`` (its
credentials or DRS failed). Secrets are never printed.

``-o json`` prints one object (:data:`JSON_VERSION`)::

    {"version": 1,
     "summary": {"in-sync": N, "modified": N, "not-found": N, "not-checked": N,
                 "invalid": N, "error": N, "skipped": N},
     "drsJobs": [{"source": "path#doc", "namespace": ..., "name": ..., "jobId": ...,
                  "result": ..., "differences": [{"field", "expected", "observed"}],
                  "errors": [...]}],
     "problems": ["path:line: what is wrong", ...]}

Exit codes: 0 the plan was made (whatever it found); 1 a runtime error (a DRS
call or the cluster failed for some DrsJob); 2 bad input (a manifest invalid,
a file unreadable, no credentials). With ``--detailed-exitcode``: 0 every
DrsJob in sync (or nothing declared), 2 any drift, missing task or invalid
manifest, 1 an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from drs_operator import GROUP, KIND
from drs_operator.cli.drsflags import (
    NO_CREDENTIALS,
    SOURCE_NAME,
    InputError,
    add_flags,
    ask,
    flag_values,
    flag_wording,
    has_auth,
    open_client,
    verify_from,
)
from drs_operator.domain.batching import plan_batches
from drs_operator.domain.credentials import (
    Credentials,
    CredentialsError,
    decode_secret_data,
    parse_credentials,
)
from drs_operator.domain.endpoint_policy import (
    OFFICIAL_DRS_HOSTS,
    EndpointPolicy,
    check_override,
    parse_patterns,
)
from drs_operator.domain.manifests import manifest_errors
from drs_operator.domain.mapping import compute_status
from drs_operator.domain.observations import Observed
from drs_operator.domain.spec import JobSpec, parse_spec
from drs_operator.drs.errors import DrsError
from drs_operator.drs.text import one_line
from drs_operator.engine.kubeconfig import KubeconfigError

__all__ = ["EPILOG", "configure", "execute"]

PROG: Final = "drs-operator plan"
JSON_VERSION: Final = 1
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
SUFFIXES: Final = (".yaml", ".yml", ".json")
RESULTS: Final = ("in-sync", "modified", "not-found", "not-checked", "invalid", "error")
SYMBOLS: Final = {
    "in-sync": "=", "modified": "~", "not-found": "-", "not-checked": "?",
    "invalid": "!", "error": "!",
}  # fmt: skip

EPILOG = """\
examples:
  kustomize build overlays/prod | drs-operator plan -f - --detailed-exitcode
  drs-operator plan -f drs-jobs/ --kubeconfig ~/.kube/config -o json

Lines: '=' in sync, '~' modified (one '~ field: expected -> observed' line per
difference), '-' not found, '?' not checked (spec.expect declares nothing),
'!' invalid or error. With --detailed-exitcode: 0 all in sync, 2 drift, a missing
task or an invalid manifest, 1 an error."""


@dataclass
class Item:
    """One DrsJob of the input, and what the plan found for it."""

    source: str  # "path#document" (documents counted from 1)
    namespace: str
    name: str
    job_id: str | None = None
    spec: JobSpec | None = None
    result: str = ""
    differences: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "namespace": self.namespace,
            "name": self.name,
            "jobId": self.job_id,
            "result": self.result,
            "differences": self.differences,
            "errors": self.errors,
        }


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f", "--filename", dest="paths", action="append", required=True, metavar="PATH",
        help="a file, a folder (read recursively) or - for stdin; repeatable",
    )  # fmt: skip
    parser.add_argument(
        "-n", "--namespace", default="default", metavar="NS",
        help="namespace of manifests that name none (default: default)",
    )  # fmt: skip
    parser.add_argument(
        "--kubeconfig", default=None, metavar="FILE",
        help="read each DrsJob's credentials Secret from this cluster (instead of the flags)",
    )  # fmt: skip
    parser.add_argument("--context", default=None, metavar="NAME", help="kubeconfig context")
    parser.add_argument(
        "--default-credentials", default="drs-credentials", metavar="NAME",
        help="Secret of DrsJobs without spec.credentialsRef (default: drs-credentials)",
    )  # fmt: skip
    parser.add_argument(
        "--allowed-endpoint-hosts", default=",".join(OFFICIAL_DRS_HOSTS), metavar="PATTERNS",
        help="hosts spec.endpoint may name besides the credentials' own endpoint, as for "
        "drs-operator run (default: the vendor's DRS hosts)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=10, metavar="N", help="job IDs per call (default 10)"
    )
    parser.add_argument(
        "--detailed-exitcode", action="store_true",
        help="exit 2 when anything differs, is missing or is invalid; 0 only when all is in sync",
    )  # fmt: skip
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text (default) or json"
    )
    add_flags(parser)


# --- reading ----------------------------------------------------------------------------------


def _files(path: str) -> Iterator[tuple[str, str | None, str | None]]:
    """``(source name, text or None, error or None)`` for a path argument."""
    if path == "-":
        yield "-", sys.stdin.read(MAX_FILE_BYTES + 1), None
        return
    root = Path(path)
    if root.is_dir():
        found = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        for file in found:
            yield from _files(str(file))
        return
    try:
        if root.stat().st_size > MAX_FILE_BYTES:
            yield path, None, f"larger than the {MAX_FILE_BYTES // 2**20} MB a file may be"
            return
        yield path, root.read_text(encoding="utf-8"), None
    except FileNotFoundError:
        yield path, None, "no such file or folder"
    except (OSError, UnicodeDecodeError) as exc:
        yield path, None, f"cannot read: {type(exc).__name__}"


def read_items(paths: list[str], *, namespace: str, default_credentials: str) -> tuple[
    list[Item], list[str], int
]:  # fmt: skip
    """The DrsJobs of the inputs, the input problems (one line each), the skipped documents."""
    items: list[Item] = []
    problems: list[str] = []
    skipped = 0
    for path in paths:
        for source, text, error in _files(path):
            if error or text is None:
                problems.append(f"{source}: {error}")
                continue
            if len(text) > MAX_FILE_BYTES:
                problems.append(f"{source}: larger than the {MAX_FILE_BYTES // 2**20} MB cap")
                continue
            try:
                documents = [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f":{mark.line + 1}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or type(exc).__name__
                problems.append(f"{source}{where}: not valid YAML ({problem})")
                continue
            for index, doc in enumerate(documents, start=1):
                origin = f"{source}#{index}"
                if not isinstance(doc, Mapping):
                    problems.append(f"{origin}: not a Kubernetes object (a {type(doc).__name__})")
                    continue
                api = str(doc.get("apiVersion") or "")
                if doc.get("kind") != KIND or api.split("/")[0] != GROUP:
                    skipped += 1
                    continue
                items.append(_item(origin, doc, namespace, default_credentials))
    return items, problems, skipped


def _item(origin: str, doc: Mapping[str, Any], namespace: str, default: str) -> Item:
    meta: Mapping[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), Mapping) else {}
    spec: Mapping[str, Any] = doc["spec"] if isinstance(doc.get("spec"), Mapping) else {}
    item = Item(
        source=origin,
        namespace=str(meta.get("namespace") or namespace),
        name=one_line(meta.get("name"), 253) or "<no name>",
        job_id=spec.get("jobId") if isinstance(spec.get("jobId"), str) else None,
    )
    errors = manifest_errors(dict(doc), default_credentials=default)
    if errors:
        item.result, item.errors = "invalid", [one_line(e, 400) or e for e in errors]
    else:
        item.spec = parse_spec(spec, default_credentials=default)
    return item


# --- resolving --------------------------------------------------------------------------------


async def _secret_values(
    items: list[Item], *, kubeconfig: str | None, context: str | None
) -> dict[tuple[str, str], dict[str, str] | str]:
    """Each (namespace, Secret) the items name: decoded values, or a one-line error."""
    from drs_operator.engine.kube import KubeApi, KubeError

    wanted = {(i.namespace, i.spec.credentials_name) for i in items if i.spec is not None}
    found: dict[tuple[str, str], dict[str, str] | str] = {}
    async with KubeApi.from_environment(kubeconfig=kubeconfig, context=context) as kube:
        for namespace, name in sorted(wanted):
            try:
                secret = await kube.get_secret(namespace, name)
            except KubeError as exc:
                found[(namespace, name)] = f"Secret {namespace}/{name} could not be read: {exc}"
                continue
            if secret is None:
                found[(namespace, name)] = f"Secret {namespace}/{name} not found"
                continue
            try:
                found[(namespace, name)] = decode_secret_data(
                    secret.get("data") or {}, secret_name=f"{namespace}/{name}"
                )
            except CredentialsError as exc:
                found[(namespace, name)] = str(exc)
    return found


def _credentials(
    item: Item,
    *,
    values: Mapping[str, str],
    secret_name: str,
    policy: EndpointPolicy,
) -> Credentials:
    """The item's credentials with its spec's overrides; CredentialsError says why not."""
    assert item.spec is not None
    spec = item.spec
    check_override(
        spec_endpoint=spec.endpoint, spec_region=spec.region, secret_values=values, policy=policy
    )
    return parse_credentials(
        values,
        secret_name=secret_name,
        project_id=spec.project_id,
        region=spec.region,
        endpoint=spec.endpoint,
    )


async def resolve(items: list[Item], args: argparse.Namespace) -> None:
    """Set every valid item's result: one batch-detail pass per connection."""
    try:
        policy = EndpointPolicy(parse_patterns(args.allowed_endpoint_hosts))
    except ValueError as exc:
        raise InputError(f"--allowed-endpoint-hosts: {exc}") from None
    verify = verify_from(args, prog=PROG)
    valid = [i for i in items if i.spec is not None]
    secrets: dict[tuple[str, str], dict[str, str] | str] = {}
    if args.kubeconfig:
        secrets = await _secret_values(valid, kubeconfig=args.kubeconfig, context=args.context)
    else:
        flags = flag_values(args)
        if not has_auth(flags):
            raise InputError(f"{NO_CREDENTIALS}, or --kubeconfig")
    groups: dict[Credentials, tuple[Credentials, list[Item]]] = {}
    for item in valid:
        assert item.spec is not None
        if args.kubeconfig:
            key = (item.namespace, item.spec.credentials_name)
            values = secrets[key]
            name = f"{key[0]}/{key[1]}"
            if isinstance(values, str):
                item.result, item.errors = "error", [values]
                continue
        else:
            values, name = flags, SOURCE_NAME
        try:
            credentials = _credentials(item, values=values, secret_name=name, policy=policy)
        except CredentialsError as exc:
            message = str(exc)
            if message.startswith(f"Secret {SOURCE_NAME}"):
                message = flag_wording(message)
            item.result, item.errors = "error", [f"{exc.reason}: {message}"]
            continue
        groups.setdefault(credentials, (credentials, []))[1].append(item)
    for credentials, members in groups.values():
        await _resolve_group(credentials, members, args=args, verify=verify)


async def _resolve_group(
    credentials: Credentials, members: list[Item], *, args: argparse.Namespace, verify: Any
) -> None:
    by_id: dict[str, list[Item]] = {}
    for item in members:
        assert item.spec is not None
        by_id.setdefault(item.spec.job_id, []).append(item)
    batches = plan_batches([(0, job_id) for job_id in by_id], batch_size=args.batch_size)
    now = datetime.now(UTC)
    try:
        async with open_client(credentials, verify=verify, seconds=args.timeout) as client:
            for batch in batches:
                outcome = await ask(client, list(batch.job_ids))
                for job_id in batch.job_ids:
                    for item in by_id[job_id]:
                        _judge(item, outcome, job_id, now)
    except (DrsError, ValueError) as exc:
        text = exc.describe() if isinstance(exc, DrsError) else f"endpoint: {exc}"
        for item in members:
            if not item.result:
                item.result, item.errors = "error", [text]


def _judge(item: Item, outcome: Any, job_id: str, now: datetime) -> None:
    assert item.spec is not None
    expect = item.spec.expect
    if job_id in outcome.jobs:
        status = compute_status(
            current=None, observation=Observed(outcome.jobs[job_id]), generation=1, now=now,
            expect=expect,
        )  # fmt: skip
        drift = status.get("drift")
        if drift is None:
            item.result = "not-checked"
        elif drift["state"] == "Modified":
            item.result, item.differences = "modified", list(drift.get("differences") or [])
        else:
            item.result = "in-sync"
    elif job_id in outcome.missing:
        item.result = "not-found"
    elif job_id in outcome.errors:
        code, message = outcome.errors[job_id]
        item.result, item.errors = "error", [f"DRS: {message or code}"]
    else:
        item.result, item.errors = "not-found", ["DRS returned no record for this task"]


# --- output -----------------------------------------------------------------------------------


def render_text(items: list[Item], problems: list[str], skipped: int) -> str:
    lines = []
    for item in items:
        who = f"{item.namespace}/{item.name}"
        job = f" ({item.job_id})" if item.job_id else ""
        lines.append(f"{SYMBOLS[item.result]} {who}{job}: {item.result.replace('-', ' ')}")
        for d in item.differences:
            lines.append(f"    ~ {d['field']}: {d['expected']} -> {d['observed']}")
        for error in item.errors:
            lines.append(f"    {item.source}: {error}")
    lines += [f"! {problem}" for problem in problems]
    lines.append(summary_line(items, problems, skipped))
    return "\n".join(lines) + "\n"


def summary(items: list[Item], problems: list[str], skipped: int) -> dict[str, int]:
    counts = {result: sum(1 for i in items if i.result == result) for result in RESULTS}
    counts["invalid"] += len(problems)
    counts["skipped"] = skipped
    return counts


def summary_line(items: list[Item], problems: list[str], skipped: int) -> str:
    counts = summary(items, problems, skipped)
    shown = ", ".join(f"{n} {r.replace('-', ' ')}" for r, n in counts.items() if n)
    return f"Plan: {len(items)} DrsJobs" + (f"; {shown}." if shown else ".")


def exit_code(items: list[Item], problems: list[str], *, detailed: bool) -> int:
    results = {i.result for i in items}
    if "error" in results:
        return 1
    if problems or "invalid" in results:
        return 2
    if detailed and results & {"modified", "not-found"}:
        return 2
    return 0


def execute(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= 100:
        print(f"{PROG}: error: --batch-size must be between 1 and 100", file=sys.stderr)
        return 2
    items, problems, skipped = read_items(
        args.paths, namespace=args.namespace, default_credentials=args.default_credentials
    )
    try:
        if any(i.spec is not None for i in items):
            asyncio.run(resolve(items, args))
    except (InputError, KubeconfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the cluster, a kubeconfig: one line, no traceback
        print(f"{PROG}: error: {type(exc).__name__}: {one_line(str(exc), 300)}", file=sys.stderr)
        return 1
    if args.output == "json":
        document = {
            "version": JSON_VERSION,
            "summary": summary(items, problems, skipped),
            "drsJobs": [i.json() for i in items],
            "problems": problems,
        }
        print(json.dumps(document, indent=2))
    else:
        sys.stdout.write(render_text(items, problems, skipped))
    return exit_code(items, problems, detailed=args.detailed_exitcode)
