"""The task's own fields on the status: from a DRS job to camelCase JSON (pure).

:func:`task_fields` rebuilds every key of :data:`TASK_KEYS` from a
:class:`~drs_operator.drs.models.JobDetail`: camelCase names, no nulls or
empty objects, texts clipped to :data:`MAX_FIELD_TEXT`, ports and sizes
outside their range dropped, epoch-millisecond times as RFC 3339 UTC with
milliseconds (:func:`format_task_time`). Endpoints carry ``address``
(``ip:port``, IPv6 in brackets) for the printer columns, and never a secret:
the models do not hold any.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from drs_operator.drs.lenient import parse_epoch_ms
from drs_operator.drs.models import EndPoint, InstInfo, JobDetail

__all__ = ["MAX_FIELD_TEXT", "TASK_KEYS", "format_task_time", "task_fields"]

MAX_FIELD_TEXT: Final = 2048  # any string field copied into the status
_INT32_MAX = 2**31 - 1

#: Status keys that describe the task (kept on Missing/Failed, rebuilt on Observed).
TASK_KEYS: Final = frozenset(
    {
        "taskStatus",
        "jobName",
        "description",
        "taskType",
        "jobDirection",
        "dbUseType",
        "netType",
        "schemaType",
        "nodeNum",
        "multiWrite",
        "parentId",
        "masterJobId",
        "createTime",
        "actualStartTime",
        "fullTransferCompleteTime",
        "updateTime",
        "sourceEndpoint",
        "targetEndpoint",
        "dmqEndpoint",
        "sourceSharding",
        "instance",
        "failedReason",
        "errorCode",
        "errorMessage",
    }
)
#: Every status key this module writes.


def format_task_time(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds: ``2020-08-21T02:43:49.563Z``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value if len(value) <= MAX_FIELD_TEXT else value[: MAX_FIELD_TEXT - 1] + "…"


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None and empty dicts."""
    return {k: v for k, v in fields.items() if v is not None and v != {}}


def _endpoint(endpoint: EndPoint | None) -> dict[str, Any] | None:
    if endpoint is None:
        return None
    port = endpoint.db_port
    if port is not None and not 1 <= port <= 65535:
        port = None
    fields = _compact(
        {
            "dbType": _text(endpoint.db_type),
            "ip": _text(endpoint.ip),
            "port": port,
            "user": _text(endpoint.db_user),
            "instId": _text(endpoint.inst_id),
            "instName": _text(endpoint.inst_name),
            "region": _text(endpoint.region),
            "projectId": _text(endpoint.project_id),
            "azCode": _text(endpoint.az_code),
            "vpcId": _text(endpoint.vpc_id),
            "subnetId": _text(endpoint.subnet_id),
            "securityGroupId": _text(endpoint.security_group_id),
            "sslLink": endpoint.ssl_link,
            "dbName": _text(endpoint.db_name),
            "topic": _text(endpoint.topic),
        }
    )
    if "ip" in fields:  # the printer columns' Source/Target: a JSONPath cannot concatenate
        host = f"[{fields['ip']}]" if ":" in fields["ip"] else fields["ip"]
        fields["address"] = (f"{host}:{port}" if port is not None else fields["ip"])[:300]
    return fields or None


def _instance(info: InstInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    size = info.volume_size
    if size is not None and size < 0:
        size = None
    fields = _compact(
        {
            "instType": _text(info.inst_type),
            "engineType": _text(info.engine_type),
            "volumeSize": size,
            "ip": _text(info.ip),
            "publicIp": _text(info.public_ip),
            "ipv6": _text(info.ipv6),
            "status": _text(info.status),
            "startTime": format_task_time(parse_epoch_ms(info.start_time)),
        }
    )
    return fields or None


def task_fields(job: JobDetail) -> dict[str, Any]:
    node_num = job.node_num
    if node_num is not None and not 0 <= node_num <= _INT32_MAX:
        node_num = None
    return _compact(
        {
            "taskStatus": _text(job.status),
            "jobName": _text(job.name),
            "description": _text(job.description),
            "taskType": _text(job.task_type),
            "jobDirection": _text(job.job_direction),
            "dbUseType": _text(job.db_use_type),
            "netType": _text(job.net_type),
            "schemaType": _text(job.schema_type),
            "nodeNum": node_num,
            "multiWrite": job.multi_write,
            "parentId": _text(job.parent_id),
            "masterJobId": _text(job.master_job_id),
            "createTime": format_task_time(job.create_time),
            "actualStartTime": format_task_time(job.actual_start_time),
            "fullTransferCompleteTime": format_task_time(job.full_transfer_complete_time),
            "updateTime": format_task_time(job.update_time),
            "sourceEndpoint": _endpoint(job.source_endpoint),
            "targetEndpoint": _endpoint(job.target_endpoint),
            "dmqEndpoint": _endpoint(job.dmq_endpoint),
            "sourceSharding": _endpoint(job.source_sharding),
            "instance": _instance(job.inst_info),
            "failedReason": _text(job.failed_reason),
            "errorCode": _text(job.error_code),
            "errorMessage": _text(job.error_message),
        }
    )
