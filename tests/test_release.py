"""One version everywhere it is shown, a changelog entry for it, the license the package claims."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from drs_operator import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_one_version_in_the_package_the_project_and_the_chart() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    chart = yaml.safe_load((ROOT / "charts" / "drs-operator" / "Chart.yaml").read_text())
    assert project["version"] == __version__ == chart["appVersion"]


def test_the_changelog_has_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{__version__}]" in changelog


def test_the_license_file_is_the_license_the_package_claims() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in (ROOT / "Dockerfile").read_text()
