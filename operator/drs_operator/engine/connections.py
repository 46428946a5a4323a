"""From a DrsJob to the DRS connection that serves it.

A connection is (endpoint, project, credentials): every DrsJob that resolves
to the same three shares one DRS client, one auth (so one IAM token), one
rate limit and one backoff, and its task IDs are batched together.

Credentials Secrets come from :class:`~drs_operator.engine.secrets.SecretCache`
(read by name, cached for ``secret_cache_ttl``, re-read after it or after an
auth error), so a rotated Secret takes effect on a following refresh. A
Secret whose contents changed yields a new connection (a new fingerprint);
the old one, with its token, is closed by :meth:`Connections.sweep` once
nobody used it for ``IDLE_CLOSE_AFTER`` seconds. A ``spec.endpoint`` is
checked before anything else (:func:`drs_operator.domain.endpoint_policy.check_override`):
a host that is neither the Secret's nor allowed never receives a request. TLS trust comes from
:func:`drs_operator.drs.tls.ssl_verify` (the Secret's ``caBundle``, else
``--ca-bundle``, else the system's CAs).

The fingerprint is a keyed hash of the credential values: it identifies a
connection without holding or revealing them.
"""

from __future__ import annotations

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

from drs_operator.domain.batching import ConnectionKey
from drs_operator.domain.conditions import (
    REASON_CREDENTIALS_INVALID,
    REASON_CREDENTIALS_MISSING,
    REASON_UNREACHABLE,
)
from drs_operator.domain.credentials import Credentials, CredentialsError, parse_credentials
from drs_operator.domain.endpoint_policy import check_override
from drs_operator.drs import endpoints
from drs_operator.drs.auth import build_auth
from drs_operator.drs.classify import CallRecord
from drs_operator.drs.client import DrsClient
from drs_operator.drs.tls import ssl_verify
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.logs import fields
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.registry import JobRecord
from drs_operator.engine.secrets import SecretCache
from drs_operator.engine.settings import Settings
from drs_operator.engine.throttling import Pacer

logger = logging.getLogger(__name__)

IDLE_CLOSE_AFTER = 300.0
_FINGERPRINT_KEY = os.urandom(32)  # per process: fingerprints mean nothing outside it


@dataclass(slots=True)
class Trouble:
    """A connection backing off: when it began, how often, for how long, the last cause."""

    since: float
    cause: str
    code: str | None
    backoffs: int = 0
    paused: float = 0.0


class Connection:
    def __init__(
        self, *, key: ConnectionKey, client: DrsClient, pacer: Pacer, auth: httpx.Auth
    ) -> None:
        self.key = key
        self.client = client
        self.pacer = pacer
        self.auth = auth
        self.last_used = 0.0  # set by Connections, on its clock
        self.secrets: set[tuple[str, str]] = set()
        # Owned by the querier: since when calls back off, how many times, why.
        self.trouble: Trouble | None = None

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
        self.secrets = SecretCache(kube=kube, ttl=settings.writing.secret_cache_ttl, clock=clock)
        self._connections: dict[ConnectionKey, Connection] = {}
        self._resolved: dict[tuple[Any, ...], tuple[dict[str, str], Connection]] = {}

    def __len__(self) -> int:
        return len(self._connections)

    def get(self, key: ConnectionKey) -> Connection | None:
        """The open connection of this key, if any."""
        return self._connections.get(key)

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
        cached = self.secrets.fresh((record.namespace, spec.credentials_name))
        values = cached[0] if cached is not None else None
        if values is None:
            return None
        memo = self._resolved.get(
            (record.namespace, spec.credentials_name, spec.project_id, spec.region, spec.endpoint)
        )
        if memo is None or memo[0] is not values:
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
        values = await self.secrets.values(record.namespace, spec.credentials_name)
        memo_key = (record.namespace, spec.credentials_name, spec.project_id, spec.region,
                    spec.endpoint)  # fmt: skip
        if values is None:
            raise CredentialsError(
                f"Secret {record.namespace}/{spec.credentials_name} not found",
                reason=REASON_CREDENTIALS_MISSING,
            )
        check_override(  # before anything is sent anywhere (issue 16)
            spec_endpoint=spec.endpoint,
            spec_region=spec.region,
            secret_values=values,
            policy=self._settings.http.allowed_endpoint_hosts,
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
            raise CredentialsError(str(exc), reason=REASON_CREDENTIALS_INVALID) from None
        project_id = credentials.project_id or ""
        key = ConnectionKey(endpoint, project_id, _fingerprint(credentials, endpoint))
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connect(
                key, credentials, secret_name=f"{record.namespace}/{spec.credentials_name}"
            )
            self._connections[key] = connection
            logger.info(
                "New DRS connection: %s (%s auth, Secret %s/%s)",
                key,
                credentials.mode,
                record.namespace,
                spec.credentials_name,
                extra=fields(endpoint=key.endpoint, projectId=key.project_id),
            )
        connection.last_used = self._clock()
        connection.secrets.add((record.namespace, spec.credentials_name))
        self._resolved[memo_key] = (values, connection)
        return connection

    def _verify(self, credentials: Credentials, *, secret_name: str) -> bool | ssl.SSLContext:
        try:
            return ssl_verify(ca_pem=credentials.ca_bundle, ca_file=self._settings.http.ca_bundle)
        except ValueError as exc:
            if credentials.ca_bundle:
                raise CredentialsError(
                    f"Secret {secret_name}: key caBundle is not a valid PEM certificate bundle",
                    reason=REASON_CREDENTIALS_INVALID,
                ) from None
            raise CredentialsError(f"--ca-bundle: {exc}", reason=REASON_UNREACHABLE) from None

    def _connect(
        self, key: ConnectionKey, credentials: Credentials, *, secret_name: str
    ) -> Connection:
        http = self._settings.http
        verify = self._verify(credentials, secret_name=secret_name)
        try:
            auth = build_auth(  # in password mode it owns its IAM client: Connection.aclose
                credentials,
                verify=verify,
                timeout=http.request_timeout,
                on_refresh=lambda outcome: self._metrics.token_refreshes.labels(outcome).inc(),
            )
        except ValueError as exc:
            raise CredentialsError(str(exc), reason=REASON_CREDENTIALS_INVALID) from None
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
                f"DRS endpoint cannot be used: {exc}", reason=REASON_UNREACHABLE
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
            self.secrets.forget(namespace, name)
        connection.invalidate_token()

    async def sweep(self) -> None:
        """Close connections nobody used for a while (e.g. after a Secret rotation)."""
        now = self._clock()
        for key, connection in list(self._connections.items()):
            if now - connection.last_used > IDLE_CLOSE_AFTER:
                del self._connections[key]
                await connection.aclose()
                logger.debug("Closed the idle DRS connection %s", key)
        for memo_key, (_, connection) in list(self._resolved.items()):
            if self._connections.get(connection.key) is not connection:
                del self._resolved[memo_key]
        self.secrets.sweep(older_than=IDLE_CLOSE_AFTER)

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.aclose()
