"""A Huawei Cloud DRS (batch-detail) + IAM (tokens) simulator, in-process or standalone.

Used by the tests, the demo and the benchmarks. One aiohttp server answers
DRS, IAM and a small admin API on the same base URL. Every handler costs
O(IDs in the request); status progressions are applied lazily per read job.

In-process::

    sim = Simulator(seed=0, clock=time.time)
    sim.add_token("tok", project_id="p1")
    job_id = sim.add_job(status="CREATING", progression=[(5, "CONFIGURATION")])
    url = await sim.start()             # host="127.0.0.1", port=0 (free), ssl_context=None
    ...
    await sim.stop()                    # also: ``async with Simulator(...) as sim``

Standalone: ``drs-operator simulate --port 8900 --scenario file.yaml``
(``--host``, ``--seed``, ``--tls-cert/--tls-key``, ``--mixed-missing``,
``--show-credentials``); without ``--scenario`` it serves the bundled
``drs_operator/data/demo-scenario.yaml``.

Public API
==========

``Simulator(*, scenario: Scenario | None = None, seed: int = 0, token_ttl: float = 86400.0,
clock: Callable[[], float] = time.time, per_page_default: int = 5, per_page_max: int = 100,
max_skew: float = 900.0, mixed_missing: str = "error400", list_key: str = "results")``
    ``scenario`` options override these keyword arguments. ``seed`` makes
    generated IDs/fields and fault draws reproducible. ``clock`` drives token
    expiry, progressions, ``update_time`` and the AK/SK date check.
    Attributes (mutable at run time): ``url`` (``""`` until started),
    ``per_page_default``, ``per_page_max``, ``max_skew``, ``mixed_missing``,
    ``list_key``, ``token_ttl``, ``faults`` (:class:`Faults`), ``stats`` (:class:`Stats`).

``await start(*, host="127.0.0.1", port=0, ssl_context=None) -> str``
    the base URL (``http[s]://host:port``); DRS and IAM share it.
``await stop() -> None`` (idempotent).
``add_token(token, *, project_id=None)``: a static token, never expires; ``None``: any project.
``add_user(*, name, password, domain, project_id, project_name=None)``: an IAM password login.
``add_access_key(*, access_key, secret_key, security_token=None)``: AK/SK, any project.
``revoke_tokens()``: every token accepted so far (issued and static) gets 401 APIG.0301.
``add_job(job: Mapping | None = None, *, job_id=None, status=None, progression=(),
project_id=None, **fields) -> str``
    returns the ID (generated when absent: UUID layout ending in ``jb21``).
    Realistic defaults include secrets (``db_password``, ``ssl_cert_key``,
    ``ssl_cert_password``, ``ssl_cert_check_sum``, sometimes ``kerberos``), each
    containing :data:`SECRET_MARKER` (``"SIMSECRET"``); ``node_num`` is sometimes
    the string ``"1"``. Precedence: defaults < ``job`` dict (may hold ``id``,
    ``status``, ``progression``, ``project_id``) < keywords; endpoint and
    ``inst_info`` dicts merge one level deep. ``status`` defaults to
    ``INCRE_TRANSFER_STARTED``. ``progression``: ``[(seconds, status)]`` or
    ``[(seconds, status, {fields})]``, seconds after the simulator started (or
    after the job was added to a running one), applied lazily when read;
    ``update_time`` is the moment of each status change; a ``*_FAILED`` status
    fills ``error_code``/``error_message``/``failed_reason``. A job with a
    ``project_id`` is only visible in that project. ``ValueError`` for a bad or
    duplicate ID.
``set_status(job_id, status, **fields)``: now; cancels the rest of the progression. KeyError.
``delete_job(job_id)``: answered DRS.M05004 afterwards. KeyError if unknown.
``job(job_id) -> dict``: a deep copy of the current item. KeyError if unknown or deleted.
``job_ids() -> list[str]``; ``load_scenario(scenario)``.

``Faults`` (``sim.faults``; ``faults.reset()``, ``faults.update(mapping)``): ``latency``,
``throttle_ratio``, ``busy_ratio``, ``in_progress_ratio``, ``server_error_ratio``,
``malformed_ratio``, ``truncated_ratio``, ``empty_results_ratio``, ``drop_ids_ratio``,
``duplicate_items_ratio``, ``count_inflate``, ``ignore_paging``, ``clock_skew``,
``retry_after``; see :mod:`drs_operator.sandbox.simulator.faults`.

``Stats`` (``sim.stats``; ``stats.reset()``): ``requests: list[RequestRecord]`` (a copy
of the last 100,000; ``RequestRecord(time, path, http_status, error_code, auth_mode
"token"|"aksk"|"none", ids: tuple[str, ...], page: int | None)``; DRS and IAM
requests, not admin ones; IAM failures carry ``error_code="IAM.<status>"``),
``batch_detail_calls`` (every call, failed ones too),
``ids_per_call: list[int]`` (last 100,000), ``ids_requested``, ``iam_token_requests``,
``by_status: Counter[int]`` (HTTP status), ``by_error_code: Counter[str]``, ``summary()``.

``Scenario.from_file(path)`` / ``Scenario.from_dict(data)`` → :class:`Scenario`, or
:class:`ScenarioError` naming the file and field path (layout in
:mod:`drs_operator.sandbox.simulator.scenario`).

HTTP behaviour
==============

``POST /v3/auth/tokens`` (IAM): password method, ``user.name``/``password``/
``domain.name``, ``scope.project.id`` or ``.name``. 201 with ``X-Subject-Token``
and ``{"token": {"expires_at", "issued_at", "project": {"id", ...}, ...}}``;
400/401 ``{"error": {"code", "message", "title"}}``.

``POST /v3/{project_id}/jobs/batch-detail``, checked in this order:

1. ``faults.latency``.
2. Auth. ``X-Auth-Token`` (wins if both are sent): unknown or revoked → 401
   ``APIG.0301``; expired → 401 ``APIG.0307``; scoped to another project → 403
   ``DRS.M00261``. Otherwise ``Authorization: SDK-HMAC-SHA256 ...`` (checked
   with :func:`drs_operator.drs.signing.verify`): ``X-Sdk-Date`` missing/bad or
   more than ``max_skew`` from ``clock() + faults.clock_skew`` → 401 ``APIG.0301``
   ("clock skew"); bad signature or unknown AK → 401 ``APIG.0301``; wrong
   ``X-Security-Token`` for a temporary key → 401 ``APIG.0301``; ``X-Project-Id``
   missing → 401 ``APIG.0301``, not the path's project → 403 ``DRS.M00261``.
   Neither header → 401 ``APIG.0301``.
3. Error faults: 429 ``APIG.0308`` (+ ``Retry-After`` when ``faults.retry_after``),
   400 ``DRS.M01503``, 202 ``DRS.M01504``, 500 ``DRS.M00500`` / 503 ``APIG.0202``.
4. Headers: no ``X-Language``, or a Content-Type other than ``application/json``
   → 400 ``DRS.M00201``.
5. Body: not an object; ``jobs`` missing, empty, not a list, an item not a
   36-char UUID-layout ``[a-z0-9]`` string, or a duplicate; ``page_req`` not
   an object, ``cur_page`` < 1, ``per_page`` < 0 or > ``per_page_max`` or not
   integers → 400 ``DRS.M00202``.
6. Lookup, in request order. All IDs missing → 400
   ``{"results": [{"id", "error_code", "error_message"}], "count": n}`` with
   ``DRS.M05004`` (deleted) or ``DRS.M00289`` (never existed, or in another
   project). Found and missing mixed: ``mixed_missing="error400"`` (default,
   a strict server) → the same 400 listing the missing IDs only;
   ``"items200"`` → 200 whose list holds the found items and the error items,
   in request order.
7. 200 ``{<list_key>: page, "count": total}``: ``list_key`` is ``results``
   (or ``jobs``, the reference page's variant); ``count`` is the number of
   entries for the whole request; the page is ``[(cur_page-1)*per_page :
   +per_page]``, ``per_page`` defaulting to ``per_page_default`` (5), ``0`` =
   all. Body faults: malformed (not JSON), truncated, empty, dropped items
   (count adjusted), a duplicated item (count not), ``count_inflate``,
   ``ignore_paging``.

Every response carries a unique ``X-Request-Id``; DRS error bodies are
``{"error_code", "error_msg"}``.

Admin API (no authentication: a loopback testing tool, never expose it)
----------------------------------------------------------------------
``GET /_sim/stats`` (``Stats.summary()`` + ``jobs`` + ``faults``);
``GET|POST /_sim/faults`` (POST an object of fault fields, ``"reset": true`` first
resets; 400 for an unknown field or bad value); ``GET /_sim/jobs`` (every job's ``id``,
current ``status`` and ``name``: ``{"jobs": [...]}``); ``POST /_sim/jobs`` (a job spec as in
a scenario, a list of them, ``{"jobs": [...]}``, or ``{"count": N, ...template}`` →
201 ``{"ids": [...]}``); ``GET /_sim/jobs/{id}``; ``POST /_sim/jobs/{id}/status``
(``{"status": S, ...fields}``); ``DELETE /_sim/jobs/{id}``; ``POST /_sim/tokens``
(``{"token", "project_id"}``); ``POST /_sim/revoke-tokens``; ``POST /_sim/reset-stats``.

Modules
=======

``server``
    :class:`Simulator`, the facade: construction, ``start``/``stop``, the route
    table, the ``X-Request-Id`` middleware. It composes the parts below
    (``Simulator(DrsApi, AdminApi)``; ``DrsApi`` derives from ``IamApi``, which
    derives from ``FaultInjection``; every part derives from ``SimulatorState``
    and they share ``self``).
``state``
    ``SimulatorState``: settings, ``faults``, ``stats``, RNGs, the job store and
    the accepted credentials; the configuration and job methods above.
``drs_api``
    ``DrsApi``: ``POST /v3/{project_id}/jobs/batch-detail`` (checks, lookup,
    ``mixed_missing`` modes, paging).
``iam``
    ``IamApi``: ``POST /v3/auth/tokens``, and authenticating token and AK/SK requests.
``fault_injection``
    ``FaultInjection``: applies ``faults`` (latency, error answers, body faults).
``admin``
    ``AdminApi``: the ``/_sim/...`` routes.
``wire``
    error codes and messages, ``Answer`` and the JSON helpers the handlers share.
``stats``
    :class:`Stats` and :class:`RequestRecord`.
``faults``
    :class:`Faults`, the fault configuration (fields, validation).
``jobs``
    the job store: realistic job items, lazy status progressions, :data:`SECRET_MARKER`.
``scenario``
    :class:`Scenario` files and their validation (:class:`ScenarioError`).
"""

from drs_operator.sandbox.simulator.faults import Faults, FaultsError
from drs_operator.sandbox.simulator.jobs import SECRET_MARKER, new_job_id
from drs_operator.sandbox.simulator.scenario import Scenario, ScenarioError
from drs_operator.sandbox.simulator.server import RequestRecord, Simulator, Stats

__all__ = [
    "SECRET_MARKER",
    "Faults",
    "FaultsError",
    "RequestRecord",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "Stats",
    "new_job_id",
]
