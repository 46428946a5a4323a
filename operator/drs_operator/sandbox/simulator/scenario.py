"""Scenario files for the DRS simulator: credentials, jobs and options in YAML.

Layout (every section optional)::

    options:
      per_page_default: 5          # page size when page_req is absent
      per_page_max: 100
      mixed_missing: error400      # or items200 (see the simulator docs)
      list_key: results            # or jobs (the reference page's variant)
      token_ttl: 86400             # seconds an IAM token lives
    credentials:
      tokens:       [{token: T, project_id: P}]          # project_id optional: any project
      users:        [{name: U, password: X, domain: D, project_id: P, project_name: N}]
      access_keys:  [{access_key: AK, secret_key: SK, security_token: ST}]
    jobs:
      - id: 9a470239-2308-4bb5-a6bc-1040402fjb21   # optional: generated when absent
        status: CREATING                            # default INCRE_TRANSFER_STARTED
        progression: [[5, CONFIGURATION], [20, FULL_TRANSFER_FAILED, {error_code: X}]]
        project_id: P                               # optional: visible in any project
        name: my-job                                # any other field: merged over the
        source_endpoint: {ip: 10.0.0.1}             #   realistic defaults (endpoints and
                                                    #   inst_info one level deep)
    deleted_jobs: [ID, ...]    # answered as deleted (DRS.M05004)
    absent_jobs: [ID, ...]     # documentation: IDs a demo uses that must NOT exist
                               #   (checked: none may be defined; answered DRS.M00289)

Progression times are seconds after the simulator starts (or after the job is
added to a running simulator). :class:`ScenarioError` names the file and the
path of the first bad field, e.g. ``jobs[3].progression[1]: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from drs_operator.sandbox.simulator.jobs import JOB_ID_RE, ProgressionStep, normalize_progression

__all__ = [
    "LIST_KEYS",
    "MIXED_MISSING_MODES",
    "AccessKeySpec",
    "JobSpec",
    "Scenario",
    "ScenarioError",
    "TokenSpec",
    "UserSpec",
]

MIXED_MISSING_MODES = ("error400", "items200")
LIST_KEYS = ("results", "jobs")
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "per_page_default": (int,),
    "per_page_max": (int,),
    "mixed_missing": (str,),
    "list_key": (str,),
    "token_ttl": (int, float),
}
_TOP_KEYS = frozenset({"options", "credentials", "jobs", "deleted_jobs", "absent_jobs"})


class ScenarioError(ValueError):
    """The scenario is invalid; the message names the file and the bad field's path."""


@dataclass(frozen=True)
class TokenSpec:
    token: str
    project_id: str | None = None


@dataclass(frozen=True)
class UserSpec:
    name: str
    password: str
    domain: str
    project_id: str
    project_name: str | None = None


@dataclass(frozen=True)
class AccessKeySpec:
    access_key: str
    secret_key: str
    security_token: str | None = None


@dataclass(frozen=True)
class JobSpec:
    id: str | None
    status: str | None
    progression: tuple[ProgressionStep, ...]
    project_id: str | None
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario."""

    tokens: tuple[TokenSpec, ...] = ()
    users: tuple[UserSpec, ...] = ()
    access_keys: tuple[AccessKeySpec, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    deleted_jobs: tuple[str, ...] = ()
    absent_jobs: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Load a YAML scenario file; raises :class:`ScenarioError` (also for I/O errors)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"scenario {path}: cannot read: {exc.strerror or exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ScenarioError(f"scenario {path}: not valid YAML{where}") from None
        return cls.from_dict(data if data is not None else {}, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> Scenario:
        """Validate a scenario given as plain data; raises :class:`ScenarioError`."""
        return _Parser(source).scenario(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> ScenarioError:
        return ScenarioError(f"scenario {self.source}: {path}: {message}")

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a mapping, not {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(path, f"keys must be strings, got {key!r}")
        return value

    def listing(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, not {_kind(value)}")
        return value

    def string(self, value: Any, path: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(path, "must be a non-empty string")
        return value

    def job_id(self, value: Any, path: str) -> str:
        text = self.string(value, path)
        assert text is not None
        if not JOB_ID_RE.match(text):
            raise self.fail(path, f"{text!r} is not a job ID (36 chars, UUID layout, a-z0-9)")
        return text

    def keys(self, data: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(f"{path}.{unknown[0]}" if path else unknown[0], "unknown field")

    def scenario(self, data: Any) -> Scenario:
        top = self.mapping(data, "(top level)")
        self.keys(top, "", set(_TOP_KEYS))
        options = self.options(top.get("options"))
        creds = self.mapping(top.get("credentials") or {}, "credentials")
        self.keys(creds, "credentials", {"tokens", "users", "access_keys"})
        tokens = tuple(
            self.token(item, f"credentials.tokens[{i}]")
            for i, item in enumerate(self.listing(creds.get("tokens"), "credentials.tokens"))
        )
        users = tuple(
            self.user(item, f"credentials.users[{i}]")
            for i, item in enumerate(self.listing(creds.get("users"), "credentials.users"))
        )
        keys = tuple(
            self.access_key(item, f"credentials.access_keys[{i}]")
            for i, item in enumerate(
                self.listing(creds.get("access_keys"), "credentials.access_keys")
            )
        )
        jobs = tuple(
            self.job(item, f"jobs[{i}]")
            for i, item in enumerate(self.listing(top.get("jobs"), "jobs"))
        )
        seen: dict[str, int] = {}
        for i, job in enumerate(jobs):
            if job.id is None:
                continue
            if job.id in seen:
                raise self.fail(f"jobs[{i}].id", f"duplicate of jobs[{seen[job.id]}].id")
            seen[job.id] = i
        deleted = tuple(
            self.job_id(item, f"deleted_jobs[{i}]")
            for i, item in enumerate(self.listing(top.get("deleted_jobs"), "deleted_jobs"))
        )
        absent = tuple(
            self.job_id(item, f"absent_jobs[{i}]")
            for i, item in enumerate(self.listing(top.get("absent_jobs"), "absent_jobs"))
        )
        for name, ids in (("deleted_jobs", deleted), ("absent_jobs", absent)):
            for i, job_id in enumerate(ids):
                if job_id in seen:
                    raise self.fail(f"{name}[{i}]", f"{job_id} is also defined in jobs")
        return Scenario(
            tokens=tokens,
            users=users,
            access_keys=keys,
            jobs=jobs,
            deleted_jobs=deleted,
            absent_jobs=absent,
            options=options,
        )

    def options(self, value: Any) -> dict[str, Any]:
        data = self.mapping(value or {}, "options")
        self.keys(data, "options", set(_OPTION_TYPES))
        result: dict[str, Any] = {}
        for key, item in data.items():
            types = _OPTION_TYPES[key]
            if isinstance(item, bool) or not isinstance(item, types):
                raise self.fail(f"options.{key}", f"must be of type {types[0].__name__}")
            result[key] = item
        if "mixed_missing" in result and result["mixed_missing"] not in MIXED_MISSING_MODES:
            raise self.fail("options.mixed_missing", f"must be one of {MIXED_MISSING_MODES}")
        if "list_key" in result and result["list_key"] not in LIST_KEYS:
            raise self.fail("options.list_key", f"must be one of {LIST_KEYS}")
        for key in ("per_page_default", "per_page_max"):
            if key in result and not 0 <= result[key] <= 10_000:
                raise self.fail(f"options.{key}", "must be between 0 and 10000")
        if "token_ttl" in result and result["token_ttl"] <= 0:
            raise self.fail("options.token_ttl", "must be > 0")
        return result

    def token(self, value: Any, path: str) -> TokenSpec:
        data = self.mapping(value, path)
        self.keys(data, path, {"token", "project_id"})
        token = self.string(data.get("token"), f"{path}.token")
        project = self.string(data.get("project_id"), f"{path}.project_id", optional=True)
        assert token is not None
        return TokenSpec(token=token, project_id=project)

    def user(self, value: Any, path: str) -> UserSpec:
        data = self.mapping(value, path)
        self.keys(data, path, {"name", "password", "domain", "project_id", "project_name"})
        values = {
            key: self.string(data.get(key), f"{path}.{key}")
            for key in ("name", "password", "domain", "project_id")
        }
        project_name = self.string(data.get("project_name"), f"{path}.project_name", optional=True)
        return UserSpec(
            name=str(values["name"]),
            password=str(values["password"]),
            domain=str(values["domain"]),
            project_id=str(values["project_id"]),
            project_name=project_name,
        )

    def access_key(self, value: Any, path: str) -> AccessKeySpec:
        data = self.mapping(value, path)
        self.keys(data, path, {"access_key", "secret_key", "security_token"})
        ak = self.string(data.get("access_key"), f"{path}.access_key")
        sk = self.string(data.get("secret_key"), f"{path}.secret_key")
        st = self.string(data.get("security_token"), f"{path}.security_token", optional=True)
        assert ak is not None and sk is not None
        return AccessKeySpec(access_key=ak, secret_key=sk, security_token=st)

    def job(self, value: Any, path: str) -> JobSpec:
        data = dict(self.mapping(value, path))
        job_id = self.job_id(data.pop("id"), f"{path}.id") if "id" in data else None
        status = self.string(data.pop("status"), f"{path}.status") if "status" in data else None
        project = (
            self.string(data.pop("project_id"), f"{path}.project_id")
            if "project_id" in data
            else None
        )
        raw = self.listing(data.pop("progression", None), f"{path}.progression")
        try:
            progression = normalize_progression(raw)
        except ValueError as exc:
            message = str(exc)
            index, _, detail = message.partition(": ")
            raise self.fail(f"{path}.progression[{index.removeprefix('step ')}]", detail) from None
        for key in ("source_endpoint", "target_endpoint", "inst_info"):
            if key in data:
                self.mapping(data[key], f"{path}.{key}")
        return JobSpec(
            id=job_id,
            status=status,
            progression=tuple(progression),
            project_id=project,
            fields=data,
        )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names: dict[type, str] = {dict: "mapping", list: "list", str: "string"}
    return names.get(type(value), type(value).__name__)
