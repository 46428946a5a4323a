"""``drs-operator query``: one batch-detail call, printed as redacted JSON.

For checking credentials and endpoints by hand::

    DRS_REGION=ap-southeast-1 DRS_PROJECT_ID=... DRS_TOKEN=... drs-operator query JOB_ID...

The connection flags and their ``DRS_*`` variables are
:mod:`drs_operator.cli.drsflags`'s (shared with ``plan`` and ``import``).
Prefer the environment for secrets: flags are visible in the process list.

Output (stdout, one JSON document)::

    {"count": N, "jobs": [...], "errors": {id: {"code", "message"}},
     "missing": [id, ...], "unanswered": [...], "requestId": "..."}

Every ID gets its outcome: found jobs are printed even when others are
missing (a batch DRS refuses as a whole because of one missing ID is split,
:func:`ask`), and the missing ones are named on stderr. It is redacted by
construction: the job models do not declare any secret field. Exit codes: 0
every job found; 1 an ID not found (the JSON is printed, then one line on
stderr naming the missing IDs), or the call failed (one line on stderr with
the error's description and cause, e.g. ``DNS lookup failed``); 2 bad input
(one line ``drs-operator query: error: ...`` naming the flag or variable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from typing import Any

from drs_operator.cli.drsflags import (
    ENVIRONMENT,
    InputError,
    Outcome,
    add_flags,
    ask,
    credentials_from,
    flag_wording,
    open_client,
    verify_from,
)
from drs_operator.domain.credentials import Credentials
from drs_operator.domain.formats import is_job_id
from drs_operator.drs import endpoints
from drs_operator.drs.errors import DrsError

__all__ = ["ENVIRONMENT", "configure", "execute"]

PROG = "drs-operator query"


EPILOG = """\
Every job ID gets its outcome: the JSON on stdout holds the found jobs, and the
missing IDs are named on stderr (exit 1). Prefer the DRS_* variables for secrets:
flags are visible in the process list. `drs-operator simulate --show-credentials`
prints commands that work against the simulator."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="DRS task IDs")
    add_flags(parser)


def _job_ids(args: argparse.Namespace) -> list[str]:
    ids = [str(job_id).strip() for job_id in args.job_ids]
    bad = [job_id for job_id in ids if not is_job_id(job_id)]
    if bad:
        raise InputError(
            f"not a DRS job ID: {bad[0]!r} (36 characters, UUID layout, lower-case a-z0-9)"
        )
    return list(dict.fromkeys(ids))


def _render(outcome: Outcome, ids: list[str]) -> dict[str, Any]:
    return {
        "count": len(outcome.jobs) + len(outcome.errors),
        "jobs": [
            outcome.jobs[job_id].model_dump(mode="json", exclude_none=True)
            for job_id in ids
            if job_id in outcome.jobs
        ],
        "errors": {
            job_id: {"code": code, "message": message}
            for job_id, (code, message) in outcome.errors.items()
        },
        "missing": [job_id for job_id in ids if job_id in outcome.missing],
        "unanswered": list(outcome.unanswered),
        "requestId": outcome.request_id,
    }


def describe_missing(outcome: Outcome, ids: list[str]) -> str:
    """One line naming every missing ID, with DRS's code, message and request ID."""
    missing = [job_id for job_id in ids if job_id in outcome.missing]
    code, message = outcome.errors[missing[0]]
    request = outcome.missing[missing[0]]
    detail = "; ".join(
        part
        for part in (
            f"{code}: {message}" if code else message,
            f"request {request}" if request else None,
        )
        if part
    )
    return f"{len(missing)} of {len(ids)} job IDs not found in DRS: {', '.join(missing)}" + (
        f" ({detail})" if detail else ""
    )


async def _query(
    *, credentials: Credentials, ids: list[str], verify: bool | ssl.SSLContext, seconds: float
) -> Outcome:
    async with open_client(credentials, verify=verify, seconds=seconds) as client:
        return await ask(client, ids)


def execute(args: argparse.Namespace) -> int:
    try:
        ids = _job_ids(args)
        if not args.timeout > 0:
            raise InputError("--timeout must be a positive number of seconds")
        credentials = credentials_from(args)
        try:
            endpoints.resolve(credentials.endpoint, credentials.region, "drs")
            if credentials.mode == "password":
                endpoints.resolve(credentials.iam_endpoint, credentials.region, "iam")
        except ValueError as error:
            raise InputError(flag_wording(str(error))) from None
        verify = verify_from(args, prog=PROG)
    except InputError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(
            _query(credentials=credentials, ids=ids, verify=verify, seconds=args.timeout)
        )
    except DrsError as error:
        text = error.describe()
        if "DNS lookup failed" in text and not credentials.endpoint and credentials.region:
            text += f" (is {credentials.region!r} a region of this cloud?)"
        print(f"{PROG}: error: {text}", file=sys.stderr)
        return 1
    print(json.dumps(_render(outcome, ids), indent=2, sort_keys=False))
    if outcome.missing:
        print(f"{PROG}: error: {describe_missing(outcome, ids)}", file=sys.stderr)
        return 1
    return 0
