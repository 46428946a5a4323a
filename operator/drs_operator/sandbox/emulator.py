"""An embedded Kubernetes API emulator for the demo and the tests.

``EmulatedCluster`` serves a small Kubernetes API over HTTP on loopback:
DrsJobs (``drs.operators.dev/v1alpha1``, with a ``status`` subresource),
Secrets, Events (core and ``events.k8s.io``), Namespaces and CRDs. kopf and
``kubernetes.client`` talk to it through the kubeconfig from
:meth:`EmulatedCluster.write_kubeconfig` (plain HTTP, no auth).

It builds on kmock's ``KubernetesScaffold`` (API discovery, error payloads and
the reaction DSL, so tests can inject faults such as
``cluster.handler['patch'] << 500``) and keeps the objects in its own store,
because kmock's ``KubernetesEmulator`` lacks what an operator needs:

- metadata is stamped like a real API server does: ``uid`` and
  ``creationTimestamp`` on create, ``generation`` (1 on create, +1 when
  anything but ``metadata``/``status`` changes) for resources with a status
  subresource, and one cluster-wide ``resourceVersion`` counter bumped on
  every write; ``generateName`` is honoured;
- the ``status`` subresource is isolated: a write to ``/status`` changes only
  ``status``, a write to the object leaves ``status`` alone, create drops it;
- merge patches follow RFC 7386 (strategic merge patches are treated as merge
  patches), JSON patches (``test`` included) answer 422 when they fail, a
  ``metadata.resourceVersion`` in a patch or PUT body is checked (409);
- lists carry ``kind`` and a real ``resourceVersion``; watches honour
  ``resourceVersion`` (replaying retained events, 410 Expired when too old),
  send bookmarks when asked and never lose events between the initial
  replay and the live stream; finalizers delay deletion as in Kubernetes;
- every request is recorded in a bounded log (:meth:`requests`) and in exact
  counters (:meth:`count`), and kmock's own request log is trimmed so that
  the cost of a request does not grow with the number of earlier requests.

Not emulated: label/field selectors, server-side apply, schema validation and
pruning, Table output (``kubectl get`` cannot list through it), admission,
namespace existence. All methods must be called from the event loop thread
that started the cluster (or before it starts).

kmock is imported lazily: it is only installed with the ``demo``/``dev``
extras, and this module is importable without it.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import collections
import contextlib
import copy
import datetime
import json
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import EllipsisType
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_LOG_LIMIT = 10_000  # requests kept in the emulator's request log
DEFAULT_HISTORY_LIMIT = 10_000  # watch events kept for resumption by resourceVersion
KMOCK_LOG_LIMIT = 64  # requests kept in kmock's own log (it scans it for slicing reactions)
BOOKMARK_INTERVAL = 30.0  # seconds between watch bookmarks when the client allows them
_DISCONNECT_POLL = 1.0  # how often an idle watch checks whether its client went away
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # as the API server's generateName
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceSpec:
    """One served resource: identity and discovery information."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    status_subresource: bool = False
    singular: str = ""
    shortnames: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


DRSJOBS = ResourceSpec(
    "drs.operators.dev",
    "v1alpha1",
    "drsjobs",
    "DrsJob",
    namespaced=True,
    status_subresource=True,
    singular="drsjob",
    shortnames=("drsj",),
    categories=("drs",),
)
SECRETS = ResourceSpec("", "v1", "secrets", "Secret", namespaced=True, singular="secret")
EVENTS = ResourceSpec("", "v1", "events", "Event", namespaced=True, singular="event")
EVENTS_V1 = ResourceSpec("events.k8s.io", "v1", "events", "Event", namespaced=True)
NAMESPACES = ResourceSpec("", "v1", "namespaces", "Namespace", namespaced=False)
CRDS = ResourceSpec(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
)
RESOURCES: tuple[ResourceSpec, ...] = (DRSJOBS, SECRETS, EVENTS, EVENTS_V1, NAMESPACES, CRDS)

# Short names accepted by the in-process helpers, besides "group/version/plural".
ALIASES: dict[str, ResourceSpec] = {
    "drsjobs": DRSJOBS,
    "secrets": SECRETS,
    "events": EVENTS,
    "namespaces": NAMESPACES,
    "customresourcedefinitions": CRDS,
}
_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


def resolve(resource: str | ResourceSpec) -> ResourceSpec:
    """``"drsjobs"`` or ``"drs.operators.dev/v1alpha1/drsjobs"`` → its spec."""
    if isinstance(resource, ResourceSpec):
        return resource
    if resource in ALIASES:
        return ALIASES[resource]
    for spec in RESOURCES:
        if resource in (f"{spec.api_version}/{spec.plural}", f"{spec.group}/{spec.plural}"):
            return spec
    raise KeyError(f"resource not served by the emulator: {resource!r}")


class ApiError(Exception):
    """A Kubernetes API error, rendered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "details": self.details,
        }


def _not_found(spec: ResourceSpec, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{spec.qualified} "{name}" not found', name=name)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (returns a new value; inputs are not modified)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _json_patch(obj: Obj, ops: list[Any]) -> Obj:
    import jsonpatch  # a dependency of kmock

    try:
        patched = jsonpatch.apply_patch(obj, ops, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the JSON patch could not be applied: {exc}") from None
    if not isinstance(patched, dict):
        raise ApiError(422, "Invalid", "the JSON patch did not produce an object")
    return patched


def _fold_string_data(spec: ResourceSpec, obj: Obj) -> None:
    """As the API server does for Secrets: ``stringData`` is merged into base64 ``data``."""
    if spec is SECRETS and "stringData" in obj:
        data = dict(obj.get("data") or {})
        for key, value in (obj.pop("stringData") or {}).items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        obj["data"] = data


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object whose change bumps ``metadata.generation``."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass
class RecordedRequest:
    """One request as the emulator received it (``status`` set once answered)."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    body: Any
    group: str | None
    version: str | None
    resource: str | None  # the plural, e.g. "drsjobs"
    namespace: str | None
    name: str | None
    subresource: str | None
    status: int | None = None

    @property
    def is_write(self) -> bool:
        return self.method in _WRITE_METHODS


_Key = tuple[tuple[str, str, str], str | None, str]


@dataclass(eq=False)
class _Watch:
    spec: ResourceSpec
    namespace: str | None
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)

    def sees(self, spec: ResourceSpec, namespace: str | None) -> bool:
        return spec is self.spec and (self.namespace is None or self.namespace == namespace)


class Store:
    """The objects, their metadata stamping, and the watch fan-out (no I/O, no kmock).

    Stored objects are never mutated in place: every write stores a new dict,
    so watch events and responses can share them safely.
    """

    def __init__(self, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self._specs = {spec.key: spec for spec in RESOURCES}
        self._objects: dict[_Key, Obj] = {}
        self._rv = 0
        self._history: collections.deque[tuple[int, ResourceSpec, str | None, Obj]] = (
            collections.deque(maxlen=history_limit)
        )
        self._history_floor = 0  # events with a resourceVersion up to this are forgotten
        self._watches: set[_Watch] = set()

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    def spec_for(self, group: str | None, version: str | None, plural: str | None) -> ResourceSpec:
        spec = self._specs.get((group or "", version or "", plural or ""))
        if spec is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return spec

    # -- reading ---------------------------------------------------------------------------------

    def get(self, spec: ResourceSpec, namespace: str | None, name: str) -> Obj:
        obj = self._objects.get((spec.key, self._ns(spec, namespace), name))
        if obj is None:
            raise _not_found(spec, name)
        return obj

    def find(self, spec: ResourceSpec, namespace: str | None, name: str) -> Obj | None:
        return self._objects.get((spec.key, self._ns(spec, namespace), name))

    def objects(self, spec: ResourceSpec, namespace: str | None) -> list[Obj]:
        return [
            obj
            for (key, ns, _), obj in self._objects.items()
            if key == spec.key and (namespace is None or ns == namespace)
        ]

    def list_body(self, spec: ResourceSpec, namespace: str | None) -> Obj:
        return {
            "apiVersion": spec.api_version,
            "kind": f"{spec.kind}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": self.objects(spec, namespace),
        }

    # -- writing ---------------------------------------------------------------------------------

    def create(self, spec: ResourceSpec, namespace: str | None, body: Any) -> Obj:
        if not isinstance(body, Mapping):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        obj: Obj = copy.deepcopy(dict(body))
        meta: Obj = dict(obj.get("metadata") or {})
        if spec.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise ApiError(
                    400, "BadRequest", "the namespace of the object does not match the request"
                )
            namespace = namespace or body_ns
            if not namespace:
                raise ApiError(400, "BadRequest", "a namespaced object needs a namespace")
            meta["namespace"] = namespace
        else:
            namespace = None
            meta.pop("namespace", None)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", "metadata.name or metadata.generateName is required")
            meta["name"] = prefix + "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))
        name: str = meta["name"]
        key = (spec.key, namespace, name)
        if key in self._objects:
            raise ApiError(
                409, "AlreadyExists", f'{spec.qualified} "{name}" already exists', name=name
            )
        _fold_string_data(spec, obj)
        obj.setdefault("apiVersion", spec.api_version)
        obj.setdefault("kind", spec.kind)
        if spec.status_subresource:
            obj.pop("status", None)
            meta["generation"] = 1
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        for transient in ("deletionTimestamp", "resourceVersion"):
            meta.pop(transient, None)
        obj["metadata"] = meta
        return self._store(spec, key, obj, "ADDED")

    def patch(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        subresource: str | None = None,
    ) -> Obj:
        """A merge patch (a JSON object) or a JSON patch (a list of operations)."""
        old = self.get(spec, namespace, name)
        if isinstance(patch, list):
            new = _json_patch(old, patch)
        elif isinstance(patch, Mapping):
            self._check_version(spec, old, patch)
            new = merge_patch(old, patch)
        else:
            raise ApiError(400, "BadRequest", "a patch must be a JSON object or a JSON array")
        return self._update(spec, old, new, subresource=subresource)

    def replace(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
    ) -> Obj:
        old = self.get(spec, namespace, name)
        if not isinstance(body, Mapping):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        if (body.get("metadata") or {}).get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the request")
        self._check_version(spec, old, body)
        return self._update(spec, old, copy.deepcopy(dict(body)), subresource=subresource)

    def delete(self, spec: ResourceSpec, namespace: str | None, name: str) -> Obj:
        old = self.get(spec, namespace, name)
        key = self._key(spec, old)
        if old["metadata"].get("deletionTimestamp"):
            return old
        if old["metadata"].get("finalizers"):
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = _now()
            return self._store(spec, key, new, "MODIFIED")
        return self._remove(spec, key, old)

    def close_watches(self) -> None:
        for watch in list(self._watches):
            watch.queue.put_nowait(None)

    # -- watching --------------------------------------------------------------------------------

    def open_watch(
        self, spec: ResourceSpec, namespace: str | None, since: str | None
    ) -> tuple[_Watch, list[Obj]]:
        """Register a watch; return it with the events to replay first.

        Registration and the replay are computed without yielding, so no event
        falls between them. The replay is either every current object as
        ADDED (no ``since``) or the retained events newer than ``since``; an
        ERROR 410 event ends the replay when ``since`` is too old.
        """
        watch = _Watch(spec, namespace)
        replay: list[Obj]
        if since in (None, "", "0"):
            replay = [{"type": "ADDED", "object": o} for o in self.objects(spec, namespace)]
        else:
            try:
                start = int(str(since))
            except ValueError:
                start = -1
            if start < self._history_floor:
                gone = ApiError(410, "Expired", f"too old resource version: {since} ({self._rv})")
                return watch, [{"type": "ERROR", "object": gone.status()}]
            replay = [
                event for rv, s, ns, event in self._history if rv > start and watch.sees(s, ns)
            ]
        self._watches.add(watch)
        return watch, replay

    def close_watch(self, watch: _Watch) -> None:
        self._watches.discard(watch)

    def bookmark(self, spec: ResourceSpec, *, initial_end: bool = False) -> Obj:
        meta: Obj = {"resourceVersion": str(self._rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {"apiVersion": spec.api_version, "kind": spec.kind, "metadata": meta},
        }

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _ns(spec: ResourceSpec, namespace: str | None) -> str | None:
        return namespace if spec.namespaced else None

    def _key(self, spec: ResourceSpec, obj: Obj) -> _Key:
        meta = obj["metadata"]
        return (spec.key, meta.get("namespace") if spec.namespaced else None, meta["name"])

    @staticmethod
    def _check_version(spec: ResourceSpec, old: Obj, body: Mapping[str, Any]) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {spec.qualified} "{old["metadata"]["name"]}": '
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )

    def _update(self, spec: ResourceSpec, old: Obj, new: Obj, *, subresource: str | None) -> Obj:
        if subresource not in (None, "status") or (subresource and not spec.status_subresource):
            raise ApiError(404, "NotFound", f"subresource {subresource!r} is not served")
        if spec.status_subresource:
            if subresource == "status":
                result = dict(old)
                if "status" in new:
                    result["status"] = new["status"]
                else:
                    result.pop("status", None)
                new = result
            elif "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        meta = dict(new.get("metadata") or {})
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
            else:
                meta.pop(fixed, None)
        _fold_string_data(spec, new)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = old["kind"]
        if "generation" in old["metadata"]:
            bump = _content(new) != _content(old)
            meta["generation"] = old["metadata"]["generation"] + (1 if bump else 0)
        new["metadata"] = meta
        key = self._key(spec, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(spec, key, new)
        return self._store(spec, key, new, "MODIFIED")

    def _store(self, spec: ResourceSpec, key: _Key, obj: Obj, kind: str) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj
        self._emit(spec, key[1], {"type": kind, "object": obj})
        return obj

    def _remove(self, spec: ResourceSpec, key: _Key, last: Obj) -> Obj:
        self._rv += 1
        gone = dict(last)
        gone["metadata"] = dict(last["metadata"], resourceVersion=str(self._rv))
        del self._objects[key]
        self._emit(spec, key[1], {"type": "DELETED", "object": gone})
        return gone

    def _emit(self, spec: ResourceSpec, namespace: str | None, event: Obj) -> None:
        if self._history.maxlen is not None and len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0][0]
        self._history.append((self._rv, spec, namespace, event))
        for watch in self._watches:
            if watch.sees(spec, namespace):
                watch.queue.put_nowait(event)


class RequestLog:
    """A bounded log of requests plus exact per-target counters (never trimmed)."""

    def __init__(self, *, limit: int = DEFAULT_LOG_LIMIT) -> None:
        self._entries: collections.deque[RecordedRequest] = collections.deque(maxlen=limit)
        self._counts: collections.Counter[
            tuple[str, str | None, str | None, str | None, str | None]
        ]
        self._counts = collections.Counter()
        self._seq = 0

    def record(self, entry: RecordedRequest) -> None:
        self._entries.append(entry)
        key = (entry.method, entry.resource, entry.subresource, entry.namespace, entry.name)
        self._counts[key] += 1

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def total(self) -> int:
        return self._seq

    def select(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
        writes_only: bool = False,
    ) -> list[RecordedRequest]:
        return [
            e
            for e in self._entries
            if (method is None or e.method == method.upper())
            and (resource is None or e.resource == resource)
            and (namespace is None or e.namespace == namespace)
            and (name is None or e.name == name)
            and (subresource is ... or e.subresource == subresource)
            and (not writes_only or e.is_write)
        ]

    def count(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
    ) -> int:
        return sum(
            n
            for (m, r, s, ns, nm), n in self._counts.items()
            if (method is None or m == method.upper())
            and (resource is None or r == resource)
            and (namespace is None or ns == namespace)
            and (name is None or nm == name)
            and (subresource is ... or s == subresource)
        )

    def clear(self) -> None:
        self._entries.clear()
        self._counts.clear()


@lru_cache(maxsize=1)
def _handler_class() -> type[Any]:
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

        def _serve_list(self, request: Any) -> Obj:
            return self.store.list_body(self._spec(request), request.namespace)

        def _serve_fetch(self, request: Any) -> Obj:
            if request.subresource not in (None, "status"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.store.get(self._spec(request), request.namespace, request.name)

        def _serve_create(self, request: Any) -> Any:
            obj = self.store.create(self._spec(request), request.namespace, request.data)
            return kmock.Response(status=201, payload=obj)

        def _serve_patch(self, request: Any) -> Obj:
            return self.store.patch(
                self._spec(request),
                request.namespace,
                request.name,
                request.data,
                subresource=request.subresource,
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
            watch, replay = self.store.open_watch(spec, request.namespace, since)
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


class EmulatedCluster:
    """A Kubernetes API emulator served over HTTP on loopback.

    Usage::

        cluster = EmulatedCluster()
        url = await cluster.start()
        cluster.write_kubeconfig(tmp / "kubeconfig", namespace="default")
        cluster.create({"apiVersion": "drs.operators.dev/v1alpha1", "kind": "DrsJob", ...})
        ...
        await cluster.stop()

    The in-process helpers (``create``, ``get``, ``list``, ``patch``, ...) act
    like API requests (stamping, watch events) but are not recorded in the
    request log: the log shows only what clients (the operator) sent.
    """

    def __init__(
        self,
        *,
        log_limit: int = DEFAULT_LOG_LIMIT,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        bookmark_interval: float = BOOKMARK_INTERVAL,
    ) -> None:
        self.store = Store(history_limit=history_limit)
        self.log = RequestLog(limit=log_limit)
        self._bookmark_interval = bookmark_interval
        self._handler: Any = None
        self._runner: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self.url = ""

    @property
    def handler(self) -> Any:
        """The kmock handler, for fault injection: ``cluster.handler['patch'] << 500``.

        Reactions take priority over the emulator's own behaviour; a write
        answered by a reaction is not applied. Slicing reactions
        (``handler['get'][:2]``) only see the last ``KMOCK_LOG_LIMIT`` requests.
        """
        if self._handler is None:
            self._handler = _handler_class()(
                store=self.store, log=self.log, bookmark_interval=self._bookmark_interval
            )
        return self._handler

    @property
    def port(self) -> int:
        if not self.url:
            raise RuntimeError("the emulated cluster is not started")
        return int(self.url.rsplit(":", 1)[1])

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); return the base URL."""
        import aiohttp.web

        if self._exit is not None:
            raise RuntimeError("the emulated cluster is already started")
        handler = self.handler
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(handler)  # kmock's live-stream feeder task
        try:
            runner = aiohttp.web.ServerRunner(
                aiohttp.web.Server(handler, access_log=None),
                handle_signals=False,
                shutdown_timeout=1.0,
            )
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = aiohttp.web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await stack.aclose()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        self._exit = stack
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """End all watch streams and stop serving. Idempotent."""
        if self._exit is None:
            return
        self.store.close_watches()
        await asyncio.sleep(0)  # let the watch streams see the end
        exit_stack, self._exit = self._exit, None
        await exit_stack.aclose()
        self.url = ""

    async def __aenter__(self) -> EmulatedCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig for this cluster (plain HTTP, no credentials)."""
        if not self.url:
            raise RuntimeError("start the emulated cluster before writing a kubeconfig")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
        return path

    # -- in-process object helpers (deep copies in and out) -----------------------------------

    def create(self, obj: Mapping[str, Any], *, resource: str | None = None) -> Obj:
        """Create an object; the resource is taken from ``apiVersion``/``kind`` if not given."""
        spec = resolve(resource) if resource else self._spec_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return copy.deepcopy(self.store.create(spec, namespace, obj))

    def get(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        found = self.store.find(resolve(resource), namespace, name)
        return copy.deepcopy(found) if found is not None else None

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return copy.deepcopy(self.store.objects(resolve(resource), namespace))

    def patch(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any] | builtins.list[Any],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """A merge patch (mapping) or JSON patch (list); ``subresource="status"`` for status."""
        spec = resolve(resource)
        return copy.deepcopy(
            self.store.patch(spec, namespace, name, patch, subresource=subresource)
        )

    def patch_spec(
        self, resource: str, namespace: str | None, name: str, spec: Mapping[str, Any]
    ) -> Obj:
        """Merge-patch ``spec`` (``None`` values delete keys)."""
        return self.patch(resource, namespace, name, {"spec": dict(spec)})

    def patch_status(
        self, resource: str, namespace: str | None, name: str, status: Mapping[str, Any]
    ) -> Obj:
        return self.patch(resource, namespace, name, {"status": dict(status)}, subresource="status")

    def replace(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> Obj:
        spec = resolve(resource)
        return copy.deepcopy(
            self.store.replace(spec, namespace, name, obj, subresource=subresource)
        )

    def delete(self, resource: str, namespace: str | None, name: str) -> bool:
        """Delete (or mark for deletion when finalizers remain); False if it was absent."""
        spec = resolve(resource)
        if self.store.find(spec, namespace, name) is None:
            return False
        self.store.delete(spec, namespace, name)
        return True

    # -- request accounting -------------------------------------------------------------------

    def requests(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
        writes_only: bool = False,
    ) -> builtins.list[RecordedRequest]:
        """Recorded requests (the last ``log_limit``), oldest first, filtered.

        ``resource`` is the plural (``"drsjobs"``); ``subresource=None`` means
        "not a subresource request", ``...`` (the default) means any.
        """
        return self.log.select(
            method=method,
            resource=resource,
            namespace=namespace,
            name=name,
            subresource=subresource,
            writes_only=writes_only,
        )

    def count(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
    ) -> int:
        """How many requests matched since start (exact, not limited by the log bound)."""
        return self.log.count(
            method=method,
            resource=resource,
            namespace=namespace,
            name=name,
            subresource=subresource,
        )

    def status_patch_count(self, *, namespace: str | None = None, name: str | None = None) -> int:
        """PATCH and PUT requests to ``drsjobs/<name>/status``."""
        return sum(
            self.count(
                method=m, resource="drsjobs", namespace=namespace, name=name, subresource="status"
            )
            for m in ("PATCH", "PUT")
        )

    def non_status_writes(
        self, *, resources: Iterable[str] = ("drsjobs", "secrets")
    ) -> builtins.list[RecordedRequest]:
        """Writes to the given resources other than to their ``/status`` (in the log window)."""
        wanted = set(resources)
        return [
            e
            for e in self.log.select(writes_only=True)
            if e.resource in wanted and e.subresource != "status"
        ]

    def _spec_of(self, obj: Mapping[str, Any]) -> ResourceSpec:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        for spec in RESOURCES:
            if spec.api_version == api_version and spec.kind == kind:
                return spec
        raise KeyError(f"no served resource for apiVersion={api_version!r} kind={kind!r}")
