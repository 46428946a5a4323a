"""The DrsJob CRD on a real kube-apiserver: accepted, served, and validating as designed.

- The CRD is created (the session's control plane installs crds/drsjobs.yaml's
  packaged copy): ``Established`` and ``NamesAccepted``, no ``NonStructuralSchema``
  condition, so the schema is structural and its CEL rules are within the API
  server's cost budget (it refuses a CRD otherwise: both refusals are shown to
  happen with a broken copy, by dry-run).
- Every sample of tests/samples/{valid,invalid} is accepted or rejected by
  server-side dry-run exactly as its folder says, an invalid one for the field
  its ``# field:`` line names: create with strict field validation (kubectl's
  default); an update sample (two documents) replaces a stored object (jobId
  immutability, a CEL transition rule); a sample with a status is written
  through the ``status`` subresource of a stored object.
- The server applies the schema's default (``spec.suspend: false``) and keeps
  only the declared fields.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from drs_operator.domain.crd import load_crd
from drs_operator.domain.manifests import manifest_errors
from drs_operator.sandbox.controlplane import ControlPlane, Response
from tests.test_crd import _ABSENT, INVALID, VALID, Sample, load_sample

from .conftest import drsjob, drsjobs_path

pytestmark = pytest.mark.cluster

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
DRY_RUN = {"dryRun": "All", "fieldValidation": "Strict"}
JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"


def test_the_crd_is_established_structural_and_complete(controlplane: ControlPlane) -> None:
    crd = load_crd()
    stored = controlplane.request("GET", f"{CRDS}/{crd['metadata']['name']}").expect()
    conditions = {c["type"]: c for c in stored["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["status"] == "True"
    assert "NonStructuralSchema" not in conditions, conditions["NonStructuralSchema"]
    assert stored["status"]["acceptedNames"] == crd["spec"]["names"]
    # Nothing of ours was dropped or rewritten on the way in.
    version = stored["spec"]["versions"][0]
    assert version["schema"] == crd["spec"]["versions"][0]["schema"]
    assert (
        version["additionalPrinterColumns"]
        == crd["spec"]["versions"][0]["additionalPrinterColumns"]
    )


def _dry_run_crd(plane: ControlPlane, crd: dict[str, Any]) -> Response:
    crd["metadata"]["name"] = "drsjobcopies.copies.example.com"
    crd["spec"]["group"] = "copies.example.com"
    crd["spec"]["names"].update(
        plural="drsjobcopies", singular="drsjobcopy", kind="DrsJobCopy", listKind="DrsJobCopyList"
    )
    crd["spec"]["names"].pop("shortNames", None)
    return plane.request("POST", CRDS, crd, params={"dryRun": "All"})


def test_the_server_would_refuse_a_non_structural_or_too_costly_crd(
    controlplane: ControlPlane,
) -> None:
    """The acceptance above means something: the same server refuses broken copies."""
    assert _dry_run_crd(controlplane, load_crd()).status == 201  # the copy itself is fine

    untyped = load_crd()
    spec = untyped["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    del spec["properties"]["region"]["type"]
    refused = _dry_run_crd(controlplane, untyped)
    assert refused.status == 422, refused
    assert "type: Required value" in refused.body["message"], refused.body["message"]

    costly = load_crd()
    spec = costly["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["tags"] = {"type": "array", "items": {"type": "string"}}
    spec["x-kubernetes-validations"] = [
        {"rule": "self.tags.all(a, self.tags.all(b, a.contains(b)))", "message": "costly"}
    ]
    refused = _dry_run_crd(controlplane, costly)
    assert refused.status == 422, refused
    assert "cost" in refused.body["message"], refused.body["message"]


def _in(namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"] = {**obj.get("metadata", {}), "name": name, "namespace": namespace}
    return obj


def submit(plane: ControlPlane, namespace: str, sample: Sample) -> Response:
    """Dry-run the sample as a user would: create, update, or a status write."""
    name = "sample"
    if sample.old is not _ABSENT:
        stored = plane.request("POST", drsjobs_path(namespace), _in(namespace, name, sample.old))
        version = stored.expect(201)["metadata"]["resourceVersion"]
        update = _in(namespace, name, sample.new)
        update["metadata"]["resourceVersion"] = version
        return plane.request("PUT", drsjobs_path(namespace, name), update, params=DRY_RUN)
    obj = _in(namespace, name, sample.new)
    if "status" not in obj:
        return plane.request("POST", drsjobs_path(namespace), obj, params=DRY_RUN)
    # The main resource ignores .status: it is written through the subresource.
    without_status = {k: v for k, v in obj.items() if k != "status"}
    stored = plane.request(
        "POST", drsjobs_path(namespace), without_status, params={"fieldValidation": "Strict"}
    )
    if not stored.ok:
        return stored  # refused before its status is looked at
    version = stored.body["metadata"]["resourceVersion"]
    obj["metadata"]["resourceVersion"] = version
    return plane.request("PUT", drsjobs_path(namespace, name, status=True), obj, params=DRY_RUN)


def refused_fields(answer: Response) -> set[str]:
    """The fields the server names in a refusal (422 causes, or a 400 strict-decoding error)."""
    if answer.status == 400:
        message = answer.body.get("message", "")
        assert "strict decoding error: unknown field" in message, message
        return {message.split('unknown field "', 1)[1].split('"', 1)[0]}
    assert answer.status == 422, answer
    causes = answer.body.get("details", {}).get("causes", [])
    # "<nil>: some validation rules were not checked because the object was invalid"
    return {c["field"] for c in causes if c.get("field") not in (None, "", "<nil>")}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_sample_is_accepted(controlplane: ControlPlane, namespace: str, path: Path) -> None:
    answer = submit(controlplane, namespace, load_sample(path))
    assert answer.ok, (path.name, answer)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_sample_is_refused_for_its_field(
    controlplane: ControlPlane, namespace: str, path: Path
) -> None:
    sample = load_sample(path)
    answer = submit(controlplane, namespace, sample)
    assert not answer.ok, f"{path.name} was accepted but must fail: {sample.reason}"
    assert refused_fields(answer) == {sample.field}, (sample.reason, answer.body.get("message"))


def test_defaults_are_applied_and_unknown_fields_pruned(
    controlplane: ControlPlane, namespace: str
) -> None:
    body = drsjob("pruned", {"jobId": JOB_ID, "typo": 1}, namespace)
    body["status"] = {"phase": "Running"}
    # Without strict field validation the unknown field is dropped with a warning.
    created = controlplane.request("POST", drsjobs_path(namespace), body).expect(201)
    assert created["spec"] == {"jobId": JOB_ID, "suspend": False}
    assert "status" not in created  # the main resource never takes .status


# -- the emulator against the real thing ---------------------------------------------------------

# Samples the emulator answers differently on purpose: CEL rules and strict field validation are
# not emulated (drs_operator.sandbox.emulator's docstring). Each: why, and what the emulator says.
_THROUGH = (True, set[str]())
_PRUNED = "strict field validation (the emulator prunes, as the server does without it)"
EMULATOR_GAPS: dict[str, tuple[str, tuple[bool, set[str]]]] = {
    "jobid-changed-on-update": ("CEL transition rule (jobId immutable)", _THROUGH),
    "refresh-4999ms": ("CEL rule (refreshInterval >= 5s)", _THROUGH),
    "refresh-below-minimum": ("CEL rule (refreshInterval >= 5s)", _THROUGH),
    "refresh-zero": ("CEL rule (refreshInterval >= 5s)", _THROUGH),
    "spec-unknown-field": (_PRUNED, _THROUGH),
    "credentials-namespace": (_PRUNED, _THROUGH),
    # The password pruned, the sourceEndpoint left is empty: minProperties refuses it.
    "expect-unknown-field": (_PRUNED, (False, {"spec.expect.sourceEndpoint"})),
}


async def emulator_submit(http: Any, sample: Sample, name: str) -> tuple[int, set[str]]:
    """The sample sent to the emulator over HTTP as :func:`submit` sends it to the server."""
    ns = "samples"
    path = drsjobs_path(ns)
    if sample.old is not _ABSENT:
        stored = (await http.post(path, json=_in(ns, name, sample.old))).json()
        update = _in(ns, name, sample.new)
        update["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
        answer = await http.put(f"{path}/{name}", json=update)
    elif "status" in sample.new:
        obj = _in(ns, name, sample.new)
        answer = await http.post(path, json={k: v for k, v in obj.items() if k != "status"})
        if answer.is_success:
            answer = await http.put(f"{path}/{name}/status", json=obj)
    else:
        answer = await http.post(path, json=_in(ns, name, sample.new))
    if answer.is_success:
        return answer.status_code, set()
    return answer.status_code, refused_fields(Response(answer.status_code, answer.json()))


async def test_the_emulator_agrees_with_the_api_server_on_every_sample(
    controlplane: ControlPlane, namespace: str
) -> None:
    import httpx

    from drs_operator.sandbox.emulator import EmulatedCluster

    disagreements: dict[str, tuple[Any, Any]] = {}
    async with EmulatedCluster() as emulator, httpx.AsyncClient(base_url=emulator.url) as http:
        for index, path in enumerate(VALID + INVALID):
            sample = load_sample(path)
            real = submit(controlplane, namespace, sample)
            controlplane.request("DELETE", drsjobs_path(namespace, "sample"))
            theirs = (real.ok, set() if real.ok else refused_fields(real))
            code, fields = await emulator_submit(http, sample, f"s{index}")
            ours = (200 <= code < 300, fields)
            if ours != theirs:
                disagreements[path.stem] = (theirs, ours)
    assert set(disagreements) == set(EMULATOR_GAPS), disagreements
    for stem, (_why, ours) in EMULATOR_GAPS.items():
        assert disagreements[stem][1] == ours, stem


def _named(field: str, named: set[str]) -> bool:
    return any(n == field or n.startswith(field + ".") for n in named)


def test_plans_offline_check_agrees_with_the_api_server_on_every_create(
    controlplane: ControlPlane, namespace: str
) -> None:
    """``plan``'s offline check (domain/manifests.py) against the real server, the one
    reference that shares no code with it: the same samples accepted and refused, and
    every field the server names is named offline too."""
    disagreements = {}
    for path in VALID + INVALID:
        sample = load_sample(path)
        if sample.old is not _ABSENT or "status" in sample.new:
            continue  # updates and status writes: not what plan checks
        real = submit(controlplane, namespace, sample)
        offline = manifest_errors(sample.new)
        named = {message.split(":", 1)[0] for message in offline}
        server = set() if real.ok else refused_fields(real)
        # A duplicate in a set: the server names the item (phases[1]), plan the list.
        missed = {
            f
            for f in server
            if not _named(f, named) and not _named(re.sub(r"\[\d+\]$", "", f), named)
        }
        if real.ok == bool(offline) or missed:
            disagreements[path.stem] = (sorted(server), offline)
    assert disagreements == {}
