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
     "unanswered": [...], "requestId": "..."}

It is redacted by construction: the job models do not declare any secret
field. Exit codes: 0 success; 1 the call failed (one line on stderr with the
error's description); 2 bad input (one line ``drs-operator query: error: ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import ssl
import sys
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
from drs_operator.drs.errors import DrsError

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
    for dest, (env, _) in ENVIRONMENT.items():
        flag = "--" + dest.replace("_", "-")
        parser.add_argument(flag, dest=dest, default=None, help=f"{helps[dest]} [env {env}]")
    parser.add_argument("--ca-bundle", default=None, help="PEM file of CA certificates to trust")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (testing only)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per HTTP call"
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
        raise _InputError(str(error)) from None


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


def _render(result: BatchDetailResult, ids: list[str]) -> dict[str, Any]:
    return {
        "count": result.count,
        "jobs": [
            result.jobs[job_id].model_dump(mode="json", exclude_none=True)
            for job_id in ids
            if job_id in result.jobs
        ],
        "errors": {
            job_id: {"code": code, "message": message}
            for job_id, (code, message) in result.errors.items()
        },
        "unanswered": list(result.unanswered),
        "requestId": result.request_id,
    }


async def _query(
    *,
    credentials: Credentials,
    ids: list[str],
    endpoint: str,
    iam_endpoint: str | None,
    verify: bool | ssl.SSLContext,
    seconds: float,
) -> BatchDetailResult:
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
            return await client.batch_detail(ids)


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
            raise _InputError(str(error)) from None
        verify = _verify(args)
    except _InputError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(
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
        print(f"{PROG}: error: {error.describe()}", file=sys.stderr)
        return 1
    print(json.dumps(_render(result, ids), indent=2, sort_keys=False))
    return 0
