"""``drs-operator demo`` on a real kube-apiserver: kubectl works against its kubeconfig."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from drs_operator.sandbox.controlplane import ControlPlane

pytestmark = pytest.mark.cluster


async def test_the_demo_runs_on_the_real_api_server_and_kubectl_reads_it(
    controlplane: ControlPlane, tmp_path: Path
) -> None:
    """The demo starts a control plane of its own (the same binaries) and says so."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drs_operator", "demo", "--cluster", "apiserver",
        "--duration", "20", "--interval", "60", "--log-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        kubeconfig = tmp_path / "kubeconfig"
        for _ in range(150):  # the demo writes its kubeconfig once its API server is ready
            if kubeconfig.exists():
                break
            await asyncio.sleep(0.2)
        assert kubeconfig.exists(), "the demo never wrote its kubeconfig"
        await asyncio.sleep(8)  # a few refreshes
        kubectl = await asyncio.create_subprocess_exec(
            str(controlplane.binaries.kubectl), "--kubeconfig", str(kubeconfig), "-n", "demo",
            "get", "drsjobs", "-o", "wide", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        table, errors = await asyncio.wait_for(kubectl.communicate(), 30)
        out, _ = await asyncio.wait_for(process.communicate(), 90)
    finally:  # the demo stops its own control plane on SIGTERM
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 60)
    text = out.decode()
    assert process.returncode == 0, text[-2000:]
    assert "Kubernetes API: kube-apiserver" in text and "kubectl works" in text
    assert kubectl.returncode == 0, errors.decode()
    header = table.decode().splitlines()[0].split()
    assert header[:4] == ["NAME", "STATUS", "READY", "SYNCED"] and header[-1] == "DRIFT"
    assert "customers-sync" in table.decode()
    assert "get drsjobs -o wide" in text, "the closing note prints kubectl commands"
