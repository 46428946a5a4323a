"""From a DrsJob to the DRS connection that serves it.

A connection is (endpoint, project, credentials): every DrsJob that resolves
to the same three shares one DRS client, one auth (so one IAM token), one
rate limit and one backoff, and its task IDs are batched together.

Credentials Secrets are read by name only (never listed or watched), cached
for ``secret_cache_ttl`` and re-read after it or after an auth error, so a
rotated Secret takes effect on a following refresh. A Secret whose contents
changed yields a new connection (a new fingerprint); the old one, with its
token, is closed once unused.

The fingerprint is a keyed hash of the credential values: it identifies a
connection without holding or revealing them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from drs_operator.domain.spec import (
    Credentials,
    CredentialsError,
    decode_secret_data,
    parse_credentials,
)
from drs_operator.drs import endpoints
from drs_operator.drs.auth import build_auth
from drs_operator.drs.client import CallRecord, DrsClient
from drs_operator.drs.errors import DrsTransportError
from drs_operator.engine.kube import KubeApi, KubeError
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.registry import JobRecord
from drs_operator.engine.settings import Settings
from drs_operator.engine.throttling import Pacer

logger = logging.getLogger(__name__)

REASON_SECRET_UNREADABLE = "CredentialsUnavailable"
IDLE_CLOSE_AFTER = 300.0
_FINGERPRINT_KEY = os.urandom(32)  # per process: fingerprints mean nothing outside it


@dataclass(frozen=True)
class ConnectionKey:
    endpoint: str
    project_id: str
    fingerprint: str

    def __str__(self) -> str:  # safe to log
        return f"{self.endpoint} project {self.project_id}"


class Connection:
    def __init__(
        self, *, key: ConnectionKey, client: DrsClient, pacer: Pacer, auth: httpx.Auth
    ) -> None:
        self.key = key
        self.client = client
        self.pacer = pacer
        self.auth = auth
        self.last_used = time.monotonic()
        self.secrets: set[tuple[str, str]] = set()

    def invalidate_token(self) -> None:
        invalidate = getattr(self.auth, "invalidate", None)
        if callable(invalidate):
            invalidate()

    async def aclose(self) -> None:
        await self.client.aclose()
        closer = getattr(self.auth, "aclose", None)
        if callable(closer):
            await closer()


def _fingerprint(credentials: Credentials, endpoint: str) -> str:
    material = "\0".join(
        str(getattr(credentials, name) or "")
        for name in (
            "mode",
            "token",
            "access_key",
            "secret_key",
            "security_token",
            "username",
            "password",
            "domain",
            "iam_endpoint",
            "region",
            "ca_bundle",
        )
    )
    digest = hmac.new(_FINGERPRINT_KEY, f"{endpoint}\0{material}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


class Connections:
    def __init__(
        self,
        *,
        kube: KubeApi,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._secrets: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = {}
        self._secret_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._connections: dict[ConnectionKey, Connection] = {}
        self._resolved: dict[tuple[Any, ...], tuple[dict[str, str], Connection]] = {}

    def __len__(self) -> int:
        return len(self._connections)

    # -- Secrets -------------------------------------------------------------------------

    async def _secret_values(self, namespace: str, name: str) -> dict[str, str] | None:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached and cached[0] > self._clock():
            return cached[1]
        lock = self._secret_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._secrets.get(key)
            if cached and cached[0] > self._clock():
                return cached[1]
            try:
                secret = await self._kube.get_secret(namespace, name)
            except KubeError as exc:
                raise CredentialsError(
                    f"Secret {namespace}/{name} could not be read: HTTP {exc.status or '-'}"
                    f" {exc.reason or ''}".rstrip(),
                    reason=REASON_SECRET_UNREADABLE,
                ) from None
            values = (
                None
                if secret is None
                else decode_secret_data(secret.get("data") or {}, secret_name=name)
            )
            self._secrets[key] = (self._clock() + self._settings.writing.secret_cache_ttl, values)
            return values

    def forget_secret(self, namespace: str, name: str) -> None:
        """Re-read this Secret on next use (after an auth error)."""
        self._secrets.pop((namespace, name), None)

    # -- connections ---------------------------------------------------------------------

    def cached(self, record: JobRecord) -> Connection | None:
        """The connection this job resolved to, while its Secret's cache entry holds.

        Synchronous: the common case of a refresh costs no coroutine. The same
        Secret contents and overrides resolve to the same connection, so
        parsing and fingerprinting are skipped for every job of every refresh.
        """
        spec = record.spec
        if spec is None:
            return None
        secret = self._secrets.get((record.namespace, spec.credentials_name))
        if secret is None or secret[0] <= self._clock() or secret[1] is None:
            return None
        memo = self._resolved.get(
            (record.namespace, spec.credentials_name, spec.project_id, spec.region, spec.endpoint)
        )
        if memo is None or memo[0] is not secret[1]:
            return None
        known = memo[1]
        if self._connections.get(known.key) is not known:
            return None
        known.last_used = self._clock()
        return known

    async def resolve(self, record: JobRecord) -> Connection:
        """The connection serving this job; raises CredentialsError with a reason."""
        known = self.cached(record)
        if known is not None:
            return known
        spec = record.spec
        assert spec is not None, "resolve() needs a valid spec"
        values = await self._secret_values(record.namespace, spec.credentials_name)
        memo_key = (record.namespace, spec.credentials_name, spec.project_id, spec.region,
                    spec.endpoint)  # fmt: skip
        if values is None:
            raise CredentialsError(
                f"Secret {record.namespace}/{spec.credentials_name} not found",
                reason="CredentialsMissing",
            )
        credentials = parse_credentials(
            values,
            secret_name=spec.credentials_name,
            project_id=spec.project_id,
            region=spec.region,
            endpoint=spec.endpoint,
        )
        try:
            endpoint = endpoints.resolve(credentials.endpoint, credentials.region, "drs")
        except ValueError as exc:
            raise CredentialsError(str(exc), reason="CredentialsInvalid") from None
        project_id = credentials.project_id or ""
        key = ConnectionKey(endpoint, project_id, _fingerprint(credentials, endpoint))
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connect(key, credentials)
            self._connections[key] = connection
            logger.info("New DRS connection: %s (%s auth)", key, credentials.mode)
        connection.last_used = self._clock()
        connection.secrets.add((record.namespace, spec.credentials_name))
        self._resolved[memo_key] = (values, connection)
        return connection

    def _verify(self, credentials: Credentials) -> bool | ssl.SSLContext:
        if credentials.ca_bundle:
            try:
                return ssl.create_default_context(cadata=credentials.ca_bundle)
            except (ssl.SSLError, ValueError):
                raise CredentialsError(
                    "Secret key caBundle is not a valid PEM certificate bundle",
                    reason="CredentialsInvalid",
                ) from None
        if self._settings.http.ca_bundle:
            return ssl.create_default_context(cafile=self._settings.http.ca_bundle)
        return True

    def _connect(self, key: ConnectionKey, credentials: Credentials) -> Connection:
        http = self._settings.http
        verify = self._verify(credentials)
        iam_http = None
        if credentials.mode == "password":
            iam_http = httpx.AsyncClient(verify=verify, timeout=http.request_timeout)
        try:
            auth = build_auth(
                credentials,
                http=iam_http,
                on_refresh=lambda outcome: self._metrics.token_refreshes.labels(outcome).inc(),
            )
        except ValueError as exc:
            raise CredentialsError(str(exc), reason="CredentialsInvalid") from None
        try:
            client = DrsClient(
                endpoint=key.endpoint,
                project_id=key.project_id,
                auth=auth,
                timeout=http.request_timeout,
                verify=verify,
                language=http.language,
                max_body_bytes=http.max_body_bytes,
                on_call=self._record_call,
            )
        except ValueError as exc:  # e.g. a proxy scheme the transport cannot use
            raise CredentialsError(
                f"DRS endpoint cannot be used: {exc}", reason=DrsTransportError.reason
            ) from None
        pacer = Pacer(
            rate=self._settings.batching.rate_limit,
            burst=self._settings.batching.rate_burst,
            backoff=self._settings.backoff,
        )
        return Connection(key=key, client=client, pacer=pacer, auth=auth)

    def _record_call(self, call: CallRecord) -> None:
        m = self._metrics
        m.calls.labels(call.outcome, str(call.http_status or "none")).inc()
        m.call_duration.labels(call.outcome).observe(call.duration)
        m.ids_per_call.observe(call.ids)

    def on_auth_error(self, connection: Connection) -> None:
        """Re-read the Secrets behind this connection and drop its token."""
        for namespace, name in connection.secrets:
            self.forget_secret(namespace, name)
        connection.invalidate_token()

    async def sweep(self) -> None:
        """Close connections nobody used for a while (e.g. after a Secret rotation)."""
        now = self._clock()
        for key, connection in list(self._connections.items()):
            if now - connection.last_used > IDLE_CLOSE_AFTER:
                del self._connections[key]
                await connection.aclose()
        for memo_key, (_, connection) in list(self._resolved.items()):
            if self._connections.get(connection.key) is not connection:
                del self._resolved[memo_key]
        for skey, (expires, _) in list(self._secrets.items()):
            if expires < now - IDLE_CLOSE_AFTER:
                self._secrets.pop(skey, None)

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.aclose()
