"""``drs-operator import ID...``: DrsJob manifests for DRS tasks that exist already.

One batch-detail pass (batches of ``--batch-size``, credentials from the flags
and ``DRS_*`` variables as for ``query``), then one DrsJob per found task on
stdout, multi-document YAML, ready to commit:

* ``metadata.name`` from the task's name made DNS-1123-safe (lower case,
  other characters as ``-``, at most 63); a name two tasks would share gets
  ``-`` and the first five characters of its job ID (the first task in input
  order keeps the plain name), so the output does not depend on DRS's order;
* ``metadata.namespace`` from ``--namespace``, ``spec.credentialsRef`` from
  ``--credentials-ref`` (both left out when not given);
* ``spec.expect`` from what the task is now (``--expect``): ``identity`` (the
  default) declares its name, type, direction and the endpoints' type,
  address, port, instance, region, project, user and database; ``all`` also
  its current phase; ``none`` nothing.

IDs come from the arguments, ``--ids-from FILE`` or ``--ids-from -`` (stdin;
one per line, ``#`` comments and blank lines ignored); duplicates count once.
Exit codes: 0 every ID found; 1 an ID not found (named on stderr, the found
ones still printed) or DRS failed; 2 bad input (a malformed ID, named on
stderr: the valid ones are still imported, no flags or credentials).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from typing import Any, Final

import yaml

from drs_operator import GROUP, KIND, VERSION
from drs_operator.cli.drsflags import (
    InputError,
    Outcome,
    add_flags,
    ask,
    credentials_from,
    open_client,
    verify_from,
)
from drs_operator.domain.batching import chunks
from drs_operator.domain.drift import ENDPOINT_KEYS
from drs_operator.domain.formats import dns_name, is_dns1123_subdomain, is_job_id
from drs_operator.domain.phases import phase_of
from drs_operator.domain.taskfields import task_fields
from drs_operator.drs.errors import DrsError
from drs_operator.drs.models import JobDetail

__all__ = ["EPILOG", "configure", "execute", "manifests"]

PROG: Final = "drs-operator import"
IDENTITY: Final = ("jobName", "taskType", "jobDirection")
MAX_NAME: Final = 63

EPILOG = """\
example:
  drs-operator import --ids-from tasks.txt -n data --credentials-ref drs-credentials > drs-jobs.yaml
  drs-operator plan -f drs-jobs.yaml --detailed-exitcode      # all in sync"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="DRS task IDs")
    parser.add_argument(
        "--ids-from", default=None, metavar="FILE",
        help="read task IDs from FILE (- for stdin), one per line",
    )  # fmt: skip
    parser.add_argument("-n", "--namespace", default=None, metavar="NS", help="metadata.namespace")
    parser.add_argument(
        "--credentials-ref", default=None, metavar="NAME", help="spec.credentialsRef.name"
    )
    parser.add_argument(
        "--expect", choices=("none", "identity", "all"), default="identity",
        help="what spec.expect declares (default: identity)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=10, metavar="N", help="job IDs per call (default 10)"
    )
    add_flags(parser)


def _read_ids(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The valid IDs (in order, once each) and the malformed ones."""
    words: list[str] = [str(w) for w in args.job_ids]
    if args.ids_from:
        try:
            text = sys.stdin.read() if args.ids_from == "-" else open(args.ids_from).read()
        except OSError as exc:
            raise InputError(f"--ids-from {args.ids_from}: {exc.strerror or exc}") from None
        for line in text.splitlines():
            word = line.split("#", 1)[0].strip()
            if word:
                words.append(word)
    good = [w for w in dict.fromkeys(w.strip() for w in words) if is_job_id(w)]
    bad = [w for w in dict.fromkeys(w.strip() for w in words) if w and not is_job_id(w)]
    return good, bad


def names(jobs: Iterable[JobDetail]) -> dict[str, str]:
    """A DNS-1123 name per job ID; collisions suffixed with the ID's start, in input order."""
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    for job in jobs:
        base = dns_name(job.name, fallback="drsjob", limit=MAX_NAME)
        name = base
        if name in taken:
            name = f"{base[: MAX_NAME - 6]}-{job.id[:5]}"
        counter = 2
        while name in taken:
            name = f"{base[: MAX_NAME - 8]}-{job.id[:5]}{counter}"
            counter += 1
        taken.add(name)
        chosen[job.id] = name
    return chosen


def expectation(job: JobDetail, level: str) -> dict[str, Any] | None:
    """``spec.expect`` declaring what the task is now (None for ``none``)."""
    if level == "none":
        return None
    fields = task_fields(job)
    expect: dict[str, Any] = {k: fields[k] for k in IDENTITY if k in fields}
    for side in ("sourceEndpoint", "targetEndpoint"):
        endpoint = fields.get(side) or {}
        declared = {k: endpoint[k] for k in ENDPOINT_KEYS if k in endpoint}
        if declared:
            expect[side] = declared
    if level == "all":
        expect["phases"] = [phase_of(job.status)]
    return expect or None


def manifests(
    jobs: list[JobDetail],
    *,
    namespace: str | None,
    credentials_ref: str | None,
    expect: str,
) -> list[dict[str, Any]]:
    """One DrsJob per job, in the order given."""
    chosen = names(jobs)
    out = []
    for job in jobs:
        meta: dict[str, Any] = {"name": chosen[job.id]}
        if namespace:
            meta["namespace"] = namespace
        spec: dict[str, Any] = {"jobId": job.id}
        if credentials_ref:
            spec["credentialsRef"] = {"name": credentials_ref}
        declared = expectation(job, expect)
        if declared:
            spec["expect"] = declared
        out.append({"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": meta,
                    "spec": spec})  # fmt: skip
    return out


async def _fetch(args: argparse.Namespace, ids: list[str]) -> tuple[list[JobDetail], list[str]]:
    """The jobs DRS returned, in the order asked, and one line per ID it did not return."""
    credentials = credentials_from(args)
    verify = verify_from(args, prog=PROG)
    found: dict[str, JobDetail] = {}
    problems: list[str] = []
    async with open_client(credentials, verify=verify, seconds=args.timeout) as client:
        for batch in chunks(ids, size=args.batch_size):
            outcome = await ask(client, batch)
            found.update(outcome.jobs)
            problems += [
                _problem(job_id, outcome) for job_id in batch if job_id not in outcome.jobs
            ]
    return [found[i] for i in ids if i in found], problems


def _problem(job_id: str, outcome: Outcome) -> str:
    """Why no manifest for ``job_id``: not found, another error DRS named, or no answer."""
    if job_id in outcome.missing:
        return f"DRS task {job_id} not found"
    if job_id in outcome.errors:
        code, message = outcome.errors[job_id]
        said = ": ".join(part for part in (code, message) if part) or "an error"
        return f"DRS task {job_id}: {said}"
    return f"DRS task {job_id}: DRS did not answer for it (asked again, still nothing)"


def execute(args: argparse.Namespace) -> int:
    try:
        if not 1 <= args.batch_size <= 100:
            raise InputError("--batch-size must be between 1 and 100")
        if args.namespace and not is_dns1123_subdomain(args.namespace):
            raise InputError(f"--namespace: not a Kubernetes name: {args.namespace!r}")
        if args.credentials_ref and not is_dns1123_subdomain(args.credentials_ref):
            raise InputError(f"--credentials-ref: not a Secret name: {args.credentials_ref!r}")
        ids, bad = _read_ids(args)
        for word in bad:
            shown = word if len(word) <= 80 else word[:77] + "..."
            print(f"{PROG}: error: not a DRS job ID: {shown!r}", file=sys.stderr)
        if not ids:
            raise InputError("no job IDs (give them as arguments or with --ids-from)")
        jobs, problems = asyncio.run(_fetch(args, ids))
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (DrsError, ValueError) as exc:
        text = exc.describe() if isinstance(exc, DrsError) else str(exc)
        print(f"{PROG}: error: {text}", file=sys.stderr)
        return 1
    documents = manifests(
        jobs, namespace=args.namespace, credentials_ref=args.credentials_ref, expect=args.expect
    )
    if documents:
        sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False))
    for problem in problems:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    if problems:
        return 1
    return 2 if bad else 0
