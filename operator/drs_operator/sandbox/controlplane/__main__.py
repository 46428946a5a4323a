"""``make cluster``: ``python -m drs_operator.sandbox.controlplane [--keep] [--no-build]``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from drs_operator import GROUP, PLURAL
from drs_operator.sandbox.controlplane.binaries import (
    ControlPlaneError,
    ControlPlaneUnavailable,
    find_binaries,
)
from drs_operator.sandbox.controlplane.plane import ControlPlane

# -- make cluster --------------------------------------------------------------------------------


def _usage(plane: ControlPlane) -> str:
    versions = plane.binaries.versions()
    kubectl = plane.binaries.kubectl
    drs = Path(sys.executable).with_name("drs-operator")
    operator = str(drs) if drs.exists() else "drs-operator"
    return f"""\
Control plane ready in {plane.started_in:.1f}s: kube-apiserver {versions.get("kubernetes", "?")} \
at {plane.server}, etcd {versions.get("etcd", "?")}
Work directory {plane.workdir} (logs, audit log, etcd data); the CRD \
{PLURAL}.{GROUP} is installed.

  export KUBECONFIG={plane.kubeconfig}
  alias kubectl={kubectl}    # built with it; any kubectl works
  kubectl get drsjobs -A -o wide
  kubectl auth whoami        # admin, group system:masters
  {operator} run -n default
  {operator} get -A -o wide

Ctrl-C stops kube-apiserver and etcd and {"keeps" if plane.keep else "removes"} {plane.workdir}.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``make cluster``: a control plane until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m drs_operator.sandbox.controlplane",
        description="Start etcd + kube-apiserver on loopback with the DrsJob CRD, until Ctrl-C.",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory on exit")
    parser.add_argument(
        "--no-build", action="store_true", help="fail instead of building missing binaries"
    )
    args = parser.parse_args(argv)
    try:
        binaries = find_binaries(build=not args.no_build)
    except ControlPlaneUnavailable as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    plane = ControlPlane(binaries, keep=args.keep)
    try:
        plane.start()
    except ControlPlaneError as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 1
    try:
        print(_usage(plane), flush=True)
        while not stop.wait(0.5):
            for process in (plane._etcd, plane._apiserver):
                if process is not None and not process.running:
                    print(
                        f"controlplane: {process.name} exited:\n{process.tail()}", file=sys.stderr
                    )
                    return 1
    finally:
        print("Stopping kube-apiserver and etcd ...", file=sys.stderr, flush=True)
        plane.stop()
        where = f"kept {plane.workdir}" if plane.keep else f"removed {plane.workdir}"
        print(f"Stopped; {where}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
