"""The simulator's job store: realistic DRS job items and lazy status progressions.

Each job is a :class:`JobRecord` holding the full ``QueryJobRespV3`` item as the
API returns it (snake_case, epoch-ms strings, secrets in the endpoints) plus an
optional *progression*: a list of ``(seconds_after_origin, status[, fields])``
steps. Progressions are applied lazily when the job is read, from the injected
clock; there is no background task, and reading a job costs O(steps applied),
never O(number of jobs).

The origin of a progression is the moment the job was added to a running
simulator, or the simulator's ``start()`` for jobs added before it.
``update_time`` becomes the (simulated) moment of each status change and does
not change otherwise. Entering a ``*_FAILED`` status fills ``error_code``,
``error_message`` and ``failed_reason`` (from the step's fields, else from a
per-status default); leaving it removes them.

Every secret value the factory generates contains :data:`SECRET_MARKER`, so
tests can assert that none reached a status, an event or a log line.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any

__all__ = [
    "DEFAULT_STATUS",
    "JOB_ID_RE",
    "SECRET_MARKER",
    "JobRecord",
    "JobStore",
    "ProgressionStep",
    "is_failed",
    "make_job",
    "new_job_id",
    "normalize_progression",
]

SECRET_MARKER = "SIMSECRET"
DEFAULT_STATUS = "INCRE_TRANSFER_STARTED"
JOB_ID_RE = re.compile(r"^[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}$")

# Fields merged one level deep when a job spec overrides the defaults.
NESTED_FIELDS = frozenset({"source_endpoint", "target_endpoint", "inst_info"})
ERROR_FIELDS = ("error_code", "error_message", "failed_reason")

# Default failure details per failed status: (error_code, error_message).
FAILURE_DEFAULTS: dict[str, tuple[str, str]] = {
    "CREATE_FAILED": ("DRS.M03001", "Failed to create the replication instance."),
    "START_JOB_FAILED": (
        "DRS.M03005",
        "Failed to start the task: the source database is unreachable.",
    ),
    "FULL_TRANSFER_FAILED": (
        "DRS.M05009",
        "Full migration failed: table `shop`.`orders` was dropped in the source database.",
    ),
    "INCRE_TRANSFER_FAILED": (
        "DRS.M05012",
        "Incremental migration failed: binlog mysql-bin.000042 was purged in the source.",
    ),
    "RELEASE_RESOURCE_FAILED": ("DRS.M03011", "Failed to release the replication instance."),
    "CHANGE_JOB_FAILED": ("DRS.M03015", "Failed to change the task."),
    "CHILD_TRANSFER_FAILED": ("DRS.M05020", "A subtask failed."),
    "REBUILD_NODE_FAILED": ("DRS.M03021", "Failed to rebuild the replication node."),
    "NODE_UPGRADE_FAILED": ("DRS.M03022", "Failed to upgrade the replication node."),
}
GENERIC_FAILURE = ("DRS.M05000", "The task failed.")

# Statuses at or after which the task has actually started / finished its full transfer.
_STARTED = frozenset(
    {
        "STARTJOBING",
        "FULL_TRANSFER_STARTED",
        "FULL_TRANSFER_FAILED",
        "FULL_TRANSFER_COMPLETE",
        "INCRE_TRANSFER_STARTED",
        "INCRE_TRANSFER_FAILED",
        "PAUSING",
        "RELEASE_RESOURCE_STARTED",
        "RELEASE_RESOURCE_COMPLETE",
    }
)
_FULL_DONE = frozenset(
    {"FULL_TRANSFER_COMPLETE", "INCRE_TRANSFER_STARTED", "INCRE_TRANSFER_FAILED"}
)

ProgressionStep = tuple[float, str, Mapping[str, Any]]


def is_failed(status: str) -> bool:
    return status.endswith("_FAILED")


def new_job_id(rng: Random) -> str:
    """A realistic job ID: UUID layout, lower-case, ending in ``jb21`` (so not hex)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:28]}jb21"


def _hex(rng: Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _uuid(rng: Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


def _secret(rng: Random, kind: str) -> str:
    return f"{SECRET_MARKER}-{kind}-{_hex(rng, 12)}"


def normalize_progression(steps: Iterable[Sequence[Any]]) -> list[ProgressionStep]:
    """Check and normalise progression steps to ``(t, status, fields)``; raises ``ValueError``."""
    result: list[ProgressionStep] = []
    last = 0.0
    for index, step in enumerate(steps):
        if (
            isinstance(step, str | bytes)
            or not isinstance(step, Sequence)
            or len(step) not in (2, 3)
        ):
            raise ValueError(
                f"step {index}: must be [seconds, status] or [seconds, status, fields]"
            )
        t, status = step[0], step[1]
        extra: Any = step[2] if len(step) == 3 else {}
        if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
            raise ValueError(f"step {index}: seconds must be a number >= 0, got {t!r}")
        if t < last:
            raise ValueError(f"step {index}: seconds must not decrease ({t} < {last})")
        if not isinstance(status, str) or not status:
            raise ValueError(f"step {index}: status must be a non-empty string")
        if not isinstance(extra, Mapping):
            raise ValueError(f"step {index}: fields must be a mapping")
        last = float(t)
        result.append((float(t), status, dict(extra)))
    return result


def make_job(
    *, job_id: str, status: str, now: float, rng: Random, project_id: str | None, serial: int
) -> dict[str, Any]:
    """A full, realistic ``QueryJobRespV3`` item with secrets in its endpoints."""
    project = project_id or _hex(rng, 32)
    region = "cn-north-4"
    src_ip = f"192.168.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
    dst_ip = f"192.168.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
    vpc_id = _uuid(rng)
    subnet_id = _uuid(rng)
    inst_name = f"rds-sim-mysql-{serial:04d}"
    ssl = serial % 2 == 0
    cert = base64.b64encode(f"{SECRET_MARKER}-cert-{_hex(rng, 16)}".encode()).decode()
    created = now - 3600 - rng.randint(0, 86400)
    source: dict[str, Any] = {
        "ip": src_ip,
        "db_type": "mysql",
        "db_port": 3306,
        "db_user": "root",
        "db_password": _secret(rng, "dbpass"),
        "ssl_link": ssl,
        "project_id": project,
        "region": region,
    }
    if ssl:
        source.update(
            ssl_cert_key=cert,
            ssl_cert_name="ca.pem",
            ssl_cert_check_sum=hashlib.sha256(cert.encode()).hexdigest(),
            ssl_cert_password=_secret(rng, "sslpass"),
        )
    if serial % 4 == 3:
        source["kerberos"] = {
            "krb5_conf_file": _secret(rng, "krb5conf"),
            "key_tab_file": _secret(rng, "keytab"),
            "domain_name": "EXAMPLE.COM",
            "user_principal": f"drs@{SECRET_MARKER}",
        }
    target: dict[str, Any] = {
        "ip": dst_ip,
        "region": region,
        "db_type": "mysql",
        "db_port": 3306,
        "db_user": "root",
        "db_password": _secret(rng, "dbpass"),
        "ssl_link": False,
        "inst_id": f"{_hex(rng, 32)}in01",
        "inst_name": inst_name,
        "project_id": project,
        "vpc_id": vpc_id,
        "subnet_id": subnet_id,
    }
    job: dict[str, Any] = {
        "id": job_id,
        "parent_id": "",
        "name": f"DRS-{serial:04d}-sim",
        "status": status,
        "description": (
            f"Source database IP address or domain name: {src_ip}\n"
            f"Destination instance name: {inst_name}"
        ),
        "create_time": _ms(created),
        "task_type": "FULL_INCR_TRANS",
        "source_endpoint": source,
        "target_endpoint": target,
        "net_type": ("eip", "vpc", "vpn", "cross_vpc")[serial % 4],
        "inst_info": {
            "ip": f"192.168.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
            "ipv6": "",
            "inst_type": "high",
            "engine_type": "mysql",
            "volume_size": 100,
            "public_ip": "",
            "status": "ACTIVE",
            "start_time": "0",
        },
        "update_time": _ms(created + 60),
        "job_direction": "up",
        "db_use_type": ("sync", "migration", "cloudDataGuard")[serial % 3],
        "need_restart": False,
        "is_target_readonly": True,
        "conflict_policy": "ignore",
        "filter_ddl_policy": "drop_database",
        "speed_limit": [],
        "schema_type": "Tungsten",
        # Sometimes a string, as some real servers send it.
        "node_num": "1" if serial % 3 == 1 else 1,
        "object_switch": True,
        "master_job_id": "",
        "full_mode": "",
        "struct_trans": True,
        "index_trans": True,
        "replace_definer": True,
        "migrate_user": False,
        "sync_database": False,
        "az_code": "cn-north-4a",
        "vpc_id": vpc_id,
        "subnet_id": subnet_id,
        "security_group_id": _uuid(rng),
        "issue_coupon": False,
        "multi_write": False,
        "support_ip_v6": False,
    }
    if status in _STARTED:
        job["actual_start_time"] = _ms(created + 120)
    if status in _FULL_DONE:
        job["full_transfer_complete_time"] = _ms(created + 600)
    if is_failed(status):
        code, message = FAILURE_DEFAULTS.get(status, GENERIC_FAILURE)
        job.update(error_code=code, error_message=message, failed_reason=message)
    return job


def merge_fields(base: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Merge ``fields`` into ``base``; endpoint and ``inst_info`` dicts one level deep."""
    for key, value in fields.items():
        if key in NESTED_FIELDS and isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key].update(copy.deepcopy(dict(value)))
        else:
            base[key] = copy.deepcopy(value)


@dataclass
class JobRecord:
    """One job: its current item, where it lives, and its pending progression."""

    item: dict[str, Any]
    project_id: str | None
    progression: list[ProgressionStep] = field(default_factory=list)
    applied: int = 0
    origin: float | None = None


class JobStore:
    """Jobs by ID, deleted IDs, and lazy progressions (O(1) per lookup)."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._jobs: dict[str, JobRecord] = {}
        self._deleted: set[str] = set()
        self._started = False

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def ids(self) -> list[str]:
        return list(self._jobs)

    def start(self) -> None:
        """Fix the progression origin of every job added so far to now."""
        now = self._clock()
        self._started = True
        for record in self._jobs.values():
            if record.origin is None:
                record.origin = now

    def add(
        self,
        item: dict[str, Any],
        *,
        project_id: str | None,
        progression: list[ProgressionStep],
    ) -> None:
        job_id = item["id"]
        if job_id in self._jobs:
            raise ValueError(f"job {job_id} already exists")
        origin = self._clock() if self._started else None
        self._deleted.discard(job_id)
        self._jobs[job_id] = JobRecord(
            item=item, project_id=project_id, progression=progression, origin=origin
        )

    def mark_deleted(self, job_id: str) -> None:
        """Remove the job if present and answer its ID as deleted from now on."""
        self._jobs.pop(job_id, None)
        self._deleted.add(job_id)

    def is_deleted(self, job_id: str) -> bool:
        return job_id in self._deleted

    def get(self, job_id: str, *, project_id: str | None = None) -> dict[str, Any] | None:
        """The current item (progression applied), or ``None`` if unknown here.

        A job bound to a project is invisible from any other project. The item
        returned is the store's own dict: serialise it, do not mutate it.
        """
        record = self._jobs.get(job_id)
        if record is None:
            return None
        if project_id is not None and record.project_id not in (None, project_id):
            return None
        self._advance(record)
        return record.item

    def set_status(self, job_id: str, status: str, fields: Mapping[str, Any]) -> None:
        """Set the status now; drops the rest of the job's progression."""
        record = self._jobs.get(job_id)
        if record is None:
            raise KeyError(job_id)
        self._advance(record)
        record.progression = []
        record.applied = 0
        self._apply(record, status, fields, when=self._clock())

    def _advance(self, record: JobRecord) -> None:
        if record.origin is None or record.applied >= len(record.progression):
            return
        now = self._clock()
        steps = record.progression
        while record.applied < len(steps):
            t, status, fields = steps[record.applied]
            when = record.origin + t
            if when > now:
                break
            record.applied += 1
            self._apply(record, status, fields, when=when)

    @staticmethod
    def _apply(record: JobRecord, status: str, fields: Mapping[str, Any], *, when: float) -> None:
        item = record.item
        changed = item.get("status") != status
        item["status"] = status
        if changed:
            item["update_time"] = _ms(when)
            if status in _STARTED and not item.get("actual_start_time"):
                item["actual_start_time"] = _ms(when)
            if status in _FULL_DONE and not item.get("full_transfer_complete_time"):
                item["full_transfer_complete_time"] = _ms(when)
        if is_failed(status):
            code, message = FAILURE_DEFAULTS.get(status, GENERIC_FAILURE)
            if changed or "error_code" not in item:
                item["error_code"] = code
                item["error_message"] = message
                item["failed_reason"] = message
        else:
            for key in ERROR_FIELDS:
                item.pop(key, None)
        merge_fields(item, fields)
