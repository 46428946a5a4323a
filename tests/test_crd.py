"""The DrsJob CRD: its schema accepts the valid samples and rejects each invalid one for its
stated reason; it is structural, matches the design's names and printer columns, and is a
valid apiextensions.k8s.io/v1 object for a current Kubernetes.

Validation is done the way the API server does it, as far as Python allows:
``openAPIV3Schema`` translated to JSON Schema (x-kubernetes-* keys dropped, ``date-time``
checked, unknown fields rejected as kubectl's default ``--validate=strict`` does), then the
``x-kubernetes-validations`` CEL rules evaluated with cel-python, transition rules
(``oldSelf``) only on updates where the old value exists.

Samples live in tests/samples/{valid,invalid}/*.yaml. An invalid sample carries
``# reason: ...`` and ``# field: a.b.c`` comment lines; a file with two documents is an
update (stored object, then the new one).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import pytest
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drs_operator.domain import formats, manifests
from drs_operator.domain.crd import crd_text, load_crd, printer_columns
from drs_operator.domain.manifests import _error_path, _is_date_time, to_json_schema
from drs_operator.domain.printing import Column, find

ROOT = Path(__file__).resolve().parent.parent
CRD_PATH = ROOT / "crds" / "drsjobs.yaml"
PACKAGE_COPY = ROOT / "operator" / "drs_operator" / "data" / "drsjobs.yaml"
SAMPLES = Path(__file__).resolve().parent / "samples"
VALID = sorted((SAMPLES / "valid").glob("*.yaml"))
INVALID = sorted((SAMPLES / "invalid").glob("*.yaml"))

REFERENCE_IDS = ["9a470239-2308-4bb5-a6bc-1040402fjb21", "dc67695a-ee3e-49b8-a022-a099bd81jb21"]
KUBERNETES_VERSION = "1.37"


# --- the validator ------------------------------------------------------------------------------

_ABSENT = object()
_FORMATS = manifests._FORMATS  # the package's own checker: one date-time rule


def _cel(value: Any) -> Any:
    return json_to_cel(value)


_CEL_ENV = celpy.Environment()


def cel_errors(schema: Mapping[str, Any], new: Any, old: Any, path: str) -> Iterator[str]:
    """Failed x-kubernetes-validations rules, as '<path>: <message>'."""
    for rule in schema.get("x-kubernetes-validations", []):
        expr = rule["rule"]
        if "oldSelf" in expr and old is _ABSENT:
            continue  # transition rules apply to updates only
        activation = {"self": _cel(new)}
        if old is not _ABSENT:
            activation["oldSelf"] = _cel(old)
        try:
            result = _CEL_ENV.program(_CEL_ENV.compile(expr)).evaluate(activation)
        except Exception as exc:  # an evaluation error rejects the object, as in the API server
            yield f"{path}: {expr}: {exc}"
            continue
        passed = isinstance(result, celpy.celtypes.BoolType) and bool(result)
        if isinstance(result, CELEvalError) or not passed:
            yield f"{path}: {rule.get('message') or 'failed rule: ' + expr}"
    if isinstance(new, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in new:
                old_sub = old.get(name, _ABSENT) if isinstance(old, dict) else _ABSENT
                yield from cel_errors(sub, new[name], old_sub, f"{path}.{name}".lstrip("."))
    elif isinstance(new, list) and "items" in schema:
        keys = schema.get("x-kubernetes-list-map-keys")
        for index, item in enumerate(new):
            old_item: Any = _ABSENT
            if keys and isinstance(old, list) and isinstance(item, dict):
                old_item = next(
                    (o for o in old if all(o.get(k) == item.get(k) for k in keys)), _ABSENT
                )
            yield from cel_errors(schema["items"], item, old_item, f"{path}[{index}]")


def validate(obj: Any, *, old: Any = _ABSENT, crd: Mapping[str, Any] | None = None) -> list[str]:
    """Every reason the API server (with kubectl's strict field validation) would refuse obj."""
    crd = crd if crd is not None else load_crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft202012Validator(to_json_schema(schema), format_checker=_FORMATS)
    errors = [f"{_error_path(e)}: {e.message}" for e in validator.iter_errors(obj)]
    if errors:
        return errors  # CEL rules run on objects that passed the schema
    return list(cel_errors(schema, obj, old, ""))


@dataclass(frozen=True)
class Sample:
    path: Path
    documents: list[Any]
    reason: str
    field: str

    @property
    def new(self) -> Any:
        return self.documents[-1]

    @property
    def old(self) -> Any:
        return self.documents[0] if len(self.documents) == 2 else _ABSENT


def load_sample(path: Path) -> Sample:
    text = path.read_text()
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    assert len(docs) in (1, 2), f"{path.name}: one object, or stored object + update"
    reason = re.search(r"^# reason: (.+)$", text, re.MULTILINE)
    field = re.search(r"^# field: (\S+)$", text, re.MULTILINE)
    return Sample(path, docs, reason.group(1) if reason else "", field.group(1) if field else "")


def drsjob(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": {"name": "x"},
        "spec": spec,
    }


# --- the validator itself -----------------------------------------------------------------------


def test_validator_catches_a_schema_error_and_a_cel_error_and_passes_a_good_object() -> None:
    good = drsjob(jobId=REFERENCE_IDS[0])
    assert validate(good) == []
    bad_type = copy.deepcopy(good)
    bad_type["spec"]["suspend"] = "no"
    assert [e.split(":")[0] for e in validate(bad_type)] == ["spec.suspend"]
    too_fast = copy.deepcopy(good)
    too_fast["spec"]["refreshInterval"] = "1s"
    assert validate(too_fast) == ["spec.refreshInterval: refreshInterval must be at least 5s"]


def test_date_time_format_is_really_checked() -> None:
    assert _is_date_time("2024-05-01T10:00:00Z")
    assert _is_date_time("2024-05-01T10:00:00.5+08:00")
    assert not _is_date_time("1714557600000")
    assert not _is_date_time("2024-13-45T10:00:00Z")  # the layout, a date out of range


# --- samples ------------------------------------------------------------------------------------


def test_there_are_samples_of_both_kinds() -> None:
    assert len(VALID) >= 5
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_sample_passes(path: Path) -> None:
    sample = load_sample(path)
    if sample.old is not _ABSENT:
        assert validate(sample.old) == []
    assert validate(sample.new, old=sample.old) == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_sample_fails_for_its_reason(path: Path) -> None:
    sample = load_sample(path)
    assert sample.reason, f"{path.name} needs a '# reason: ...' line"
    assert sample.field, f"{path.name} needs a '# field: a.b.c' line"
    if sample.old is not _ABSENT:
        assert validate(sample.old) == [], "the stored object of an update must be valid"
    errors = validate(sample.new, old=sample.old)
    assert errors, f"{path.name} was accepted but must fail: {sample.reason}"
    # JSON Schema reports a duplicate in a set at the list, the API server at the item.
    where = (sample.field, re.sub(r"\[\d+\]$", "", sample.field))
    assert all(e.split(":", 1)[0] in where for e in errors), (sample.field, errors)


@pytest.mark.parametrize("job_id", REFERENCE_IDS)
def test_reference_page_job_ids_are_accepted(job_id: str) -> None:
    obj = drsjob(jobId=job_id)
    assert validate(obj) == []


@pytest.mark.parametrize(
    ("interval", "ok", "why"),
    [
        ("5s", True, "the minimum itself"),
        ("30s", True, "typical"),
        ("1h", True, "hours"),
        ("1h30m", True, "compound"),
        ("1.5m", True, "fractional minutes are 90s"),
        ("5000ms", True, "5s in milliseconds"),
        ("4999ms", False, "a millisecond under the minimum"),
        ("4.9s", False, "fractional, under the minimum"),
        ("0s", False, "zero"),
        ("5", False, "no unit"),
        ("1d", False, "days are not a Go duration unit"),
        ("-5s", False, "negative"),
        ("5 s", False, "space"),
        ("5S", False, "upper-case unit"),
        ("", False, "empty"),
    ],
)
def test_refresh_interval(interval: str, ok: bool, why: str) -> None:
    obj = drsjob(jobId=REFERENCE_IDS[0], refreshInterval=interval)
    errors = validate(obj)
    assert (errors == []) is ok, (why, errors)
    assert all(e.startswith("spec.refreshInterval:") for e in errors)


def test_job_id_transition_rule_only_fires_on_change() -> None:
    old = drsjob(jobId=REFERENCE_IDS[0])
    same = copy.deepcopy(old)
    same["spec"]["suspend"] = True
    changed = copy.deepcopy(old)
    changed["spec"]["jobId"] = REFERENCE_IDS[1]
    assert validate(same, old=old) == []
    assert validate(changed) == [], "a create has no oldSelf: the transition rule is skipped"
    assert validate(changed, old=old) == ["spec.jobId: jobId is immutable"]


def test_unknown_fields_are_pruned_not_preserved() -> None:
    """Without strict field validation the server prunes unknown fields (no preserve flag)."""
    schema = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    lenient = jsonschema.Draft202012Validator(to_json_schema(schema, strict_fields=False))
    obj = {"spec": {"jobId": REFERENCE_IDS[0], "typo": 1}, "status": {"foo": "bar"}}
    assert list(lenient.iter_errors(obj)) == []
    assert "x-kubernetes-preserve-unknown-fields" not in crd_text()


# --- structure ----------------------------------------------------------------------------------


def _schema_nodes(
    node: Mapping[str, Any], path: str = ""
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _schema_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), Mapping):
        yield from _schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from _schema_nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return load_crd()


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    return dict(versions[0])


@pytest.fixture(scope="module")
def schema(version: dict[str, Any]) -> dict[str, Any]:
    return dict(version["schema"]["openAPIV3Schema"])


def test_the_packaged_copy_is_byte_identical() -> None:
    assert PACKAGE_COPY.read_bytes() == CRD_PATH.read_bytes()
    assert crd_text() == CRD_PATH.read_text()
    assert load_crd() == yaml.safe_load(CRD_PATH.read_text())


def test_names_and_scope(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "drsjobs.drs.operators.dev"
    spec = crd["spec"]
    assert spec["group"] == "drs.operators.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "DrsJob",
        "listKind": "DrsJobList",
        "plural": "drsjobs",
        "singular": "drsjob",
        "shortNames": ["drsj"],
        "categories": ["drs"],
    }
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_schema_is_structural(schema: dict[str, Any]) -> None:
    for path, node in _schema_nodes(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "object" and path not in (".metadata",):
            assert "properties" in node, f"{path}: an object without properties keeps nothing"
        for key in ("$ref", "allOf", "oneOf", "anyOf", "not"):
            assert key not in node, f"{path}: {key} is not structural here"
        assert node.get("x-kubernetes-preserve-unknown-fields") is not False, (
            f"{path}: the API server refuses preserve-unknown-fields: false (leave it out)"
        )


def test_every_string_with_a_cel_rule_is_bounded(schema: dict[str, Any]) -> None:
    """The API server rejects CEL rules whose estimated cost is unbounded."""
    nodes = [(p, n) for p, n in _schema_nodes(schema) if "x-kubernetes-validations" in n]
    assert {p for p, _ in nodes} == {".spec.jobId", ".spec.refreshInterval"}
    for path, node in nodes:
        assert node["type"] == "string" and node.get("maxLength"), path
        for rule in node["x-kubernetes-validations"]:
            _CEL_ENV.compile(rule["rule"])  # parses
            assert rule.get("message"), path


def test_spec_fields(schema: dict[str, Any]) -> None:
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["jobId"]
    assert set(spec["properties"]) == {
        "jobId",
        "credentialsRef",
        "projectId",
        "region",
        "endpoint",
        "refreshInterval",
        "suspend",
        "expect",
    }
    assert spec["properties"]["suspend"] == {
        "type": "boolean",
        "default": False,
        "description": spec["properties"]["suspend"]["description"],
    }
    assert spec["properties"]["jobId"]["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "jobId is immutable"}
    ]
    assert schema["required"] == ["spec"]


def test_status_fields(schema: dict[str, Any]) -> None:
    status = schema["properties"]["status"]["properties"]
    assert set(status) == {
        "observedGeneration", "taskStatus", "phase", "jobName", "description", "taskType",
        "jobDirection", "dbUseType", "netType", "schemaType", "nodeNum", "multiWrite",
        "parentId", "masterJobId", "createTime", "actualStartTime", "fullTransferCompleteTime",
        "updateTime", "sourceEndpoint", "targetEndpoint", "dmqEndpoint", "sourceSharding",
        "instance", "failedReason", "errorCode", "errorMessage", "conditions", "drift",
    }  # fmt: skip
    assert status["phase"]["enum"] == [
        "Pending", "Running", "Paused", "Completed", "Failed", "Deleted", "Unknown"
    ]  # fmt: skip
    for name in ("createTime", "actualStartTime", "fullTransferCompleteTime", "updateTime"):
        assert status[name]["format"] == "date-time", name
    endpoint_fields = {
        "address", "dbType", "ip", "port", "user", "instId", "instName", "region", "projectId",
        "azCode", "vpcId", "subnetId", "securityGroupId", "sslLink", "dbName", "topic",
    }  # fmt: skip
    for name in ("sourceEndpoint", "targetEndpoint", "dmqEndpoint", "sourceSharding"):
        assert set(status[name]["properties"]) == endpoint_fields, name
        assert status[name]["properties"]["port"]["type"] == "integer"
    assert set(status["instance"]["properties"]) == {
        "instType", "engineType", "volumeSize", "ip", "publicIp", "ipv6", "status", "startTime",
    }  # fmt: skip


def test_no_secret_can_be_stored_in_status(schema: dict[str, Any]) -> None:
    for path, _node in _schema_nodes(schema["properties"]["status"]):
        leaf = path.rsplit(".", 1)[-1].lower()
        for word in ("password", "cert", "kerberos", "secret", "token", "keytab"):
            assert word not in leaf, path


def test_conditions_are_a_standard_list_map(schema: dict[str, Any]) -> None:
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert item["required"] == ["type", "status", "lastTransitionTime", "reason", "message"]
    props = item["properties"]
    assert props["status"]["enum"] == ["True", "False", "Unknown"]
    assert props["lastTransitionTime"]["format"] == "date-time"
    assert props["observedGeneration"]["type"] == "integer"
    assert props["message"]["maxLength"] == 32768
    reason = re.compile(props["reason"]["pattern"])
    for good in ("AuthFailed", "Throttled", "NotFound", "Suspended", "UnknownStatus", "A"):
        assert reason.match(good), good
    for bad in ("auth failed", "_Leading", "Trailing,", "9Lives", ""):
        assert not reason.match(bad), bad


EXPECTED_COLUMNS = [
    Column("Status", ".status.taskStatus", "string", 0, "The DRS task status, verbatim."),
    Column("Ready", '.status.conditions[?(@.type=="Ready")].status', "string", 0,
           "The task is in a healthy steady state."),
    Column("Synced", '.status.conditions[?(@.type=="Synced")].status', "string", 0,
           "The latest refresh succeeded."),
    Column("Source", ".status.sourceEndpoint.address", "string", 0, "Source database ip:port."),
    Column("Target", ".status.targetEndpoint.address", "string", 0,
           "Destination database ip:port."),
    Column("Age", ".metadata.creationTimestamp", "date", 0),
    Column("Job ID", ".spec.jobId", "string", 1, "The DRS task ID."),
    Column("Type", ".status.taskType", "string", 1, "The DRS task type."),
    Column("Reason", '.status.conditions[?(@.type=="Synced")].reason', "string", 1,
           "Reason of the Synced condition."),
    Column("Drift", ".status.drift.state", "string", 1,
           "Drift from spec.expect: InSync, Modified, Deleted or NotChecked."),
]  # fmt: skip


def test_printer_columns(crd: dict[str, Any]) -> None:
    assert printer_columns(crd) == EXPECTED_COLUMNS
    assert printer_columns() == EXPECTED_COLUMNS


def _schema_at(schema: Mapping[str, Any], json_path: str) -> Mapping[str, Any] | None:
    node: Mapping[str, Any] | None = schema
    for token in re.findall(r"\.([A-Za-z]+)|(\[\?\(.*?\)\])", json_path):
        if node is None:
            return None
        if token[0]:
            node = node.get("properties", {}).get(token[0])
        else:
            node = node.get("items") if node.get("type") == "array" else None
    return node


@pytest.mark.parametrize("column", EXPECTED_COLUMNS, ids=lambda c: c.name)
def test_printer_column_paths_exist_in_the_schema(schema: dict[str, Any], column: Column) -> None:
    if column.json_path.startswith(".metadata."):
        return  # metadata is the API server's, not in our schema
    node = _schema_at(schema, column.json_path)
    assert node is not None, column.json_path
    assert node["type"] == "string"
    find(column.json_path, {})  # parses with the printer


def test_the_crd_is_a_valid_apiextensions_object(crd: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION


def test_kubernetes_validate_would_notice_a_broken_crd(crd: dict[str, Any]) -> None:
    broken = copy.deepcopy(crd)
    broken["spec"]["versions"][0]["additionalPrinterColumns"][0]["priority"] = "high"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_create_time_cel_rule_is_mirrored_by_the_operator() -> None:
    """plan checks manifests offline without a CEL engine: each create-time rule must have
    its twin in the operator's own spec rules (a new rule fails here until it has one)."""
    rules = list(manifests.cel_rules())
    assert rules, "the CRD has CEL rules"
    for path, rule in rules:
        assert "oldSelf" in rule or rule in manifests.MIRRORED_RULES, (path, rule)


@pytest.mark.parametrize("path", VALID + INVALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_offline_check_agrees_with_the_reference_validator(path: Path) -> None:
    sample = load_sample(path)
    if sample.old is not _ABSENT or "status" in sample.new:
        pytest.skip("an update or a status: not what plan checks")
    reference = validate(sample.new)
    offline = manifests.manifest_errors(sample.new)
    assert bool(offline) == bool(reference), (offline, reference)


# -- the CRD's patterns and the operator's formats (domain/formats.py) -------------------

_FORMAT_ALPHABET = "az09AZ-_.:/ "
_FORMAT_EDGES = [
    "", "a", "a--b", "-a", "a-", "a.b", "ap-southeast-1", "eu-west-101", "cn-north-4",
    "0c4b8a1f2e3d4c5b6a7980e1f2a3b4c5", "proj_id-1", "proj-1", "Proj", "x" * 64, "x" * 65,
    "x" * 253, "x" * 254,
    "9a470239-2308-4bb5-a6bc-1040402fjb21", "9A470239-2308-4bb5-a6bc-1040402fjb21",
    "5s", "1h30m", "500ms", "1.5m", "5", "s",
]  # fmt: skip


def _crd_accepts(field: Mapping[str, Any], text: str) -> bool:
    """What the API server's OpenAPI check says of a string field (length, pattern)."""
    if len(text) < field.get("minLength", 0) or len(text) > field.get("maxLength", len(text)):
        return False
    return re.search(field["pattern"], text) is not None


def _spec_field(crd: dict[str, Any], path: str) -> Mapping[str, Any]:
    node = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for part in path.split("."):
        node = node["properties"][part]
    return node


def _is_duration(text: str) -> bool:
    try:
        formats.parse_duration(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("path", "operator_accepts", "equal"),
    [
        pytest.param("jobId", formats.is_job_id, True, id="jobId: the same set"),
        pytest.param("projectId", formats.is_project_id, True, id="projectId: the same set"),
        pytest.param("region", formats.is_region, True, id="region: the same set (a--b refused)"),
        pytest.param(
            "credentialsRef.name", formats.is_dns1123_subdomain, True, id="Secret name: the same"
        ),
        pytest.param(
            "refreshInterval", _is_duration, False, id="refreshInterval: the CRD's within ours"
        ),
    ],
)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=st.text(alphabet=_FORMAT_ALPHABET, max_size=70))
def test_the_crd_and_the_operator_accept_the_same_formats(
    crd: dict[str, Any],
    path: str,
    operator_accepts: Callable[[str], bool],
    equal: bool,
    drawn: str,
) -> None:
    """Whatever the API server stores, the operator parses (else a valid-looking object
    turns InvalidSpec), and where the formats are one format the two agree exactly."""
    field = _spec_field(crd, path)
    for text in [*_FORMAT_EDGES, drawn]:
        crd_says, ours = _crd_accepts(field, text), operator_accepts(text)
        if equal:
            assert crd_says == ours, (path, text, crd_says, ours)
        else:
            assert ours or not crd_says, (path, text, "the CRD accepts what the operator refuses")
