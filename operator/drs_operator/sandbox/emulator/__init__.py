"""An embedded Kubernetes API emulator for the demo and the tests.

``EmulatedCluster`` serves a small Kubernetes API over HTTP on loopback:
DrsJobs (``drs.operators.dev/v1alpha1``, with a ``status`` subresource),
Secrets, Events (core and ``events.k8s.io``), Namespaces, CRDs and
``coordination.k8s.io/v1`` Leases (for leader election). kopf and
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
  ``metadata.resourceVersion`` in a patch or PUT body is checked (409), so
  optimistic concurrency (a Lease's acquire and renew) works as on a real
  API server;
- lists and watches honour ``labelSelector`` (every form of the text syntax,
  :mod:`drs_operator.domain.selectors`); as the API server's watch cache
  does, an object relabelled into a watch's selection arrives as ADDED and
  one relabelled out of it leaves as DELETED;
- lists carry ``kind`` and a real ``resourceVersion``; watches honour
  ``resourceVersion`` (replaying retained events, 410 Expired when too old,
  and for any resourceVersion from before a stop, as after a kube-apiserver
  restart),
  send bookmarks when asked and never lose events between the initial
  replay and the live stream; finalizers delay deletion as in Kubernetes;
- writes through the HTTP API are checked against the DrsJob CRD's schema
  as kube-apiserver does: unknown fields pruned, defaults set, types,
  patterns, lengths, enums and required fields enforced (422 ``Invalid``
  with one cause per field); the in-process helpers store what they get;
- every request is recorded, with its client's User-Agent, in a bounded log
  (:meth:`requests`) and in exact counters (:meth:`count`), and kmock's own
  request log is trimmed so that the cost of a request does not grow with
  the number of earlier requests.

Not emulated: field selectors, server-side apply, the CRD's CEL rules
(jobId immutability, the refreshInterval minimum), strict field validation
(400 for unknown fields), Table output (``kubectl get`` cannot list through
it), admission, namespace existence. All methods must be called from the
event loop thread that started the cluster (or before it starts).

kmock is imported lazily: it is only installed with the ``demo``/``dev``
extras, and this package is importable without it.

Modules (every public name is re-exported here)
===============================================

``resources``
    :class:`ResourceSpec`, the table of served resources (:data:`RESOURCES`,
    :data:`DRSJOBS`, :data:`SECRETS`, ...), :data:`ALIASES`, :func:`resolve`,
    :class:`ApiError` and the ``Obj`` alias.
``patches``
    :func:`merge_patch` (RFC 7386) and ``json_patch`` (RFC 6902, 422 on failure).
``validation``
    ``admit``: a custom resource pruned, defaulted and checked against its schema.
``store``
    :class:`Store`: the objects, metadata stamping, status isolation, the
    watch fan-out and its history (no I/O, no kmock).
``request_log``
    :class:`RecordedRequest` and :class:`RequestLog` (bounded log, exact counters).
``handler``
    ``handler_class()``: the kmock handler class serving the store (kmock is
    imported when it is first called); :data:`KMOCK_LOG_LIMIT`,
    :data:`BOOKMARK_INTERVAL`.
``cluster``
    :class:`EmulatedCluster`: start/stop, kubeconfig, in-process helpers,
    request accounting.
"""

from drs_operator.sandbox.emulator.cluster import EmulatedCluster
from drs_operator.sandbox.emulator.handler import BOOKMARK_INTERVAL, KMOCK_LOG_LIMIT
from drs_operator.sandbox.emulator.patches import merge_patch
from drs_operator.sandbox.emulator.request_log import DEFAULT_LOG_LIMIT, RecordedRequest, RequestLog
from drs_operator.sandbox.emulator.resources import (
    ALIASES,
    CRDS,
    DRSJOBS,
    EVENTS,
    EVENTS_V1,
    LEASES,
    NAMESPACES,
    RESOURCES,
    SECRETS,
    ApiError,
    Obj,
    ResourceSpec,
    resolve,
)
from drs_operator.sandbox.emulator.store import DEFAULT_HISTORY_LIMIT, Store

__all__ = [
    "ALIASES",
    "BOOKMARK_INTERVAL",
    "CRDS",
    "DEFAULT_HISTORY_LIMIT",
    "DEFAULT_LOG_LIMIT",
    "DRSJOBS",
    "EVENTS",
    "EVENTS_V1",
    "KMOCK_LOG_LIMIT",
    "LEASES",
    "NAMESPACES",
    "RESOURCES",
    "SECRETS",
    "ApiError",
    "EmulatedCluster",
    "Obj",
    "RecordedRequest",
    "RequestLog",
    "ResourceSpec",
    "Store",
    "merge_patch",
    "resolve",
]
