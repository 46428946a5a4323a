"""The simulator's HTTP server: DRS batch-detail, IAM tokens and the admin API.

See the package docstring (:mod:`drs_operator.sandbox.simulator`) for the contract.
Every handler costs O(IDs in the request): lookups are dict hits and status
progressions are applied lazily per requested job.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import json
import ssl
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any

from aiohttp import web

from drs_operator.drs import signing
from drs_operator.sandbox.simulator.faults import Faults, FaultsError
from drs_operator.sandbox.simulator.jobs import (
    DEFAULT_STATUS,
    JOB_ID_RE,
    JobStore,
    make_job,
    merge_fields,
    new_job_id,
    normalize_progression,
)
from drs_operator.sandbox.simulator.scenario import (
    LIST_KEYS,
    MIXED_MISSING_MODES,
    JobSpec,
    Scenario,
    ScenarioError,
)

__all__ = [
    "CODE_BAD_HEADER",
    "CODE_BAD_REQUEST",
    "CODE_DELETED",
    "CODE_NOT_FOUND",
    "RequestRecord",
    "Simulator",
    "Stats",
]

# --- error codes and messages the simulator answers with ---------------------------------
CODE_AUTH = "APIG.0301"  # token missing/invalid/revoked, bad signature, clock skew
CODE_TOKEN_EXPIRED = "APIG.0307"  # token past its expires_at
CODE_THROTTLED = "APIG.0308"  # 429
CODE_BUSY = "DRS.M01503"  # 400 operation too frequent
CODE_IN_PROGRESS = "DRS.M01504"  # 202 another operation in progress
CODE_SERVER = "DRS.M00500"  # 500 (simulated service error)
CODE_UNAVAILABLE = "APIG.0202"  # 503 backend unavailable
CODE_WRONG_PROJECT = "DRS.M00261"  # 403 token/X-Project-Id scoped to another project
CODE_BAD_HEADER = "DRS.M00201"  # 400 X-Language missing, Content-Type not JSON
CODE_BAD_REQUEST = "DRS.M00202"  # 400 body invalid: jobs / page_req
CODE_NOT_FOUND = "DRS.M00289"  # per item: the job never existed (here)
CODE_DELETED = "DRS.M05004"  # per item: the job was deleted

MSG_NOT_FOUND = "The job does not exist."
MSG_DELETED = "The job has been deleted."
MALFORMED_BODY = b'{"count": 1, "results": [{"id": "<html>upstream reset</html>", }'

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_LOG_MAX = 100_000


@dataclass(frozen=True)
class RequestRecord:
    """One DRS or IAM request as the simulator saw it (admin calls are not recorded)."""

    time: float
    path: str
    http_status: int
    error_code: str | None
    auth_mode: str  # "token" | "aksk" | "none"
    ids: tuple[str, ...]
    page: int | None


class Stats:
    """Counters for tests and benchmarks; the per-request logs are capped."""

    def __init__(self, *, maxlen: int = REQUEST_LOG_MAX) -> None:
        self._requests: deque[RequestRecord] = deque(maxlen=maxlen)
        self._ids_per_call: deque[int] = deque(maxlen=maxlen)
        self.batch_detail_calls = 0
        self.iam_token_requests = 0
        self.ids_requested = 0
        self.by_status: Counter[int] = Counter()
        self.by_error_code: Counter[str] = Counter()

    @property
    def requests(self) -> list[RequestRecord]:
        """The most recent requests (at most ``REQUEST_LOG_MAX``), oldest first (a copy)."""
        return list(self._requests)

    @property
    def ids_per_call(self) -> list[int]:
        """IDs requested per batch-detail call, most recent ``REQUEST_LOG_MAX`` (a copy)."""
        return list(self._ids_per_call)

    def reset(self) -> None:
        """Zero every counter and clear the logs."""
        self._requests.clear()
        self._ids_per_call.clear()
        self.batch_detail_calls = 0
        self.iam_token_requests = 0
        self.ids_requested = 0
        self.by_status.clear()
        self.by_error_code.clear()

    def record(self, record: RequestRecord, *, batch_detail: bool) -> None:
        self._requests.append(record)
        self.by_status[record.http_status] += 1
        if record.error_code:
            self.by_error_code[record.error_code] += 1
        if batch_detail:
            self.batch_detail_calls += 1
            self.ids_requested += len(record.ids)
            self._ids_per_call.append(len(record.ids))

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (what ``GET /_sim/stats`` answers)."""
        per_call = self._ids_per_call
        return {
            "requests": sum(self.by_status.values()),
            "batch_detail_calls": self.batch_detail_calls,
            "iam_token_requests": self.iam_token_requests,
            "ids_requested": self.ids_requested,
            "ids_per_call": {
                "mean": (sum(per_call) / len(per_call)) if per_call else 0.0,
                "max": max(per_call, default=0),
            },
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_error_code": dict(sorted(self.by_error_code.items())),
        }


@dataclass
class _TokenInfo:
    project_id: str | None
    expires_at: float | None
    revoked: bool = False


@dataclass(frozen=True)
class _User:
    password: str
    project_id: str
    project_name: str | None


@dataclass(frozen=True)
class _AccessKey:
    secret_key: str
    security_token: str | None


@dataclass
class _Answer:
    status: int
    body: bytes
    error_code: str | None = None
    headers: Mapping[str, str] | None = None


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _error(status: int, code: str, message: str, **headers: str) -> _Answer:
    return _Answer(status, _json({"error_code": code, "error_msg": message}), code, headers)


def _iam_error(status: int, title: str, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "title": title}}
    return web.json_response(body, status=status)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


class Simulator:
    """A Huawei Cloud DRS + IAM look-alike on one aiohttp server (see the package docs)."""

    def __init__(
        self,
        *,
        scenario: Scenario | None = None,
        seed: int = 0,
        token_ttl: float = 86400.0,
        clock: Callable[[], float] = time.time,
        per_page_default: int = 5,
        per_page_max: int = 100,
        max_skew: float = 900.0,
        mixed_missing: str = "error400",
        list_key: str = "results",
    ) -> None:
        if mixed_missing not in MIXED_MISSING_MODES:
            raise ValueError(f"mixed_missing must be one of {MIXED_MISSING_MODES}")
        if list_key not in LIST_KEYS:
            raise ValueError(f"list_key must be one of {LIST_KEYS}")
        self.token_ttl = token_ttl
        self.per_page_default = per_page_default
        self.per_page_max = per_page_max
        self.max_skew = max_skew
        self.mixed_missing = mixed_missing
        self.list_key = list_key
        self.faults = Faults()
        self.stats = Stats()
        self.url = ""
        self._clock = clock
        self._fault_rng = Random(seed)
        self._job_rng = Random(seed + 1)
        self._serial = 0
        self._store = JobStore(clock=clock)
        self._tokens: dict[str, _TokenInfo] = {}
        self._users: dict[tuple[str, str], _User] = {}
        self._access_keys: dict[str, _AccessKey] = {}
        self._runner: web.AppRunner | None = None
        if scenario is not None:
            self.load_scenario(scenario)

    # --- configuration ------------------------------------------------------------------

    def load_scenario(self, scenario: Scenario) -> None:
        """Apply a scenario: its options override the constructor's; adds its credentials/jobs."""
        options = dict(scenario.options)
        for key in ("per_page_default", "per_page_max", "mixed_missing", "list_key"):
            if key in options:
                setattr(self, key, options[key])
        if "token_ttl" in options:
            self.token_ttl = float(options["token_ttl"])
        for token in scenario.tokens:
            self.add_token(token.token, project_id=token.project_id)
        for user in scenario.users:
            self.add_user(
                name=user.name,
                password=user.password,
                domain=user.domain,
                project_id=user.project_id,
                project_name=user.project_name,
            )
        for access in scenario.access_keys:
            self.add_access_key(
                access_key=access.access_key,
                secret_key=access.secret_key,
                security_token=access.security_token,
            )
        self._add_job_specs(scenario.jobs)
        for job_id in scenario.deleted_jobs:
            self._store.mark_deleted(job_id)

    def _add_job_specs(self, specs: Sequence[JobSpec]) -> list[str]:
        return [
            self.add_job(
                dict(spec.fields),
                job_id=spec.id,
                status=spec.status,
                progression=spec.progression,
                project_id=spec.project_id,
            )
            for spec in specs
        ]

    def add_token(self, token: str, *, project_id: str | None = None) -> None:
        """Accept a static token (never expires) for ``project_id`` (None: any project)."""
        self._tokens[token] = _TokenInfo(project_id=project_id, expires_at=None)

    def add_user(
        self,
        *,
        name: str,
        password: str,
        domain: str,
        project_id: str,
        project_name: str | None = None,
    ) -> None:
        """Accept an IAM password login; the token is scoped to ``project_id`` (or its name)."""
        self._users[(domain, name)] = _User(password, project_id, project_name)

    def add_access_key(
        self, *, access_key: str, secret_key: str, security_token: str | None = None
    ) -> None:
        """Accept AK/SK signatures with this key (for any project named by X-Project-Id)."""
        self._access_keys[access_key] = _AccessKey(secret_key, security_token)

    def revoke_tokens(self) -> None:
        """Every token accepted so far (issued or static) is answered 401 APIG.0301 from now on."""
        for info in self._tokens.values():
            info.revoked = True

    # --- jobs ---------------------------------------------------------------------------

    def add_job(
        self,
        job: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        status: str | None = None,
        progression: Sequence[Sequence[Any]] = (),
        project_id: str | None = None,
        **fields: Any,
    ) -> str:
        """Add a job with realistic defaults (secrets included); returns its ID.

        Precedence: generated defaults < ``job`` (API-shaped fields, may hold
        ``id``/``status``/``progression``/``project_id``) < keyword arguments.
        ``status`` defaults to ``INCRE_TRANSFER_STARTED``. Raises ``ValueError``
        for a bad or duplicate ID or a bad progression.
        """
        spec = dict(job or {})
        spec_id = spec.pop("id", None)
        spec_status = spec.pop("status", None)
        spec_progression = spec.pop("progression", None)
        spec_project = spec.pop("project_id", None)
        jid = job_id or spec_id or new_job_id(self._job_rng)
        if not isinstance(jid, str) or not JOB_ID_RE.match(jid):
            raise ValueError(f"not a job ID (36 chars, UUID layout, a-z0-9): {jid!r}")
        if jid in self._store:
            raise ValueError(f"job {jid} already exists")
        steps = normalize_progression(progression or spec_progression or ())
        project = project_id or spec_project
        self._serial += 1
        item = make_job(
            job_id=jid,
            status=status or spec_status or DEFAULT_STATUS,
            now=self._clock(),
            rng=self._job_rng,
            project_id=project,
            serial=self._serial,
        )
        merge_fields(item, spec)
        merge_fields(item, fields)
        self._store.add(item, project_id=project, progression=steps)
        return jid

    def set_status(self, job_id: str, status: str, **fields: Any) -> None:
        """Set a job's status now (and merge ``fields``); cancels its remaining progression."""
        self._store.set_status(job_id, status, fields)

    def delete_job(self, job_id: str) -> None:
        """Delete a job: batch-detail answers it as deleted (DRS.M05004). KeyError if unknown."""
        if job_id not in self._store:
            raise KeyError(job_id)
        self._store.mark_deleted(job_id)

    def job(self, job_id: str) -> dict[str, Any]:
        """A copy of the job's current item (progression applied). KeyError if unknown."""
        item = self._store.get(job_id)
        if item is None:
            raise KeyError(job_id)
        return copy.deepcopy(item)

    def job_ids(self) -> list[str]:
        """The IDs of every existing job, in insertion order."""
        return self._store.ids()

    # --- lifecycle ----------------------------------------------------------------------

    async def start(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> str:
        """Serve DRS, IAM and the admin API; returns the base URL (also ``self.url``)."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        app = web.Application(middlewares=[self._request_id_middleware])
        app.router.add_post("/v3/auth/tokens", self._handle_iam)
        app.router.add_post("/v3/{project_id}/jobs/batch-detail", self._handle_batch_detail)
        app.router.add_get("/_sim/stats", self._admin_stats)
        app.router.add_get("/_sim/faults", self._admin_get_faults)
        app.router.add_post("/_sim/faults", self._admin_faults)
        app.router.add_post("/_sim/jobs", self._admin_add_jobs)
        app.router.add_get("/_sim/jobs/{job_id}", self._admin_get_job)
        app.router.add_post("/_sim/jobs/{job_id}/status", self._admin_set_status)
        app.router.add_delete("/_sim/jobs/{job_id}", self._admin_delete_job)
        app.router.add_post("/_sim/tokens", self._admin_add_token)
        app.router.add_post("/_sim/revoke-tokens", self._admin_revoke)
        app.router.add_post("/_sim/reset-stats", self._admin_reset_stats)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{bound}"
        self._store.start()
        return self.url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- plumbing -----------------------------------------------------------------------

    @web.middleware
    async def _request_id_middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        request_id = uuid.uuid4().hex
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    async def _latency(self) -> None:
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)

    @staticmethod
    def _respond(answer: _Answer) -> web.Response:
        response = web.Response(
            status=answer.status, body=answer.body, content_type="application/json"
        )
        for name, value in (answer.headers or {}).items():
            response.headers[name] = value
        return response

    # --- IAM ----------------------------------------------------------------------------

    async def _handle_iam(self, request: web.Request) -> web.Response:
        self.stats.iam_token_requests += 1
        await self._latency()
        response = await self._issue_token(request)
        code = None if response.status < 400 else f"IAM.{response.status}"
        self.stats.record(
            RequestRecord(self._clock(), request.path, response.status, code, "none", (), None),
            batch_detail=False,
        )
        return response

    async def _issue_token(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _iam_error(400, "Bad Request", "The request body is not valid JSON.")
        auth = _dig(body, "auth")
        methods = _dig(auth, "identity", "methods")
        user = _dig(auth, "identity", "password", "user")
        name, password = _dig(user, "name"), _dig(user, "password")
        domain = _dig(user, "domain", "name")
        scope_id = _dig(auth, "scope", "project", "id")
        scope_name = _dig(auth, "scope", "project", "name")
        if not isinstance(methods, list) or "password" not in methods:
            return _iam_error(400, "Bad Request", "Only the password method is supported.")
        if not all(isinstance(v, str) and v for v in (name, password, domain)):
            return _iam_error(400, "Bad Request", "User name, password and domain are required.")
        if not (isinstance(scope_id, str) and scope_id) and not (
            isinstance(scope_name, str) and scope_name
        ):
            return _iam_error(400, "Bad Request", "A project scope (id or name) is required.")
        account = self._users.get((str(domain), str(name)))
        if account is None or not hmac.compare_digest(
            account.password.encode(), str(password).encode()
        ):
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        if scope_id is not None and scope_id != account.project_id:
            return _iam_error(401, "Unauthorized", "The user has no access to the project.")
        if scope_id is None and scope_name != account.project_name:
            return _iam_error(401, "Unauthorized", "The user has no access to the project.")
        now = self._clock()
        token = "MII" + uuid.uuid4().hex + uuid.uuid4().hex
        self._tokens[token] = _TokenInfo(account.project_id, now + self.token_ttl)
        payload = {
            "token": {
                "methods": ["password"],
                "expires_at": _iso(now + self.token_ttl),
                "issued_at": _iso(now),
                "user": {
                    "name": name,
                    "id": uuid.uuid5(uuid.NAMESPACE_OID, f"{domain}/{name}").hex,
                    "domain": {
                        "name": domain,
                        "id": uuid.uuid5(uuid.NAMESPACE_OID, str(domain)).hex,
                    },
                    "password_expires_at": "",
                },
                "project": {
                    "id": account.project_id,
                    "name": account.project_name or "",
                    "domain": {"name": domain},
                },
                "catalog": [],
                "roles": [{"name": "drs_adm", "id": "0"}],
            }
        }
        response = web.json_response(payload, status=201)
        response.headers["X-Subject-Token"] = token
        return response

    # --- DRS batch-detail ---------------------------------------------------------------

    async def _handle_batch_detail(self, request: web.Request) -> web.Response:
        await self._latency()
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        jobs = _dig(parsed, "jobs")
        ids = tuple(j for j in jobs if isinstance(j, str)) if isinstance(jobs, list) else ()
        page = _dig(parsed, "page_req", "cur_page")
        if "X-Auth-Token" in request.headers:
            mode = "token"
        elif "Authorization" in request.headers:
            mode = "aksk"
        else:
            mode = "none"
        answer = self._batch_detail(request, raw, parsed, mode)
        self.stats.record(
            RequestRecord(
                time=self._clock(),
                path=request.path,
                http_status=answer.status,
                error_code=answer.error_code,
                auth_mode=mode,
                ids=ids,
                page=page if isinstance(page, int) and not isinstance(page, bool) else None,
            ),
            batch_detail=True,
        )
        return self._respond(answer)

    def _batch_detail(self, request: web.Request, raw: bytes, parsed: Any, mode: str) -> _Answer:
        project = request.match_info["project_id"]
        denied = self._authenticate(request, raw, project, mode)
        if denied is not None:
            return denied
        fault = self._error_fault()
        if fault is not None:
            return fault
        if "X-Language" not in request.headers:
            return _error(400, CODE_BAD_HEADER, "The X-Language header is required.")
        if not request.headers.get("Content-Type", "").lower().startswith("application/json"):
            return _error(400, CODE_BAD_HEADER, "The Content-Type must be application/json.")
        checked = self._check_body(parsed)
        if isinstance(checked, _Answer):
            return checked
        ids, cur_page, per_page = checked
        return self._lookup(project, ids, cur_page, per_page)

    def _authenticate(
        self, request: web.Request, raw: bytes, project: str, mode: str
    ) -> _Answer | None:
        if mode == "token":
            info = self._tokens.get(request.headers["X-Auth-Token"])
            if info is None or info.revoked:
                return _error(
                    401, CODE_AUTH, "Incorrect IAM authentication information: token invalid."
                )
            if info.expires_at is not None and self._clock() >= info.expires_at:
                return _error(401, CODE_TOKEN_EXPIRED, "The token must be updated.")
            if info.project_id is not None and info.project_id != project:
                return _error(403, CODE_WRONG_PROJECT, "The project ID is invalid for this token.")
            return None
        if mode == "aksk":
            return self._authenticate_aksk(request, raw, project)
        return _error(
            401, CODE_AUTH, "Incorrect IAM authentication information: no credentials given."
        )

    def _authenticate_aksk(self, request: web.Request, raw: bytes, project: str) -> _Answer | None:
        headers = request.headers
        try:
            stamp = (
                datetime.strptime(headers.get(signing.DATE_HEADER, ""), signing.SDK_DATE_FORMAT)
                .replace(tzinfo=UTC)
                .timestamp()
            )
        except ValueError:
            return _error(
                401, CODE_AUTH, "Incorrect IAM authentication information: bad X-Sdk-Date."
            )
        now = self._clock() + self.faults.clock_skew
        if abs(stamp - now) > self.max_skew:
            return _error(
                401,
                CODE_AUTH,
                "Incorrect IAM authentication information: clock skew between the request "
                "date and the server time is too large.",
            )
        path, _, query = request.raw_path.partition("?")
        access = signing.verify(
            authorization=headers["Authorization"],
            secret_key_for=self._secret_key_for,
            method=request.method,
            path=path,
            query=query,
            headers=headers,
            body=raw,
        )
        if access is None:
            return _error(
                401,
                CODE_AUTH,
                "Incorrect IAM authentication information: verify aksk signature fail.",
            )
        expected_token = self._access_keys[access].security_token
        if expected_token is not None and not hmac.compare_digest(
            expected_token.encode(), headers.get("X-Security-Token", "").encode()
        ):
            return _error(
                401, CODE_AUTH, "Incorrect IAM authentication information: bad security token."
            )
        header_project = headers.get("X-Project-Id")
        if not header_project:
            return _error(
                401, CODE_AUTH, "Incorrect IAM authentication information: X-Project-Id missing."
            )
        if header_project != project:
            return _error(403, CODE_WRONG_PROJECT, "X-Project-Id does not match the project ID.")
        return None

    def _secret_key_for(self, access_key: str) -> str | None:
        key = self._access_keys.get(access_key)
        return key.secret_key if key is not None else None

    def _error_fault(self) -> _Answer | None:
        faults, rng = self.faults, self._fault_rng
        if faults.hit(rng, faults.throttle_ratio):
            extra = {}
            if faults.retry_after is not None:
                extra["Retry-After"] = f"{faults.retry_after:g}"
            answer = _error(429, CODE_THROTTLED, "The API has been throttled.")
            answer.headers = extra
            return answer
        if faults.hit(rng, faults.busy_ratio):
            return _error(400, CODE_BUSY, "The operation is too frequent. Try again later.")
        if faults.hit(rng, faults.in_progress_ratio):
            return _error(202, CODE_IN_PROGRESS, "Another operation is in progress.")
        if faults.hit(rng, faults.server_error_ratio):
            if rng.random() < 0.5:
                return _error(500, CODE_SERVER, "Internal server error.")
            return _error(503, CODE_UNAVAILABLE, "Backend unavailable.")
        return None

    def _check_body(self, parsed: Any) -> _Answer | tuple[list[str], int, int]:
        def bad(message: str) -> _Answer:
            return _error(400, CODE_BAD_REQUEST, f"Invalid request: {message}")

        if not isinstance(parsed, dict):
            return bad("the body must be a JSON object.")
        jobs = parsed.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            return bad("jobs must be a non-empty list of job IDs.")
        seen: set[str] = set()
        for index, job_id in enumerate(jobs):
            if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
                return bad(f"jobs[{index}] is not a valid job ID.")
            if job_id in seen:
                return bad(f"jobs[{index}] is a duplicate job ID.")
            seen.add(job_id)
        cur_page, per_page = 1, self.per_page_default
        page_req = parsed.get("page_req")
        if page_req is not None:
            if not isinstance(page_req, dict):
                return bad("page_req must be an object.")
            cur_page = page_req.get("cur_page", 1)
            per_page = page_req.get("per_page", self.per_page_default)
            for name, value, low in (("cur_page", cur_page, 1), ("per_page", per_page, 0)):
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    return bad(f"page_req.{name} must be an integer >= {low}.")
            if per_page > self.per_page_max:
                return bad(f"page_req.per_page must be at most {self.per_page_max}.")
        return jobs, cur_page, per_page

    def _lookup(self, project: str, ids: list[str], cur_page: int, per_page: int) -> _Answer:
        store = self._store
        found: list[dict[str, Any]] = []
        missing: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        for job_id in ids:
            item = store.get(job_id, project_id=project)
            if item is None:
                if store.is_deleted(job_id):
                    error = {"id": job_id, "error_code": CODE_DELETED, "error_message": MSG_DELETED}
                else:
                    error = {
                        "id": job_id,
                        "error_code": CODE_NOT_FOUND,
                        "error_message": MSG_NOT_FOUND,
                    }
                missing.append(error)
                entries.append(error)
            else:
                found.append(item)
                entries.append(item)
        if missing and (not found or self.mixed_missing == "error400"):
            body = _json({"results": missing, "count": len(missing)})
            return _Answer(400, body, str(missing[0]["error_code"]))
        listing = entries if missing else found
        return self._page(listing, cur_page, per_page)

    def _page(self, listing: list[dict[str, Any]], cur_page: int, per_page: int) -> _Answer:
        faults, rng = self.faults, self._fault_rng
        if faults.hit(rng, faults.malformed_ratio):
            return _Answer(200, MALFORMED_BODY)
        truncate = faults.hit(rng, faults.truncated_ratio)
        if faults.hit(rng, faults.empty_results_ratio):
            listing = []
        if listing and faults.hit(rng, faults.drop_ids_ratio):
            drop = set(rng.sample(range(len(listing)), max(1, len(listing) // 2)))
            listing = [item for index, item in enumerate(listing) if index not in drop]
        total = len(listing)
        if faults.ignore_paging or per_page == 0:
            page_items = listing
        else:
            start = (cur_page - 1) * per_page
            page_items = listing[start : start + per_page]
        if page_items and faults.hit(rng, faults.duplicate_items_ratio):
            index = rng.randrange(len(page_items))
            page_items = [*page_items[: index + 1], *page_items[index:]]
        body = _json({self.list_key: page_items, "count": total + faults.count_inflate})
        if truncate:
            body = body[: max(1, len(body) // 2)]
        return _Answer(200, body)

    # --- admin API (no auth: loopback testing tool) -------------------------------------

    async def _admin_json(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"{}")
        except ValueError:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "body is not valid JSON"}),
                content_type="application/json",
            ) from None

    @staticmethod
    def _admin_error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _admin_stats(self, request: web.Request) -> web.Response:
        summary = self.stats.summary()
        summary["jobs"] = len(self._store)
        summary["faults"] = self.faults.as_dict()
        return web.json_response(summary)

    async def _admin_get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.as_dict())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        if not isinstance(data, dict):
            return self._admin_error(400, "body must be an object of fault fields")
        data = dict(data)
        reset = data.pop("reset", False)
        if reset is True:
            self.faults.reset()
        try:
            self.faults.update(data)
        except FaultsError as exc:
            return self._admin_error(400, str(exc))
        return web.json_response(self.faults.as_dict())

    async def _admin_add_jobs(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        if isinstance(data, list):
            specs: Any = data
        elif isinstance(data, dict) and "count" in data:
            count = data.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 100_000:
                return self._admin_error(400, "count must be an integer between 1 and 100000")
            template = {k: v for k, v in data.items() if k not in ("count", "id")}
            specs = [template] * count
        elif isinstance(data, dict) and "jobs" in data:
            specs = data["jobs"]
        else:
            specs = [data]
        try:
            scenario = Scenario.from_dict({"jobs": specs}, source="POST /_sim/jobs")
            ids = self._add_job_specs(scenario.jobs)
        except (ScenarioError, ValueError) as exc:
            return self._admin_error(400, str(exc))
        return web.json_response({"ids": ids}, status=201)

    async def _admin_get_job(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.job(request.match_info["job_id"]))
        except KeyError:
            return self._admin_error(404, "no such job")

    async def _admin_set_status(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return self._admin_error(400, 'body must be {"status": "...", ...fields}')
        fields = {k: v for k, v in data.items() if k != "status"}
        job_id = request.match_info["job_id"]
        try:
            self.set_status(job_id, data["status"], **fields)
        except KeyError:
            return self._admin_error(404, "no such job")
        return web.json_response({"id": job_id, "status": data["status"]})

    async def _admin_delete_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        try:
            self.delete_job(job_id)
        except KeyError:
            return self._admin_error(404, "no such job")
        return web.json_response({"deleted": job_id})

    async def _admin_add_token(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        token = _dig(data, "token")
        project = _dig(data, "project_id")
        if not isinstance(token, str) or not token or not isinstance(project, str | None):
            return self._admin_error(400, 'body must be {"token": "...", "project_id": "..."}')
        self.add_token(token, project_id=project)
        return web.json_response({"added": True}, status=201)

    async def _admin_revoke(self, request: web.Request) -> web.Response:
        self.revoke_tokens()
        return web.json_response({"revoked": True})

    async def _admin_reset_stats(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response({"reset": True})
