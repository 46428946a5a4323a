"""The control plane's binaries: where they are, and building them (tools/controlplane/build.py).

``etcd``, ``kube-apiserver``, ``kubectl`` and the test helpers ``kstatus`` and
``luahealth`` are built from Go modules into a versioned cache directory
(``~/.cache/drs-operator/controlplane/<versions>/``); :func:`find_binaries`
locates them (``$DRS_CONTROLPLANE_BIN`` first) and can build them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

BINARIES: Final = ("etcd", "kube-apiserver", "kubectl", "kstatus", "luahealth")
BIN_ENV: Final = "DRS_CONTROLPLANE_BIN"  # a directory holding the binaries (skips build.py)
BUILD_SCRIPT: Final = Path("tools") / "controlplane" / "build.py"


class ControlPlaneError(Exception):
    """The control plane could not be started, or a request to it failed."""


class ControlPlaneUnavailable(ControlPlaneError):
    """The binaries are not there and cannot be built; the message says why, in one line."""


# -- the binaries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    """The directory holding :data:`BINARIES`."""

    directory: Path

    def path(self, name: str) -> Path:
        if name not in BINARIES:
            raise KeyError(name)
        return self.directory / name

    @property
    def etcd(self) -> Path:
        return self.path("etcd")

    @property
    def kube_apiserver(self) -> Path:
        return self.path("kube-apiserver")

    @property
    def kubectl(self) -> Path:
        return self.path("kubectl")

    @property
    def kstatus(self) -> Path:
        return self.path("kstatus")

    @property
    def luahealth(self) -> Path:
        return self.path("luahealth")

    def missing(self) -> list[str]:
        return [name for name in BINARIES if not os.access(self.directory / name, os.X_OK)]

    def versions(self) -> dict[str, Any]:
        """``versions.json`` written by build.py (empty when absent)."""
        try:
            loaded = json.loads((self.directory / "versions.json").read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}


def repository_root() -> Path | None:
    """The checkout this package runs from (an editable install), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / BUILD_SCRIPT).is_file():
            return parent
    return None


def find_binaries(*, build: bool = False, quiet: bool = False) -> Binaries:
    """The binaries' directory: ``$DRS_CONTROLPLANE_BIN``, else build.py's cache directory.

    With ``build``, missing binaries are built (``tools/controlplane/build.py``:
    10-25 minutes cold, progress on stderr unless ``quiet``). Raises
    :class:`ControlPlaneUnavailable` with a one-line reason when they are
    missing and are not (or cannot be) built.
    """
    override = os.environ.get(BIN_ENV)
    if override:
        found = Binaries(Path(override).expanduser())
        if found.missing():
            raise ControlPlaneUnavailable(
                f"{BIN_ENV}={override} lacks {', '.join(found.missing())}"
            )
        return found
    root = repository_root()
    if root is None:
        raise ControlPlaneUnavailable(
            f"no {BUILD_SCRIPT} (not a checkout of drs-operator) and {BIN_ENV} is not set"
        )
    script = root / BUILD_SCRIPT
    printed = subprocess.run(
        [sys.executable, str(script), "--print-dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    if printed.returncode != 0 or not printed.stdout.strip():
        raise ControlPlaneUnavailable(f"{script} --print-dir failed: {printed.stderr.strip()}")
    found = Binaries(Path(printed.stdout.strip()))
    if not found.missing():
        return found
    if shutil.which("go") is None:
        raise ControlPlaneUnavailable(
            "go not found on PATH: Go 1.26+ builds kube-apiserver and etcd"
            f" ({', '.join(found.missing())} missing in {found.directory})"
        )
    if not build:
        raise ControlPlaneUnavailable(
            f"{', '.join(found.missing())} not built in {found.directory}: run {script}"
        )
    built = subprocess.run(
        [sys.executable, str(script), *(["--quiet"] if quiet else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        tail = (built.stderr or "").strip().splitlines()[-1:] or ["see its output"]
        raise ControlPlaneUnavailable(f"{script} failed (exit {built.returncode}): {tail[0]}")
    if found.missing():
        raise ControlPlaneUnavailable(f"{script} did not build {', '.join(found.missing())}")
    return found
