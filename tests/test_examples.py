"""examples/: every manifest a user may copy is valid as it stands.

DrsJobs pass the CRD's schema and CEL rules (the validator of tests/test_crd.py) and the
operator's own spec parser; credentials Secrets pass the operator's credentials parser
(each auth mode is shown once) and Kubernetes' schema; the kustomization lists files that
exist; the README lists every file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from drs_operator.domain.credentials import parse_credentials
from drs_operator.domain.spec import parse_spec
from tests.test_crd import validate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MANIFESTS = sorted(p for p in EXAMPLES.rglob("*.yaml") if p.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def test_there_are_examples() -> None:
    assert len(MANIFESTS) >= 7


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_manifest_is_valid(path: Path) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        if doc["kind"] == "DrsJob":
            body = {**doc, "metadata": {"namespace": "team-a", **doc["metadata"]}}
            assert validate(body) == [], path
            parse_spec(doc["spec"], default_credentials="drs-credentials")
        elif doc["kind"] == "Secret":
            kubernetes_validate.validate(doc, "1.33.0", strict=True)
            parse_credentials(doc["stringData"], secret_name=doc["metadata"]["name"])
        else:
            raise AssertionError(f"{path}: unexpected kind {doc['kind']}")


def test_each_auth_mode_is_shown() -> None:
    modes = set()
    for path in MANIFESTS:
        for doc in documents(path):
            if doc["kind"] == "Secret":
                modes.add(parse_credentials(doc["stringData"], secret_name="s").mode)
    assert modes == {"token", "aksk", "password"}


def test_the_kustomization_lists_existing_files() -> None:
    folder = EXAMPLES / "gitops"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["resources"]
    for resource in kustomization["resources"]:
        assert (folder / resource).is_file(), resource
    assert not any(d["kind"] == "Secret" for r in kustomization["resources"]
                   for d in documents(folder / r)), "no Secret in Git"  # fmt: skip


def test_the_readme_lists_every_file() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for path in MANIFESTS:
        if path.parent == EXAMPLES:
            assert f"({path.name})" in readme, path.name
    assert "(gitops/)" in readme
