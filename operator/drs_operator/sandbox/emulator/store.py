"""The emulator's object store: objects, metadata stamping, status isolation and watches.

:class:`Store` holds every object by (resource, namespace, name) and applies
writes the way a real API server does: ``uid``/``creationTimestamp``/
``generation`` stamping, one cluster-wide ``resourceVersion`` counter,
``generateName``, Secrets' ``stringData``, the ``status`` subresource kept
apart from the rest, ``resourceVersion`` conflicts (409) and finalizers; with
``validate`` (the HTTP API's writes), a custom resource's schema
(:mod:`drs_operator.sandbox.emulator.validation`). It
also fans write events out to the open watches and keeps a bounded history
of them, so a watch can resume from a ``resourceVersion`` (410 when it is too
old). No I/O and no kmock here: the HTTP side lives in
:mod:`drs_operator.sandbox.emulator.handler`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drs_operator.domain.selectors import Selector
from drs_operator.sandbox.emulator.patches import json_patch, merge_patch
from drs_operator.sandbox.emulator.resources import RESOURCES, SECRETS, ApiError, Obj, ResourceSpec
from drs_operator.sandbox.emulator.validation import admit, defaulted

__all__ = ["DEFAULT_HISTORY_LIMIT", "Store"]

DEFAULT_HISTORY_LIMIT = 10_000  # watch events kept for resumption by resourceVersion
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # as the API server's generateName


def _not_found(spec: ResourceSpec, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{spec.qualified} "{name}" not found', name=name)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


_Key = tuple[tuple[str, str, str], str | None, str]


def _labels(obj: Obj | None) -> Mapping[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _selected(selector: Selector | None, objects: list[Obj]) -> list[Obj]:
    if not selector:
        return objects
    return [obj for obj in objects if selector.matches(_labels(obj))]


@dataclass(eq=False)
class _Watch:
    spec: ResourceSpec
    namespace: str | None
    selector: Selector | None = None
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)

    def sees(self, spec: ResourceSpec, namespace: str | None) -> bool:
        return spec is self.spec and (self.namespace is None or self.namespace == namespace)

    def view(self, event: Obj, old: Obj | None) -> Obj | None:
        """The event as this watch's label selector shows it, or None (not shown).

        As the API server's watch cache does: an object that starts matching
        arrives as ADDED, one that stops matching leaves as DELETED (with its
        previous content and the event's resourceVersion), and changes of an
        object that matches neither before nor after are not shown.
        """
        if not self.selector:
            return event
        obj = event["object"]
        if event["type"] == "DELETED":
            return event if self.selector.matches(_labels(obj)) else None
        now = self.selector.matches(_labels(obj))
        before = old is not None and self.selector.matches(_labels(old))
        if now and not before:
            return {"type": "ADDED", "object": obj}
        if now:
            return event
        if before:
            assert old is not None
            version = obj["metadata"]["resourceVersion"]
            gone = dict(old, metadata=dict(old["metadata"], resourceVersion=version))
            return {"type": "DELETED", "object": gone}
        return None


class Store:
    """The objects, their metadata stamping, and the watch fan-out (no I/O, no kmock).

    Stored objects are never mutated in place: every write stores a new dict,
    so watch events and responses can share them safely.
    """

    def __init__(self, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self._specs = {spec.key: spec for spec in RESOURCES}
        self._objects: dict[_Key, Obj] = {}
        self._rv = 0
        # (resourceVersion, resource, namespace, event, the object before the event)
        self._history: collections.deque[tuple[int, ResourceSpec, str | None, Obj, Obj | None]] = (
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

    def objects(
        self, spec: ResourceSpec, namespace: str | None, selector: Selector | None = None
    ) -> list[Obj]:
        """The objects of a resource (in a namespace), those the label selector selects."""
        return _selected(
            selector,
            [
                obj
                for (key, ns, _), obj in self._objects.items()
                if key == spec.key and (namespace is None or ns == namespace)
            ],
        )

    def list_body(
        self, spec: ResourceSpec, namespace: str | None, selector: Selector | None = None
    ) -> Obj:
        return {
            "apiVersion": spec.api_version,
            "kind": f"{spec.kind}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": self.objects(spec, namespace, selector),
        }

    # -- writing ---------------------------------------------------------------------------------

    def create(
        self, spec: ResourceSpec, namespace: str | None, body: Any, *, validate: bool = False
    ) -> Obj:
        """Store a new object; ``validate``: prune, default and check it against the
        CRD's schema first, as the API server does (:mod:`.validation`)."""
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
        if validate:
            obj = admit(spec, obj)
        return self._store(spec, key, obj, "ADDED")

    def patch(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        subresource: str | None = None,
        validate: bool = False,
    ) -> Obj:
        """A merge patch (a JSON object) or a JSON patch (a list of operations)."""
        old = self.get(spec, namespace, name)
        if isinstance(patch, list):
            new = json_patch(old, patch)
        elif isinstance(patch, Mapping):
            self._check_version(spec, old, patch)
            new = merge_patch(old, patch)
        else:
            raise ApiError(400, "BadRequest", "a patch must be a JSON object or a JSON array")
        return self._update(spec, old, new, subresource=subresource, validate=validate)

    def replace(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        validate: bool = False,
    ) -> Obj:
        old = self.get(spec, namespace, name)
        if not isinstance(body, Mapping):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        if (body.get("metadata") or {}).get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the request")
        self._check_version(spec, old, body)
        new = copy.deepcopy(dict(body))
        return self._update(spec, old, new, subresource=subresource, validate=validate)

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

    def expire_history(self) -> None:
        """Forget the retained events, as a restarted kube-apiserver's watch cache does.

        A watch resumed from any resourceVersion up to now is then answered 410
        (a client must list again); later events are retained as before.
        """
        self._history.clear()
        self._history_floor = self._rv

    # -- watching --------------------------------------------------------------------------------

    def open_watch(
        self,
        spec: ResourceSpec,
        namespace: str | None,
        since: str | None,
        selector: Selector | None = None,
    ) -> tuple[_Watch, list[Obj]]:
        """Register a watch; return it with the events to replay first.

        Registration and the replay are computed without yielding, so no event
        falls between them. The replay is either every current object as
        ADDED (no ``since``) or the retained events newer than ``since``; an
        ERROR 410 event ends the replay when ``since`` is too old. With a label
        ``selector``, only the objects it selects are shown, and objects that
        start or stop matching arrive as ADDED or leave as DELETED.
        """
        watch = _Watch(spec, namespace, selector)
        replay: list[Obj]
        if since in (None, "", "0"):
            replay = [
                {"type": "ADDED", "object": o} for o in self.objects(spec, namespace, selector)
            ]
        else:
            try:
                start = int(str(since))
            except ValueError:
                start = -1
            if start < self._history_floor:
                gone = ApiError(410, "Expired", f"too old resource version: {since} ({self._rv})")
                return watch, [{"type": "ERROR", "object": gone.status()}]
            replay = [
                shown
                for rv, s, ns, event, old in self._history
                if rv > start and watch.sees(s, ns) and (shown := watch.view(event, old))
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

    def _update(
        self, spec: ResourceSpec, old: Obj, new: Obj, *, subresource: str | None, validate: bool
    ) -> Obj:
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
        if validate:
            new = admit(spec, new, old=old)
            if "generation" in old["metadata"]:  # compared as read back: pruned, defaulted
                bump = _content(new) != _content(defaulted(spec, old))
                meta["generation"] = old["metadata"]["generation"] + (1 if bump else 0)
        key = self._key(spec, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(spec, key, new)
        return self._store(spec, key, new, "MODIFIED")

    def _store(self, spec: ResourceSpec, key: _Key, obj: Obj, kind: str) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        old = self._objects.get(key)
        self._objects[key] = obj
        self._emit(spec, key[1], {"type": kind, "object": obj}, old)
        return obj

    def _remove(self, spec: ResourceSpec, key: _Key, last: Obj) -> Obj:
        self._rv += 1
        gone = dict(last)
        gone["metadata"] = dict(last["metadata"], resourceVersion=str(self._rv))
        del self._objects[key]
        self._emit(spec, key[1], {"type": "DELETED", "object": gone})
        return gone

    def _emit(
        self, spec: ResourceSpec, namespace: str | None, event: Obj, old: Obj | None = None
    ) -> None:
        if self._history.maxlen is not None and len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0][0]
        self._history.append((self._rv, spec, namespace, event, old))
        for watch in self._watches:
            if watch.sees(spec, namespace) and (shown := watch.view(event, old)) is not None:
                watch.queue.put_nowait(shown)
