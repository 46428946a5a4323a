"""The emulator's HTTP side: a kmock ``KubernetesScaffold`` serving the :class:`Store`.

:func:`handler_class` builds (once) the handler class: kmock's scaffold
(API discovery, error payloads, the reaction DSL for fault injection) with
the store behind its fallbacks for list, watch, get, create, patch, PUT and
delete. It parses ``/api/v1/namespaces`` itself (kmock misreads it), records
every request in the :class:`RequestLog`, trims kmock's own request log to
:data:`KMOCK_LOG_LIMIT` and decides most reactions on the request alone, so
the cost of a request does not grow with the number of earlier ones. Watches
replay, then stream, send bookmarks when asked and end on timeout, on
disconnect or when the cluster stops.

kmock is imported lazily, inside :func:`handler_class`: it is only installed
with the ``demo``/``dev`` extras, and this module is importable without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from drs_operator.domain.selectors import Selector, parse_selector
from drs_operator.sandbox.emulator.request_log import RecordedRequest, RequestLog
from drs_operator.sandbox.emulator.resources import RESOURCES, ApiError, Obj, ResourceSpec
from drs_operator.sandbox.emulator.store import Store

__all__ = ["BOOKMARK_INTERVAL", "KMOCK_LOG_LIMIT", "handler_class"]

# The package's logger, as before the emulator was split into modules.
logger = logging.getLogger("drs_operator.sandbox.emulator")

KMOCK_LOG_LIMIT = 64  # requests kept in kmock's own log (it scans it for slicing reactions)
BOOKMARK_INTERVAL = 30.0  # seconds between watch bookmarks when the client allows them
_DISCONNECT_POLL = 1.0  # how often an idle watch checks whether its client went away
_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


def _header(headers: Any, name: str) -> str | None:
    """A request header, whatever the case of its name."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


@lru_cache(maxsize=1)
def handler_class() -> type[Any]:
    """Build the kmock handler class (lazily: kmock is an optional dependency)."""
    import aiohttp.web
    import kmock
    from kmock._internal import dsl, rendering

    def sees(view: Any, request: Any) -> bool:
        """Whether a reaction's view accepts this request, judged on the request alone.

        kmock answers this by scanning its whole request log through the
        view's filters, so each request costs O(requests so far); the usual
        chains (root, priorities, filters, and/or/not groups) are decided on
        the request itself. Anything else (slices, live streams) falls back
        to kmock's own check over its (trimmed) log.
        """
        if isinstance(view, dsl.Root):
            return True
        if isinstance(view, dsl.Filter):
            return bool(view.criteria(request)) and sees(view._source, request)
        if isinstance(view, dsl.Priority | dsl.Reaction):
            return sees(view._source, request)
        if isinstance(view, dsl.OrGroup):
            return any(sees(source, request) for source in view._sources)
        if isinstance(view, dsl.AndGroup):
            return all(sees(source, request) for source in view._sources)
        if isinstance(view, dsl.Exclusion):
            return sees(view._source, request) and not any(
                sees(excluded, request) for excluded in view._exclusions
            )
        return request in view

    class Handler(kmock.KubernetesScaffold):  # type: ignore[misc]
        """kmock's API scaffold with the emulator's store behind its fallbacks."""

        def __init__(self, *, store: Store, log: RequestLog, bookmark_interval: float) -> None:
            self.store = store
            self.log = log
            self.bookmark_interval = bookmark_interval
            super().__init__()

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            for spec in RESOURCES:
                self.resources[f"{spec.api_version}/{spec.plural}"] = kmock.ResourceInfo(
                    kind=spec.kind,
                    singular=spec.singular or spec.kind.lower(),
                    namespaced=spec.namespaced,
                    verbs=set(_VERBS),
                    shortnames=set(spec.shortnames),
                    categories=set(spec.categories),
                    subresources={"status"} if spec.status_subresource else set(),
                )
            action, method = kmock.action, kmock.method
            self.fallback[action.LIST] << self._serve_list
            self.fallback[action.WATCH] << self._serve_watch
            self.fallback[action.FETCH] << self._serve_fetch
            self.fallback[action.CREATE] << self._serve_create
            self.fallback[action.UPDATE] << self._serve_patch
            self.fallback[action.DELETE] << self._serve_delete
            self.fallback[method.PUT] << self._serve_replace

        # -- entry point: parsing, logging, bounded kmock log, fast dispatch ---------------------

        async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
            await raw.read()
            entry: RecordedRequest | None = None
            try:
                request = await self._parse(raw)
                self._requests.append(request)
                if len(self._requests) > 2 * KMOCK_LOG_LIMIT:
                    del self._requests[:-KMOCK_LOG_LIMIT]
                entry = self._record(request)
                response: aiohttp.web.StreamResponse = await self._dispatch(request)
            except rendering.StreamingError as exc:
                cause = exc.__cause__ or exc
                logger.error("emulator: stream failed: %s %s: %r", raw.method, raw.path, cause)
                response = exc.args[0]
                if response.prepared:
                    await self._stream_error(cause, response)
                    await response.write_eof()
                else:
                    response = await self._render_error(cause)
            except ApiError as exc:
                response = aiohttp.web.json_response(exc.status(), status=exc.code)
            except kmock.KubernetesError as exc:  # e.g. kmock's unknown-endpoint fallback
                response = await self._render_error(exc)
            except Exception as exc:  # the client gets a 500 with the cause, as kmock does
                logger.exception("emulator: request failed: %s %s", raw.method, raw.path)
                response = await self._render_error(exc)
            if entry is not None:
                entry.status = response.status
            return response

        async def _parse(self, raw: aiohttp.web.BaseRequest) -> Any:
            path = raw.path.rstrip("/")
            namespaces = re.fullmatch(
                r"/api/v1/namespaces(?:/([^/]+)(?:/(status|finalize))?)?", path
            )
            request = await rendering.Request._parse(raw) if namespaces is None else None
            if namespaces is not None:
                # kmock reads /api/v1/namespaces/NAME as "namespace NAME" (and fails on the list).
                body = await raw.read()
                try:
                    data = json.loads(body) if body else None
                except ValueError:
                    raise ApiError(400, "BadRequest", "the request body is not JSON") from None
                get = raw.method == "GET"
                name = namespaces.group(1)
                watch = get and raw.query.get("watch") == "true"
                action = (
                    kmock.action.WATCH if watch
                    else (kmock.action.FETCH if name else kmock.action.LIST) if get
                    else kmock.action.CREATE if raw.method == "POST" and not name
                    else kmock.action.UPDATE if raw.method == "PATCH" and name
                    else kmock.action.DELETE if raw.method == "DELETE" and name
                    else None
                )  # fmt: skip
                request = rendering.Request(
                    raw_request=raw,
                    url=raw.url,
                    method=raw.method,
                    params=dict(raw.query),
                    headers=dict(raw.headers),
                    data=data,
                    body=body,
                    action=action,
                    resource=kmock.resource("", "v1", "namespaces"),
                    name=name,
                    subresource=namespaces.group(2),
                )
            return request

        def _record(self, request: Any) -> RecordedRequest:
            resource = request.resource
            entry = RecordedRequest(
                seq=self.log.next_seq(),
                method=str(request.method.value),
                path=request.url.path,
                query=dict(request.params),
                body=request.data,
                group=resource.group if resource else None,
                version=resource.version if resource else None,
                resource=resource.plural if resource else None,
                namespace=request.namespace,
                name=request.name,
                subresource=request.subresource,
                user_agent=_header(request.headers, "User-Agent"),
            )
            self.log.record(entry)
            return entry

        async def _dispatch(self, request: Any) -> aiohttp.web.StreamResponse:
            payloads = list(self._payloads)
            width = max((len(p.priorities) for p in payloads), default=0)
            order = sorted(
                range(len(payloads)),
                key=lambda i: (
                    tuple(-p for p in payloads[i].priorities)
                    + (0,) * (width - len(payloads[i].priorities))
                ),
            )
            for index in order:
                payload = payloads[index]
                if payload._disabled.is_set() or not sees(payload._source, request):
                    continue
                try:
                    response: aiohttp.web.StreamResponse = await payload(request)
                    return response
                except rendering.ReactionMismatchError:
                    payload._disabled.set()
                except NotImplementedError:
                    pass
                finally:
                    if len(payload._requests) > 2 * KMOCK_LOG_LIMIT:
                        del payload._requests[:-KMOCK_LOG_LIMIT]
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

        # -- the Kubernetes verbs ----------------------------------------------------------------

        def _spec(self, request: Any) -> ResourceSpec:
            r = request.resource
            return self.store.spec_for(r.group, r.version, r.plural)

        @staticmethod
        def _selector(request: Any) -> Selector | None:
            """The request's ``labelSelector`` (400 when it does not parse)."""
            text = request.params.get("labelSelector")
            if not text:
                return None
            try:
                return parse_selector(text)
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None

        def _serve_list(self, request: Any) -> Obj:
            return self.store.list_body(
                self._spec(request), request.namespace, self._selector(request)
            )

        def _serve_fetch(self, request: Any) -> Obj:
            if request.subresource not in (None, "status"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.store.get(self._spec(request), request.namespace, request.name)

        def _serve_create(self, request: Any) -> Any:
            obj = self.store.create(
                self._spec(request), request.namespace, request.data, validate=True
            )
            return kmock.Response(status=201, payload=obj)

        def _serve_patch(self, request: Any) -> Obj:
            return self.store.patch(
                self._spec(request),
                request.namespace,
                request.name,
                request.data,
                subresource=request.subresource,
                validate=True,
            )

        def _serve_replace(self, request: Any) -> Obj:
            if request.resource is None or request.name is None:
                raise ApiError(405, "MethodNotAllowed", "PUT is served on named objects only")
            return self.store.replace(
                self._spec(request),
                request.namespace,
                request.name,
                request.data,
                subresource=request.subresource,
                validate=True,
            )

        def _serve_delete(self, request: Any) -> Obj:
            return self.store.delete(self._spec(request), request.namespace, request.name)

        async def _serve_watch(self, request: Any) -> AsyncIterator[Any]:
            spec = self._spec(request)
            params = request.params
            initial = params.get("sendInitialEvents") == "true"
            since = None if initial else params.get("resourceVersion")
            bookmarks = params.get("allowWatchBookmarks") == "true"
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
            watch, replay = self.store.open_watch(
                spec, request.namespace, since, self._selector(request)
            )
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            raw = request._raw_request
            try:
                yield b""  # send the headers now, even if nothing happens
                for event in replay:
                    yield event
                    if event["type"] == "ERROR":
                        return
                if initial:
                    yield self.store.bookmark(spec, initial_end=True)
                next_bookmark = loop.time() + self.bookmark_interval
                while True:
                    now = loop.time()
                    if deadline is not None and now >= deadline:
                        return
                    if raw is not None and (raw.transport is None or raw.transport.is_closing()):
                        return
                    wait = _DISCONNECT_POLL
                    if bookmarks:
                        wait = min(wait, max(0.01, next_bookmark - now))
                    if deadline is not None:
                        wait = min(wait, max(0.01, deadline - now))
                    try:
                        item = await asyncio.wait_for(watch.queue.get(), timeout=wait)
                    except TimeoutError:
                        if bookmarks and loop.time() >= next_bookmark:
                            next_bookmark = loop.time() + self.bookmark_interval
                            yield self.store.bookmark(spec)
                        continue
                    if item is None:  # the cluster is stopping
                        return
                    yield item
            finally:
                self.store.close_watch(watch)

    return Handler
