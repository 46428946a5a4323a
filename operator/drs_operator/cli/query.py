"""``drs-operator query``: one batch-detail call, printed as redacted JSON.

For checking credentials and endpoints by hand::

    DRS_REGION=ap-southeast-1 DRS_PROJECT_ID=... DRS_TOKEN=... drs-operator query JOB_ID...

Every connection setting is a flag or an environment variable (the flag
wins): ``--endpoint``/``DRS_ENDPOINT``, ``--iam-endpoint``/``DRS_IAM_ENDPOINT``,
``--region``/``DRS_REGION``, ``--project-id``/``DRS_PROJECT_ID``, and one of
``--token``/``DRS_TOKEN``; ``--access-key``/``DRS_ACCESS_KEY`` +
``--secret-key``/``DRS_SECRET_KEY`` (+ ``--security-token``/``DRS_SECURITY_TOKEN``);
``--username``/``DRS_USERNAME`` + ``--password``/``DRS_PASSWORD`` +
``--domain``/``DRS_DOMAIN``. Prefer the environment for secrets: flags are
visible in the process list.

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
import os
import re
import ssl
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from drs_operator.domain.credentials import (
    KEY_ACCESS_KEY,
    KEY_DOMAIN,
    KEY_ENDPOINT,
    KEY_IAM_ENDPOINT,
    KEY_PASSWORD,
    KEY_PROJECT_ID,
    KEY_REGION,
    KEY_SECRET_KEY,
    KEY_SECURITY_TOKEN,
    KEY_TOKEN,
    KEY_USERNAME,
    Credentials,
    CredentialsError,
    parse_credentials,
)
from drs_operator.domain.formats import JOB_ID_PATTERN
from drs_operator.drs import endpoints
from drs_operator.drs.auth import build_auth
from drs_operator.drs.classify import BatchDetailResult
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import NOT_FOUND_CODES, DrsError, DrsNotFoundError
from drs_operator.drs.models import JobDetail

__all__ = ["ENVIRONMENT", "configure", "execute"]

PROG = "drs-operator query"
SOURCE_NAME = "(flags/environment)"
DEFAULT_TIMEOUT = 10.0
INSECURE_WARNING = f"{PROG}: warning: TLS certificate verification is disabled (--insecure)"

_JOB_ID_RE = re.compile(JOB_ID_PATTERN)

# argparse dest -> (environment variable, credentials key)
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "endpoint": ("DRS_ENDPOINT", KEY_ENDPOINT),
    "iam_endpoint": ("DRS_IAM_ENDPOINT", KEY_IAM_ENDPOINT),
    "region": ("DRS_REGION", KEY_REGION),
    "project_id": ("DRS_PROJECT_ID", KEY_PROJECT_ID),
    "token": ("DRS_TOKEN", KEY_TOKEN),
    "access_key": ("DRS_ACCESS_KEY", KEY_ACCESS_KEY),
    "secret_key": ("DRS_SECRET_KEY", KEY_SECRET_KEY),
    "security_token": ("DRS_SECURITY_TOKEN", KEY_SECURITY_TOKEN),
    "username": ("DRS_USERNAME", KEY_USERNAME),
    "password": ("DRS_PASSWORD", KEY_PASSWORD),
    "domain": ("DRS_DOMAIN", KEY_DOMAIN),
}


EPILOG = """\
Every job ID gets its outcome: the JSON on stdout holds the found jobs, and the
missing IDs are named on stderr (exit 1). Prefer the DRS_* variables for secrets:
flags are visible in the process list. `drs-operator simulate --show-credentials`
prints commands that work against the simulator."""


class _InputError(Exception):
    """Bad input: exit 2."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="DRS task IDs")
    helps = {
        "endpoint": "DRS endpoint URL (default: from the region)",
        "iam_endpoint": "IAM endpoint URL (default: from the region)",
        "region": "region, e.g. ap-southeast-1",
        "project_id": "project ID",
        "token": "a ready IAM token",
        "access_key": "access key (AK/SK signing)",
        "secret_key": "secret key (AK/SK signing)",
        "security_token": "security token of temporary AK/SK",
        "username": "IAM user name (password login)",
        "password": "IAM password (password login)",
        "domain": "IAM account (domain) name (password login)",
    }
    metavars = {
        "endpoint": "URL", "iam_endpoint": "URL", "region": "REGION", "project_id": "ID",
        "token": "TOKEN", "access_key": "KEY", "secret_key": "KEY", "security_token": "TOKEN",
        "username": "NAME", "password": "PASSWORD", "domain": "NAME",
    }  # fmt: skip
    for dest, (env, _) in ENVIRONMENT.items():
        flag = "--" + dest.replace("_", "-")
        parser.add_argument(
            flag, dest=dest, default=None, metavar=metavars[dest], help=f"{helps[dest]} (env {env})"
        )
    parser.add_argument(
        "--ca-bundle", default=None, metavar="FILE", help="PEM file of CA certificates to trust"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (testing only)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds per HTTP call (default {DEFAULT_TIMEOUT:g})",
    )


def _setting(args: argparse.Namespace, dest: str) -> str | None:
    value = getattr(args, dest, None)
    if value is None:
        value = os.environ.get(ENVIRONMENT[dest][0])
    if value is None or not value.strip():
        return None
    return str(value).strip()


def _job_ids(args: argparse.Namespace) -> list[str]:
    ids = [str(job_id).strip() for job_id in args.job_ids]
    bad = [job_id for job_id in ids if not _JOB_ID_RE.match(job_id)]
    if bad:
        raise _InputError(
            f"not a DRS job ID: {bad[0]!r} (36 characters, UUID layout, lower-case a-z0-9)"
        )
    return list(dict.fromkeys(ids))


def _credentials(args: argparse.Namespace) -> Credentials:
    settings = {dest: _setting(args, dest) for dest in ENVIRONMENT}
    if not settings["project_id"]:
        raise _InputError("a project ID is required (--project-id or DRS_PROJECT_ID)")
    if not settings["region"] and not settings["endpoint"]:
        raise _InputError("a region or an endpoint is required (--region/--endpoint)")
    has_aksk = settings["access_key"] or settings["secret_key"]
    has_password = settings["username"] or settings["password"] or settings["domain"]
    if not (settings["token"] or has_aksk or has_password):
        raise _InputError(
            "no credentials: give --token, or --access-key and --secret-key, "
            "or --username, --password and --domain (or their DRS_* variables)"
        )
    values = {key: value for dest, (_, key) in ENVIRONMENT.items() if (value := settings[dest])}
    try:
        return parse_credentials(values, secret_name=SOURCE_NAME)
    except CredentialsError as error:
        raise _InputError(flag_wording(str(error))) from None


def _flag(key: str) -> tuple[str, str]:
    """The flag and environment variable of a credentials key (``region`` → ``--region``)."""
    for dest, (env, known) in ENVIRONMENT.items():
        if known == key:
            return "--" + dest.replace("_", "-"), env
    raise KeyError(key)


_KEYS_RE = re.compile(r"\b(?:key )?(" + "|".join(key for _, key in ENVIRONMENT.values()) + r")\b")


def flag_wording(message: str) -> str:
    """A credentials error worded for flags, not a Secret: ``Secret (flags/environment): key
    token must be ...`` → ``--token (DRS_TOKEN) must be ...``."""
    message = message.removeprefix(f"Secret {SOURCE_NAME}: ")

    def name(match: re.Match[str]) -> str:
        flag, env = _flag(match.group(1))
        return f"{flag} ({env})" if match.group(0).startswith("key ") else flag

    return _KEYS_RE.sub(name, message)


def _verify(args: argparse.Namespace) -> bool | ssl.SSLContext:
    if args.insecure:
        print(INSECURE_WARNING, file=sys.stderr)
        return False
    if args.ca_bundle:
        try:
            return ssl.create_default_context(cafile=args.ca_bundle)
        except (OSError, ssl.SSLError) as error:
            raise _InputError(
                f"cannot load --ca-bundle {args.ca_bundle}: {error.strerror or 'invalid PEM'}"
            ) from None
    return True


@dataclass
class Outcome:
    """Per ID: found, answered with an error (not-found ones also in ``missing``), unanswered."""

    jobs: dict[str, JobDetail] = field(default_factory=dict)
    errors: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    missing: dict[str, str | None] = field(default_factory=dict)  # ID -> request ID
    unanswered: list[str] = field(default_factory=list)
    request_id: str | None = None

    def add(self, result: BatchDetailResult) -> None:
        self.jobs.update(result.jobs)
        for job_id, (code, message) in result.errors.items():
            self.errors[job_id] = (code, message)
            if code in NOT_FOUND_CODES:
                self.missing[job_id] = result.request_id
        self.unanswered += [i for i in result.unanswered if i not in self.unanswered]
        self.request_id = result.request_id or self.request_id

    def not_found(self, job_id: str, error: DrsNotFoundError) -> None:
        code, message = error.missing.get(job_id) or (error.code, error.api_message)
        self.errors[job_id] = (code, message)
        self.missing[job_id] = error.request_id
        self.request_id = error.request_id or self.request_id


async def ask(client: DrsClient, ids: list[str]) -> Outcome:
    """batch-detail for ``ids``; a not-found answer for several IDs is split to name them.

    DRS may answer a batch that mixes found and missing IDs with one error
    (``DRS.M00289``, HTTP 400) instead of per-item results: the IDs it names are
    missing, the others are asked again one at a time, so every found job is
    still printed. Any other error is raised.
    """
    outcome = Outcome()
    pending = [ids]
    while pending:
        group = pending.pop(0)
        try:
            outcome.add(await client.batch_detail(group))
        except DrsNotFoundError as error:
            named = [job_id for job_id in group if job_id in error.missing]
            if len(group) == 1 and not named:
                named = group
            for job_id in named:
                outcome.not_found(job_id, error)
            pending += [[job_id] for job_id in group if job_id not in named]
    return outcome


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
    *,
    credentials: Credentials,
    ids: list[str],
    endpoint: str,
    iam_endpoint: str | None,
    verify: bool | ssl.SSLContext,
    seconds: float,
) -> Outcome:
    async with httpx.AsyncClient(
        verify=verify, timeout=seconds, follow_redirects=False
    ) as iam_http:
        auth = build_auth(credentials, iam_endpoint=iam_endpoint, http=iam_http)
        async with DrsClient(
            endpoint=endpoint,
            project_id=credentials.project_id or "",
            auth=auth,
            timeout=seconds,
            verify=verify,
        ) as client:
            return await ask(client, ids)


def execute(args: argparse.Namespace) -> int:
    try:
        ids = _job_ids(args)
        if not args.timeout > 0:
            raise _InputError("--timeout must be a positive number of seconds")
        credentials = _credentials(args)
        try:
            endpoint = endpoints.resolve(credentials.endpoint, credentials.region, "drs")
            iam_endpoint = None
            if credentials.mode == "password":
                iam_endpoint = endpoints.resolve(
                    credentials.iam_endpoint, credentials.region, "iam"
                )
        except ValueError as error:
            raise _InputError(flag_wording(str(error))) from None
        verify = _verify(args)
    except _InputError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(
            _query(
                credentials=credentials,
                ids=ids,
                endpoint=endpoint,
                iam_endpoint=iam_endpoint,
                verify=verify,
                seconds=args.timeout,
            )
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
