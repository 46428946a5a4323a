"""``drs-operator demo``: the whole thing on loopback, in about a minute.

Starts the DRS simulator with the bundled scenario (a dozen tasks moving
through their states), a Kubernetes API (see below), and the real
operator as a separate process (``drs-operator run``) pointed at both; applies
a credentials Secret and one DrsJob per task (plus one naming a task that does
not exist), then shows the DrsJob table, the operator's cost and the latest
events, live, until the time is up or Ctrl-C; then a summary computed from
what happened (:mod:`drs_operator.cli.demo_view`).

On a terminal the screen is redrawn in place (the alternate screen, as
``top`` and ``less`` do: nothing piles up in the scrollback) and fits its
size (``-o wide`` columns only when they fit); piped, a frame is printed
every ``--interval`` seconds. The operator's log and the demo's kubeconfig
are kept in a folder named at start and at the end (default: under
``$XDG_STATE_HOME/drs-operator/demo/``, else ``~/.local/state/...``; the last
:data:`KEEP_RUNS` runs are kept). Nothing is created before the scenario is
known to be valid.

The Kubernetes API is a real kube-apiserver + etcd (``--cluster``, default
``auto``) when tools/controlplane has built their binaries: then kubectl works
against the demo's kubeconfig and the demo prints commands to try. Else it is
the embedded emulator, which is not a kubectl target (it serves no Table
output, schema validation or field selectors): the demo shows the
``drs-operator get`` command that reads it instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from drs_operator import GROUP, KIND, VERSION
from drs_operator.cli.demo_view import (
    Counts,
    Header,
    Tracker,
    clip,
    fit_table,
    get_command,
    kubectl_commands,
    render_frame,
)
from drs_operator.domain.crd import load_crd
from drs_operator.domain.formats import dns_name
from drs_operator.domain.printing import columns_from_crd

NAMESPACE: Final = "demo"
SECRET: Final = "drs-credentials"
GHOST_NAME: Final = "ghost-task"
CADENCE: Final = ("2s", "8s", "20s")  # in progress, steady, failed — short, for a demo
KEEP_RUNS: Final = 5  # log folders kept under the default parent
DEFAULT_SIZE: Final = (120, 40)  # when the output is not a terminal
TRACK_INTERVAL: Final = 1.0  # seconds between looks at the cluster (frames may be rarer)
PROG: Final = "drs-operator demo"

# Terminal control: the alternate screen, cursor home, erase to end of line / of screen.
ENTER_SCREEN: Final = "\x1b[?1049h\x1b[?25l"
LEAVE_SCREEN: Final = "\x1b[?25h\x1b[?1049l"
HOME: Final = "\x1b[H"
ERASE_LINE: Final = "\x1b[K"
ERASE_BELOW: Final = "\x1b[J"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to run (default 60)",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        metavar="FILE",
        help="simulator scenario YAML (default: the bundled one)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between frames (default: 1 on a terminal, 10 otherwise)",
    )
    parser.add_argument(
        "--cluster", choices=("auto", "apiserver", "emulator"), default="auto",
        help="the Kubernetes API: a real kube-apiserver + etcd built from Go modules "
        "(tools/controlplane; kubectl works), the embedded emulator, or auto (the real one "
        "when its binaries are built, default)",
    )  # fmt: skip
    parser.add_argument(
        "--log-dir", default=None, metavar="DIR",
        help="where to keep the operator's log and the kubeconfig (default: a new folder "
        "under $XDG_STATE_HOME/drs-operator/demo, else ~/.local/state/drs-operator/demo)",
    )  # fmt: skip


EPILOG = """\
The demo's Kubernetes API is a real kube-apiserver when tools/controlplane/build.py
has built one (kubectl then works: the demo prints commands to try), else an
embedded emulator that kubectl cannot use (no Table output, no schema validation):
read its DrsJobs with the `drs-operator get --kubeconfig DIR/kubeconfig -n demo`
command it prints."""


class DemoError(Exception):
    """The demo cannot run as asked (exit 1; e.g. ``--cluster apiserver`` without binaries)."""


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def execute(args: argparse.Namespace) -> int:
    if not args.duration > 0:
        return _fail("--duration must be positive")
    if args.interval is not None and not args.interval > 0:
        return _fail("--interval must be positive")
    try:
        import kmock  # noqa: F401
    except ImportError:
        return _fail("the demo needs the 'demo' extra (pip install -e '.[demo]')")
    from drs_operator.sandbox.simulator import ScenarioError

    try:
        scenario = _load_scenario(args.scenario)
    except ScenarioError as exc:
        return _fail(str(exc))
    if not scenario.access_keys and not scenario.tokens:
        return _fail("the scenario has no access key or token")
    try:
        log_dir = _log_dir(args.log_dir)
    except OSError as exc:
        return _fail(f"cannot create the log folder: {exc.strerror or exc}")
    try:
        return asyncio.run(Demo(args, scenario, log_dir).run())
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def _load_scenario(path: str | None) -> Any:
    from drs_operator.sandbox.simulator import Scenario

    if path:
        return Scenario.from_file(path)
    ref = importlib.resources.files("drs_operator") / "data" / "demo-scenario.yaml"
    with importlib.resources.as_file(ref) as bundled:
        return Scenario.from_file(bundled)


def default_log_parent() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(state) / "drs-operator" / "demo"


def _log_dir(explicit: str | None) -> Path:
    """The run's log folder, created; under the default parent only the last runs are kept."""
    if explicit:
        folder = Path(explicit).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    parent = default_log_parent()
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = parent / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = parent / f"{stamp}-{suffix}"
    folder.mkdir()
    runs = sorted(p for p in parent.iterdir() if p.is_dir() and p.name[:8].isdigit())
    for old in runs[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _expect(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """``spec.expect`` declaring a scenario task's name and source port as it starts."""
    expect: dict[str, Any] = {}
    if isinstance(fields.get("name"), str):
        expect["jobName"] = fields["name"]
    source = fields.get("source_endpoint")
    if isinstance(source, Mapping) and isinstance(source.get("db_port"), int):
        expect["sourceEndpoint"] = {"port": source["db_port"]}
    return expect or None


def secrets_of(scenario: Any) -> list[str]:
    """The scenario's secret values: none may appear in a status, an event or the log."""
    from drs_operator.sandbox.simulator import SECRET_MARKER

    found = [SECRET_MARKER]
    found += [t.token for t in scenario.tokens]
    found += [u.password for u in scenario.users]
    found += [k.secret_key for k in scenario.access_keys]
    found += [k.security_token for k in scenario.access_keys if k.security_token]
    return [value for value in found if value]


class Demo:
    def __init__(self, args: argparse.Namespace, scenario: Any, log_dir: Path) -> None:
        self.duration: float = args.duration
        self.cluster_choice: str = getattr(args, "cluster", "auto")
        self.scenario = scenario
        self.out: TextIO = sys.stdout
        self.tty = self.out.isatty()
        self.interval: float = args.interval or (1.0 if self.tty else 10.0)
        self.columns = columns_from_crd(load_crd())
        self.log_dir = log_dir
        self.log_path = log_dir / "operator.log"
        self.kubeconfig = log_dir / "kubeconfig"
        self.tracker = Tracker()
        self.ids: dict[str, str] = {}  # DrsJob name -> task ID

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def size(self) -> tuple[int, int]:
        if not self.tty:
            columns, lines = shutil.get_terminal_size(DEFAULT_SIZE)
            return columns, lines
        size = shutil.get_terminal_size(DEFAULT_SIZE)
        return size.columns, size.lines

    async def run(self) -> int:
        from drs_operator.sandbox.simulator import Simulator

        simulator = Simulator(scenario=self.scenario)
        cluster, api_kind, kubectl = self._cluster()
        process: asyncio.subprocess.Process | None = None
        header: Header | None = None
        code: int | None = None
        on_screen = False
        started = time.monotonic()
        try:
            sim_url = await simulator.start()
            kube_url = await cluster.start()
            cluster.write_kubeconfig(self.kubeconfig, namespace=NAMESPACE)
            self._apply(cluster, sim_url, self._project())
            process = await self._start_operator()
            header = Header(
                simulator_url=sim_url,
                kube_url=kube_url,
                namespace=NAMESPACE,
                log_dir=str(self.log_dir),
                kubeconfig=str(self.kubeconfig),
                tasks=len(self.scenario.jobs),
                pid=process.pid,
                kubectl=kubectl,
                api_kind=api_kind,
            )
            if self.tty:
                self.out.write(ENTER_SCREEN)
                on_screen = True
            else:
                self.say(f"{PROG}: the operator's log and kubeconfig are in {self.log_dir}")
            started = time.monotonic()
            await self._watch(cluster, simulator, process, header, started)
        finally:
            if on_screen:
                self.out.write(LEAVE_SCREEN)
                self.out.flush()
            if process is not None:
                code = await self._stop_operator(process)
            if header is not None:
                self._final(cluster, simulator, header, time.monotonic() - started, code)
            await cluster.stop()
            await simulator.stop()
        return 0

    # -- set-up ------------------------------------------------------------------------

    def _cluster(self) -> tuple[Any, str, str | None]:
        """The Kubernetes API to run on, what it is, and the kubectl to use (if any)."""
        from drs_operator.sandbox.emulator import EmulatedCluster

        if self.cluster_choice != "emulator":
            from drs_operator.sandbox.apiserver_cluster import ApiServerCluster
            from drs_operator.sandbox.controlplane import ControlPlaneUnavailable, find_binaries

            try:
                binaries = find_binaries()
            except ControlPlaneUnavailable as exc:
                if self.cluster_choice == "apiserver":
                    raise DemoError(f"--cluster apiserver: {exc}") from None
                self.say(f"{PROG}: Kubernetes API: the embedded emulator ({exc})")
            else:
                real = ApiServerCluster(binaries)
                what = f"kube-apiserver {real.version} + etcd, built from Go modules".replace(
                    "  ", " "
                )
                self.say(f"{PROG}: Kubernetes API: {what}; kubectl works")
                return real, what, str(real.kubectl)
        return EmulatedCluster(), "embedded emulator", None

    def _project(self) -> str:
        scenario = self.scenario
        for job in scenario.jobs:
            if job.project_id:
                return str(job.project_id)
        for token in scenario.tokens:
            if token.project_id:
                return str(token.project_id)
        for user in scenario.users:
            return str(user.project_id)
        return "0c4b8a1f2e3d4c5b6a7980e1f2a3b4c5"

    @staticmethod
    def _name(job: Any) -> str:
        return dns_name(job.fields.get("name"), fallback=str(job.id))

    def _apply(self, cluster: Any, sim_url: str, project: str) -> None:
        from drs_operator.sandbox.objects import secret

        scenario = self.scenario
        data = {"endpoint": sim_url, "iamEndpoint": sim_url, "projectId": project}
        if scenario.access_keys:
            key = scenario.access_keys[0]
            data.update(accessKey=key.access_key, secretKey=key.secret_key)
        else:
            data.update(token=scenario.tokens[0].token)
        cluster.create(secret(SECRET, NAMESPACE, data))
        self.ids = {self._name(job): str(job.id) for job in scenario.jobs}
        expects = {self._name(job): _expect(job.fields) for job in scenario.jobs}
        if scenario.absent_jobs:
            self.ids[GHOST_NAME] = str(scenario.absent_jobs[0])
        for name, job_id in self.ids.items():
            spec: dict[str, Any] = {"jobId": job_id}
            if expects.get(name):
                spec["expect"] = expects[name]  # what the task was when the demo began
            cluster.create(
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "metadata": {"name": name, "namespace": NAMESPACE},
                    "spec": spec,
                }
            )

    async def _start_operator(self) -> asyncio.subprocess.Process:
        in_progress, steady, failed = CADENCE
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "drs_operator", "run",
                "-n", NAMESPACE,
                "--cadence-in-progress", in_progress,
                "--cadence-steady", steady,
                "--cadence-failed", failed,
                "--cadence-error", "3s",
                "--metrics-port", "0",
                "--health-port", "0",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )  # fmt: skip

    async def _stop_operator(self, process: asyncio.subprocess.Process) -> int | None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        return process.returncode

    # -- the live view -------------------------------------------------------------------

    def _state(self, cluster: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        objects = sorted(cluster.list("drsjobs", NAMESPACE), key=lambda o: o["metadata"]["name"])
        events = sorted(
            cluster.list("events", NAMESPACE),
            key=lambda e: (e.get("lastTimestamp") or "", e["metadata"]["name"]),
        )
        return objects, events

    @staticmethod
    def _counts(cluster: Any, simulator: Any) -> Counts:
        stats = simulator.stats
        return Counts(
            calls=stats.batch_detail_calls,
            ids=stats.ids_requested,
            writes=cluster.status_patch_count(namespace=NAMESPACE),
        )

    async def _watch(
        self, cluster: Any, simulator: Any, process: Any, header: Header, started: float
    ) -> None:
        """Track the cluster every second; draw a frame every ``interval`` seconds."""
        deadline = started + self.duration
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        next_frame = started
        while not stop.is_set() and time.monotonic() < deadline:
            if process.returncode is not None:
                return  # the final output says so and shows the log's tail
            objects, events = self._state(cluster)
            now = time.monotonic()
            self.tracker.observe(objects, events, now - started)
            if now >= next_frame:
                next_frame = now + self.interval
                self._draw(header, objects, events, self._counts(cluster, simulator), now - started)
            pause = min(TRACK_INTERVAL, next_frame - now, deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.05, pause))
        self.tracker.elapsed = min(time.monotonic() - started, self.duration)

    def _draw(
        self,
        header: Header,
        objects: Sequence[Mapping[str, Any]],
        events: Sequence[Mapping[str, Any]],
        counts: Counts,
        elapsed: float,
    ) -> None:
        width, height = self.size()
        lines = render_frame(
            header=header,
            objects=objects,
            events=events,
            counts=counts,
            columns=self.columns,
            elapsed=elapsed,
            duration=self.duration,
            now=datetime.now(UTC),
            width=width,
            height=height if self.tty else 10_000,
        )
        if self.tty:  # in place: home, each line erased to its end, the rest of the screen erased
            self.out.write(HOME + "".join(f"{line}{ERASE_LINE}\n" for line in lines[:-1]))
            self.out.write(lines[-1] + ERASE_LINE + ERASE_BELOW)
            self.out.flush()
        else:
            self.say("\n".join(lines) + "\n")

    def _leaks(self, objects: Sequence[Mapping[str, Any]], events: Sequence[Any]) -> list[str]:
        places = {
            "the DrsJobs' statuses": json.dumps([o.get("status") for o in objects]),
            "the events": json.dumps(list(events)),
            "the operator's log": self.log_path.read_text(errors="replace")
            if self.log_path.exists()
            else "",
        }
        needles = secrets_of(self.scenario)
        return [where for where, text in places.items() if any(n in text for n in needles)]

    def _truth(self, simulator: Any) -> dict[str, str | None]:
        truth: dict[str, str | None] = {}
        for name, job_id in self.ids.items():
            try:
                truth[name] = str(simulator.job(job_id).get("status"))
            except KeyError:
                truth[name] = None
        return truth

    def _final(
        self, cluster: Any, simulator: Any, header: Header, elapsed: float, code: int | None
    ) -> None:
        objects, events = self._state(cluster)
        self.tracker.observe(objects, events, min(elapsed, self.tracker.elapsed or elapsed))
        width, _ = self.size()
        table, wide = fit_table(objects, self.columns, width=width, now=datetime.now(UTC))
        self.say(f"Final state: kubectl get drsjobs -n {NAMESPACE}{' -o wide' if wide else ''}")
        for line in table:
            self.say(line)
        self.say()
        if code not in (0, None):
            self.say(f"The operator exited with code {code}; the end of its log:")
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            for line in tail:
                self.say(clip("  " + line, width))
            self.say()
        for line in self.tracker.summary(
            truth=self._truth(simulator),
            counts=self._counts(cluster, simulator),
            leaks=self._leaks(objects, events),
            duration=self.duration,
            width=width,
        ):
            self.say(line)
        self.say()
        # Paths and commands on lines of their own, never broken (a terminal wraps them whole).
        self.say(f"Operator stopped (exit code {code}). Its log is kept:")
        self.say(f"  {self.log_path}")
        if header.kubectl:
            note = (
                f"The {header.api_kind} stopped with the demo. While a demo runs, kubectl "
                "works against its kubeconfig, e.g.:"
            )
        else:
            note = (
                "The embedded Kubernetes API emulator stopped with the demo. It is not a kubectl "
                "target (no Table output, no schema validation, no field selectors); while a "
                "demo runs, this command reads it (with Go, tools/controlplane/build.py builds "
                "a real kube-apiserver for the demo, and kubectl works):"
            )
        for line in textwrap.wrap(note, width=width):
            self.say(line)
        example = min((name for name in self.ids if name != GHOST_NAME), default=None)
        for command in kubectl_commands(header, example=example) or [get_command(header)]:
            self.say(f"  {command}")
