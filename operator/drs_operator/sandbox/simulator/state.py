"""The simulator's state and the in-process API that changes it.

:class:`SimulatorState` is the base of every part of :class:`Simulator`: the
run-time settings (``per_page_default``, ``mixed_missing``, ``token_ttl``, ...),
``faults`` and ``stats``, the seeded RNGs, the job store, and the accepted
credentials (tokens, IAM users, access keys). Its methods are the public
configuration and job API: ``load_scenario``, ``add_token``, ``add_user``,
``add_access_key``, ``revoke_tokens``, ``add_job``, ``set_status``,
``delete_job``, ``job`` and ``job_ids``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

from drs_operator.sandbox.simulator.faults import Faults
from drs_operator.sandbox.simulator.jobs import (
    DEFAULT_STATUS,
    JOB_ID_RE,
    JobStore,
    make_job,
    merge_fields,
    new_job_id,
    normalize_progression,
)
from drs_operator.sandbox.simulator.scenario import JobSpec, Scenario
from drs_operator.sandbox.simulator.stats import Stats

__all__ = ["AccessKey", "SimulatorState", "TokenInfo", "User"]


@dataclass
class TokenInfo:
    """An accepted token: its project (``None``: any) and expiry (``None``: never)."""

    project_id: str | None
    expires_at: float | None
    revoked: bool = False


@dataclass(frozen=True)
class User:
    """An IAM password login, keyed by (domain, name)."""

    password: str
    project_id: str
    project_name: str | None


@dataclass(frozen=True)
class AccessKey:
    """An AK/SK key, keyed by access key; ``security_token`` for a temporary key."""

    secret_key: str
    security_token: str | None


class SimulatorState:
    """Settings, faults, stats, jobs and credentials; the configuration and job API.

    Constructed by :class:`Simulator` (which validates the arguments and owns
    their defaults); the handler parts derive from it and share ``self``.
    """

    def __init__(
        self,
        *,
        seed: int,
        token_ttl: float,
        clock: Callable[[], float],
        per_page_default: int,
        per_page_max: int,
        max_skew: float,
        mixed_missing: str,
        list_key: str,
    ) -> None:
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
        self._tokens: dict[str, TokenInfo] = {}
        self._users: dict[tuple[str, str], User] = {}
        self._access_keys: dict[str, AccessKey] = {}

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
        self._tokens[token] = TokenInfo(project_id=project_id, expires_at=None)

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
        self._users[(domain, name)] = User(password, project_id, project_name)

    def add_access_key(
        self, *, access_key: str, secret_key: str, security_token: str | None = None
    ) -> None:
        """Accept AK/SK signatures with this key (for any project named by X-Project-Id)."""
        self._access_keys[access_key] = AccessKey(secret_key, security_token)

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
