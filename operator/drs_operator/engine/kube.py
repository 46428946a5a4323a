"""The operator's own Kubernetes API client (besides kopf's watch).

The one module of the engine that talks to the Kubernetes API: it reads
credentials Secrets by name, merge-patches the ``/status`` subresource of
DrsJobs, posts Events, answers the start-up check (``/version`` and the
DrsJob API group's discovery), lists the names of DrsJobs (for
:class:`drs_operator.handlers.Relists`: after kopf's watch starts over, and
every ten minutes), and reads, creates and replaces the
``coordination.k8s.io/v1`` Lease of leader election; kopf, in
:mod:`drs_operator.handlers`, watches DrsJobs; ``drs-operator get`` lists
them with the ``kubernetes`` package's synchronous client. It is async
(httpx) and configured by
:func:`drs_operator.engine.kubeconfig.load`, the same choice of cluster and
identity as kopf's login and ``drs-operator get``. A token that can expire
(exec plugins, OIDC) is refreshed through the ``kubernetes`` package's hook
at most every ``TOKEN_REFRESH_INTERVAL`` seconds, and at once after a 401.

Errors: :class:`KubeError` with the HTTP status and the API's ``reason``
(without an answer: ``cause``, e.g. ``connection refused``); a 404 on a read
or a status patch is answered with ``None`` (the object is gone), not an
error. Secret contents never reach a log line or an error.
A 409 on a Lease's create or replace (someone else created or changed it
first) is a :class:`KubeError` with ``status`` 409. Every request carries
the User-Agent ``drs-operator/<version>``, followed by the process's
leader-election identity when it has one (API server audit logs then say
which replica sent what).
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from drs_operator import GROUP, PLURAL, VERSION, __version__
from drs_operator.domain.formats import resource_version as version_number
from drs_operator.drs.causes import network_cause
from drs_operator.engine.kubeconfig import load as load_kubeconfig

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
# Object metadata only (kubectl's trick): a list of names costs a fraction of the objects.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
TOKEN_REFRESH_INTERVAL = 60.0  # seconds between runs of the kubeconfig's token hook
LIST_PAGE = 500  # DrsJobs per page when listing
USER_AGENT = f"drs-operator/{__version__}"


class KubeError(Exception):
    """A Kubernetes API call failed; the message holds no object contents."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        cause: str | None = None,
    ):
        self.status = status
        self.reason = reason
        self.cause = cause  # no answer: why (connection refused, DNS lookup failed, ...)
        super().__init__(message)


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def drsjob_path(namespace: str | None, name: str | None = None, *, status: bool = False) -> str:
    base = f"/apis/{GROUP}/{VERSION}"
    if namespace is not None:
        base += f"/namespaces/{_quote(namespace)}"
    base += f"/{PLURAL}"
    if name is not None:
        base += f"/{_quote(name)}"
        if status:
            base += "/status"
    return base


def lease_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{_quote(namespace)}/leases"
    return base if name is None else f"{base}/{_quote(name)}"


def bearer_header(configuration: Any) -> str | None:
    """The Authorization header value (kubernetes >= 36 keeps it under BearerToken)."""
    value = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    return str(value) if value else None


class KubeApi:
    def __init__(
        self,
        *,
        server: str,
        verify: bool | ssl.SSLContext = True,
        cert: tuple[str, str] | None = None,
        token: str | None = None,
        token_refresher: Any = None,
        default_namespace: str = "default",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        identity: str | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.user_agent = f"{USER_AGENT} ({identity})" if identity else USER_AGENT
        self.default_namespace = default_namespace
        self._token = token
        self._token_refresher = token_refresher
        self._refreshed_at: float | None = None
        if isinstance(verify, ssl.SSLContext) and cert:
            verify.load_cert_chain(*cert)
            cert = None
        self._http = httpx.AsyncClient(
            base_url=self.server,
            verify=verify,
            cert=cert,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_environment(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        identity: str | None = None,
    ) -> KubeApi:
        """A client for the cluster :func:`drs_operator.engine.kubeconfig.load` chooses
        (``identity``: the leader-election identity, shown in the User-Agent)."""
        loaded = load_kubeconfig(kubeconfig, context=context)
        configuration = loaded.configuration
        verify: bool | ssl.SSLContext = True
        if not configuration.verify_ssl:
            verify = False
        elif configuration.ssl_ca_cert:
            verify = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        cert = None
        if configuration.cert_file and configuration.key_file:
            cert = (configuration.cert_file, configuration.key_file)
        api = cls(
            server=configuration.host,
            verify=verify,
            cert=cert,
            token=bearer_header(configuration),
            default_namespace=loaded.namespace,
            identity=identity,
        )
        if configuration.refresh_api_key_hook is not None:
            api._token_refresher = (configuration.refresh_api_key_hook, configuration)
        return api

    async def __aenter__(self) -> KubeApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ----------------------------------------------------------------------

    def _refresh_token(self, *, force: bool = False) -> None:
        """Run the kubeconfig's token hook (synchronous) when due, or at once with ``force``."""
        if self._token_refresher is None:
            return
        now = time.monotonic()
        if not force and self._refreshed_at is not None:
            if now - self._refreshed_at < TOKEN_REFRESH_INTERVAL:
                return
        self._refreshed_at = now
        hook, configuration = self._token_refresher
        try:
            hook(configuration)
            self._token = bearer_header(configuration)
        except Exception:  # keep the old token; the call will say if it is refused
            logger.warning("Could not refresh the Kubernetes API token")

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        self._refresh_token()
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self._token:
            headers["Authorization"] = self._token
        headers.update(extra or {})
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        allow_404: bool = False,
        timeout: float | None = None,
        accept: str | None = None,
    ) -> dict[str, Any] | None:
        extra = {"Content-Type": content_type} if content_type else {}
        if accept:
            extra["Accept"] = accept
        for attempt in (1, 2):
            try:
                response = await self._http.request(
                    method,
                    path,
                    json=json,
                    content=content,
                    params=params,
                    headers=self._headers(extra),
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                )
            except httpx.HTTPError as exc:
                cause = network_cause(exc) or type(exc).__name__
                raise KubeError(
                    f"{method} {path}: Kubernetes API unreachable ({cause})", cause=cause
                ) from None
            if response.status_code != 401 or self._token_refresher is None or attempt == 2:
                break
            self._refresh_token(force=True)  # an expired token: once more with a fresh one
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code >= 400:
            reason = None
            message = ""
            try:
                payload = response.json()
                reason = payload.get("reason")
                message = str(payload.get("message", ""))[:300]
            except ValueError:
                pass
            raise KubeError(
                f"{method} {path}: HTTP {response.status_code} {reason or ''} {message}".strip(),
                status=response.status_code,
                reason=reason,
            )
        try:
            result = response.json()
        except ValueError:
            raise KubeError(f"{method} {path}: the answer is not JSON") from None
        return result if isinstance(result, dict) else {}

    # -- the calls ---------------------------------------------------------------------

    async def server_version(self, *, timeout: float | None = None) -> dict[str, Any]:
        """``GET /version`` (readable by every identity: ``system:public-info-viewer``)."""
        return await self._request("GET", "/version", timeout=timeout) or {}

    async def drsjobs_served(self, *, timeout: float | None = None) -> bool:
        """Whether the API server serves DrsJobs (discovery: is the CRD installed?)."""
        found = await self._request(
            "GET", f"/apis/{GROUP}/{VERSION}", allow_404=True, timeout=timeout
        )
        resources = (found or {}).get("resources")
        return isinstance(resources, list) and any(
            isinstance(item, Mapping) and item.get("name") == PLURAL for item in resources
        )

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret, or None when it does not exist. Never logged."""
        return await self._request(
            "GET", f"/api/v1/namespaces/{_quote(namespace)}/secrets/{_quote(name)}", allow_404=True
        )

    async def patch_status(
        self, namespace: str, name: str, status_patch: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch ``.status`` through the status subresource; None when gone."""
        return await self._request(
            "PATCH",
            drsjob_path(namespace, name, status=True),
            json={"status": dict(status_patch)},
            content_type=MERGE_PATCH,
            allow_404=True,
        )

    async def list_drsjob_keys(
        self, namespace: str | None, *, selector: str = ""
    ) -> tuple[set[tuple[str, str]], int | None]:
        """The (namespace, name) of every DrsJob in ``namespace`` (None: all namespaces)
        that the label ``selector`` selects (empty: every one), and the list's
        resourceVersion (an int; None when it is not one).

        Pages of :data:`LIST_PAGE` objects' metadata (:data:`METADATA_LIST`), one
        consistent snapshot; only names are kept.
        """
        names: set[tuple[str, str]] = set()
        selected = {"labelSelector": selector} if selector else {}
        params: dict[str, str] = {"limit": str(LIST_PAGE), **selected}
        version: int | None = None
        while True:
            page = (
                await self._request(
                    "GET", drsjob_path(namespace), params=params, accept=METADATA_LIST
                )
                or {}
            )
            for item in page.get("items") or ():
                meta = item.get("metadata") or {}
                names.add((str(meta.get("namespace", "")), str(meta.get("name", ""))))
            meta = page.get("metadata") or {}
            if version is None:
                version = version_number(meta.get("resourceVersion"))
            if not meta.get("continue"):
                return names, version
            params = {"limit": str(LIST_PAGE), "continue": str(meta["continue"]), **selected}

    async def create_event(self, namespace: str, event: Mapping[str, Any]) -> None:
        await self._request(
            "POST", f"/api/v1/namespaces/{_quote(namespace)}/events", json=dict(event)
        )

    # -- leader election (coordination.k8s.io/v1 Leases) -------------------------------------

    async def get_lease(
        self, namespace: str, name: str, *, timeout: float | None = None
    ) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""
        return await self._request(
            "GET", lease_path(namespace, name), allow_404=True, timeout=timeout
        )

    async def create_lease(
        self, namespace: str, lease: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Create a Lease; a KubeError with status 409 when it exists already."""
        created = await self._request(
            "POST", lease_path(namespace), json=dict(lease), timeout=timeout
        )
        return created or {}

    async def replace_lease(
        self, namespace: str, name: str, lease: Mapping[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Replace a Lease (PUT) at the ``metadata.resourceVersion`` it carries; a KubeError
        with status 409 when the Lease changed since (someone else wrote it first)."""
        replaced = await self._request(
            "PUT", lease_path(namespace, name), json=dict(lease), timeout=timeout
        )
        return replaced or {}
