#!/usr/bin/env python3
"""Build the binaries of the test control plane into a versioned cache dir.

Usage: python tools/controlplane/build.py [--print-dir] [--quiet] [--if-go]

Builds kube-apiserver and kubectl (module apiserver/), etcd (module etcd/) and
the test helpers kstatus and luahealth (module helpers/) with the local Go
toolchain, into

    $DRS_CONTROLPLANE_CACHE                                   (if set), else
    ${XDG_CACHE_HOME:-~/.cache}/drs-operator/controlplane
        /k8s-<kubernetes version>-etcd-<etcd version>-<hash>/

where the versions are read from apiserver/go.mod and etcd/go.mod (the one
place they are pinned) and <hash> covers every go.mod, go.sum and *.go file of
the three modules plus the build recipe below, so any change gives a new
directory. A binary already present is not built again. Each binary is written
under a temporary name and renamed into place, and a lock file serialises
concurrent runs, so an interrupted or parallel build never leaves half a
binary behind.

On success the directory is printed on stdout and the exit status is 0.
Exit 3 (one line on stderr, "go not found: ...") when `go` is not on PATH
(with --if-go: exit 0 silently, building nothing, for `make test` on
machines without Go, where pytest then skips the cluster tier and says why);
exit 1 with the last lines of go's output on stderr when a build fails.
--print-dir only prints the directory (building nothing, needing no Go);
check that the binaries exist there before use. --quiet silences progress
messages on stderr.

Standard library only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = ("apiserver", "etcd", "helpers")
BINARIES = ("kube-apiserver", "kubectl", "etcd", "kstatus", "luahealth")

# Bump when the way binaries are built changes (flags, layout): it is part of
# the cache key.
RECIPE = "1: CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false -ldflags=-s -w +version -X"

TAIL_LINES = 40


class BuildError(Exception):
    pass


def read_pin(go_mod: Path, module: str) -> str:
    text = go_mod.read_text()
    m = re.search(r"^\s*(?:require\s+)?" + re.escape(module) + r"\s+(v\S+)", text, re.M)
    if not m:
        raise SystemExit(f"build.py: no requirement on {module} in {go_mod}")
    return m.group(1)


def source_files() -> list[Path]:
    files: list[Path] = []
    for mod in MODULES:
        root = HERE / mod
        files += [root / "go.mod", root / "go.sum"]
        files += sorted(p for p in root.rglob("*.go") if p.is_file())
    return files


def tree_hash() -> str:
    h = hashlib.sha256(RECIPE.encode() + b"\0")
    for path in source_files():
        h.update(path.relative_to(HERE).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def cache_root() -> Path:
    override = os.environ.get("DRS_CONTROLPLANE_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "drs-operator" / "controlplane"


def version_ldflags(k8s_version: str) -> str:
    m = re.match(r"v(\d+)\.(\d+)\.", k8s_version)
    if not m:
        raise SystemExit(f"build.py: cannot parse kubernetes version {k8s_version!r}")
    major, minor = m.groups()
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={k8s_version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(f"[controlplane] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked(path: Path, quiet: bool):
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(quiet, f"waiting for another build (lock {path})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def go_build(go: str, module: str, targets: dict[str, str], ldflags: str, out_dir: Path, log_path: Path, quiet: bool) -> None:
    """Build targets ({binary name: package}) of one module into out_dir."""
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out_dir) as tmp:
        # One `go build` per module: with -o DIR and several packages go names
        # each binary after its package's last path element.
        cmd = [go, "build", "-mod=readonly", "-trimpath", "-buildvcs=false",
               "-ldflags", ldflags, "-o", tmp + os.sep, *targets.values()]
        env = dict(os.environ, CGO_ENABLED="0")
        log(quiet, f"building {', '.join(targets)} (module {module}) ...")
        start = time.monotonic()
        with open(log_path, "ab") as lf:
            lf.write(f"\n$ (cd {HERE / module} && {' '.join(cmd)})\n".encode())
            lf.flush()
            # go runs in its own process group so that an interrupted build
            # takes the compilers and linker it started down with it.
            proc = subprocess.Popen(cmd, cwd=HERE / module, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                output, _ = proc.communicate()
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            lf.write(output)
        if proc.returncode != 0:
            lines = output.decode(errors="replace").splitlines()[-TAIL_LINES:]
            raise BuildError(
                f"go build failed in {module} (exit {proc.returncode}); full log: {log_path}\n"
                + "\n".join(lines))
        for name, pkg in targets.items():
            built = Path(tmp) / pkg.rsplit("/", 1)[-1]
            if not built.is_file():
                raise BuildError(f"go build did not produce {built}")
            os.chmod(built, 0o755)
            os.replace(built, out_dir / name)
        log(quiet, f"built {', '.join(targets)} in {time.monotonic() - start:.0f}s")


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--print-dir", action="store_true", help="print the cache directory and exit; build nothing")
    ap.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    ap.add_argument("--if-go", action="store_true",
                    help="without go on PATH, exit 0 silently (build nothing)")
    args = ap.parse_args()

    k8s = read_pin(HERE / "apiserver" / "go.mod", "k8s.io/kubernetes")
    etcd = read_pin(HERE / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3")
    out_dir = cache_root() / f"k8s-{k8s}-etcd-{etcd}-{tree_hash()}"
    if args.print_dir:
        print(out_dir)
        return 0

    # SIGTERM (and SIGHUP) unwind like Ctrl-C, so temporary files are removed
    # and the go process group is stopped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)

    go = shutil.which("go")
    if go is None and args.if_go:
        return 0
    if go is None:
        print(f"go not found: no 'go' on PATH ({os.environ.get('PATH', '')}); "
              "install Go 1.26+ to build the test control plane", file=sys.stderr)
        return 3

    out_dir.mkdir(parents=True, exist_ok=True)
    plan = [
        ("apiserver", {"kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
                       "kubectl": "k8s.io/kubernetes/cmd/kubectl"}, version_ldflags(k8s)),
        ("etcd", {"etcd": "drs-operator/tools/controlplane/etcd"}, ""),
        ("helpers", {"kstatus": "./cmd/kstatus", "luahealth": "./cmd/luahealth"}, ""),
    ]
    start = time.monotonic()
    built_any = False
    try:
        with locked(out_dir / ".lock", args.quiet):
            # Leftovers of an interrupted run (temporary dirs) are removed here.
            for stale in out_dir.glob(".build-*"):
                shutil.rmtree(stale, ignore_errors=True)
            for module, targets, extra in plan:
                missing = {n: p for n, p in targets.items() if not (out_dir / n).is_file()}
                if not missing:
                    continue
                go_build(go, module, missing, " ".join(f for f in ("-s -w", extra) if f),
                         out_dir, out_dir / "build.log", args.quiet)
                built_any = True
            if built_any or not (out_dir / "versions.json").is_file():
                goversion = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
                manifest = {"kubernetes": k8s, "etcd": etcd, "go": goversion,
                            "binaries": {n: (out_dir / n).stat().st_size for n in BINARIES}}
                tmp = out_dir / ".versions.json.tmp"
                tmp.write_text(json.dumps(manifest, indent=2) + "\n")
                os.replace(tmp, out_dir / "versions.json")
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build.py: interrupted; nothing half-built was left behind", file=sys.stderr)
        return 130
    if built_any:
        log(args.quiet, f"done in {time.monotonic() - start:.0f}s")
    print(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
