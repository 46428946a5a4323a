"""The DRS connection flags shared by ``query``, ``plan`` and ``import``.

Every connection setting is a flag or an environment variable (the flag
wins): ``--endpoint``/``DRS_ENDPOINT``, ``--iam-endpoint``/``DRS_IAM_ENDPOINT``,
``--region``/``DRS_REGION``, ``--project-id``/``DRS_PROJECT_ID``, and one of
``--token``/``DRS_TOKEN``; ``--access-key``/``DRS_ACCESS_KEY`` +
``--secret-key``/``DRS_SECRET_KEY`` (+ ``--security-token``/``DRS_SECURITY_TOKEN``);
``--username``/``DRS_USERNAME`` + ``--password``/``DRS_PASSWORD`` +
``--domain``/``DRS_DOMAIN``; ``--ca-bundle``, ``--insecure``, ``--timeout``.
Errors are :class:`InputError` worded for the flags (:func:`flag_wording`), never
quoting a value. :func:`ask` asks DRS about IDs so that every ID gets an outcome,
:func:`open_client` opens a client with its auth.
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from drs_operator.domain.batching import halves
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
from drs_operator.drs import endpoints
from drs_operator.drs.auth import build_auth
from drs_operator.drs.classify import BatchDetailResult
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import NOT_FOUND_CODES, DrsNotFoundError
from drs_operator.drs.models import JobDetail
from drs_operator.drs.tls import ssl_verify

__all__ = [
    "ENVIRONMENT",
    "NO_CREDENTIALS",
    "SOURCE_NAME",
    "InputError",
    "Outcome",
    "add_flags",
    "ask",
    "credentials_from",
    "flag_values",
    "flag_wording",
    "has_auth",
    "open_client",
    "verify_from",
]

SOURCE_NAME = "(flags/environment)"
DEFAULT_TIMEOUT = 10.0

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


class InputError(Exception):
    """Bad input: exit 2; the message names the flag or variable."""


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The connection flags, ``--ca-bundle``, ``--insecure`` and ``--timeout``."""
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
        default=DEFAULT_TIMEOUT,  # noqa: RUF100
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


def flag_values(args: argparse.Namespace) -> dict[str, str]:
    """The credentials keys the flags and variables give (unvalidated)."""
    return {key: value for dest, (_, key) in ENVIRONMENT.items() if (value := _setting(args, dest))}


NO_CREDENTIALS = (
    "no credentials: give --token, or --access-key and --secret-key, "
    "or --username, --password and --domain (or their DRS_* variables)"
)
_AUTH_KEYS = (KEY_TOKEN, KEY_ACCESS_KEY, KEY_SECRET_KEY, KEY_USERNAME, KEY_PASSWORD, KEY_DOMAIN)


def has_auth(values: Mapping[str, str]) -> bool:
    """Whether the flags/variables name any credential (which one is parse_credentials')."""
    return any(values.get(key) for key in _AUTH_KEYS)


def credentials_from(args: argparse.Namespace) -> Credentials:
    values = flag_values(args)
    if not values.get(KEY_PROJECT_ID):
        raise InputError("a project ID is required (--project-id or DRS_PROJECT_ID)")
    if not values.get(KEY_REGION) and not values.get(KEY_ENDPOINT):
        raise InputError("a region or an endpoint is required (--region/--endpoint)")
    if not has_auth(values):
        raise InputError(NO_CREDENTIALS)
    try:
        return parse_credentials(values, secret_name=SOURCE_NAME)
    except CredentialsError as error:
        raise InputError(flag_wording(str(error))) from None


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


def verify_from(args: argparse.Namespace, *, prog: str) -> bool | ssl.SSLContext:
    """TLS verification from ``--insecure`` (a warning on stderr) or ``--ca-bundle``."""
    if args.insecure:
        print(f"{prog}: warning: TLS certificate verification is disabled (--insecure)",
              file=sys.stderr)  # fmt: skip
        return False
    try:
        return ssl_verify(ca_file=args.ca_bundle)
    except ValueError as error:
        raise InputError(f"--ca-bundle: {error}") from None


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
    """batch-detail for ``ids``, so that every ID gets an outcome.

    DRS may answer a batch that mixes found and missing IDs with one error
    (``DRS.M00289``, HTTP 400) instead of per-item results: the IDs it names
    are missing and the others are asked again together; when it names none,
    the batch is split in halves until the missing ones are isolated (as the
    operator does). Any other error is raised.
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
            rest = [job_id for job_id in group if job_id not in named]
            if rest and named:
                pending.append(rest)
            elif rest:
                pending += [list(half) for half in halves(rest)]
    return outcome


@asynccontextmanager
async def open_client(
    credentials: Credentials, *, verify: bool | ssl.SSLContext, seconds: float
) -> AsyncIterator[DrsClient]:
    """A client for the credentials' DRS endpoint, with their auth (ValueError: bad URL)."""
    endpoint = endpoints.resolve(credentials.endpoint, credentials.region, "drs")
    iam_endpoint = None
    if credentials.mode == "password":
        iam_endpoint = endpoints.resolve(credentials.iam_endpoint, credentials.region, "iam")
    auth = build_auth(credentials, iam_endpoint=iam_endpoint, verify=verify, timeout=seconds)
    try:
        async with DrsClient(
            endpoint=endpoint,
            project_id=credentials.project_id or "",
            auth=auth,
            timeout=seconds,
            verify=verify,
        ) as client:
            yield client
    finally:
        closer = getattr(auth, "aclose", None)
        if callable(closer):
            await closer()
