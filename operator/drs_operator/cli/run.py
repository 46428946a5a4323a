"""``drs-operator run``: the operator process.

Before kopf starts, the kubeconfig is loaded (:mod:`drs_operator.engine.kubeconfig`,
the same choice and messages as ``drs-operator get``) and the API server is
checked (:meth:`drs_operator.engine.app.Operator.preflight`), so a missing
kubeconfig or an unreachable cluster is one line on stderr, not a traceback.
Exit codes: 0 stopped by a signal, 1 runtime error (the API server cannot be
reached, refuses the credentials or does not serve DrsJobs; the operator
failed), 2 usage or input error (bad flags or settings, no usable kubeconfig).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from drs_operator.engine import kubeconfig, logs
from drs_operator.engine import settings as settings_mod

PROG = "drs-operator run"
EPILOG = f"""\
Namespaces: -n NS (repeatable) or -A (all).
{settings_mod.WATCH_HELP}

Every option is also an environment variable: --batch-size is {settings_mod.ENV_PREFIX}BATCH_SIZE
(a flag wins over the environment). DURATION is a number with a unit ms, s, m or h
(500ms, 30s, 5m, 1h30m) or a number of seconds.

Start-up: the Kubernetes API must answer and serve DrsJobs within about 10 s (retried),
else the command exits 1 with one line naming the server and the cause."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        default=None,
        help="kubeconfig file (default: $KUBECONFIG, the pod's service account, ~/.kube/config)",
    )
    settings_mod.add_arguments(parser)


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code


def execute(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_sources(args)
    except settings_mod.SettingsError as exc:
        return _fail(str(exc), 2)
    try:
        if args.kubeconfig:
            os.environ["KUBECONFIG"] = str(kubeconfig.choose(args.kubeconfig))
        kubeconfig.load()  # fail here, with get's message, rather than inside kopf
    except kubeconfig.KubeconfigError as exc:
        return _fail(str(exc), 2)
    logs.configure(level=settings.serving.log_level, fmt=settings.serving.log_format)

    from drs_operator import handlers  # kopf is imported only when the operator runs
    from drs_operator.engine.app import StartupError

    try:
        asyncio.run(handlers.run(settings))
    except KeyboardInterrupt:
        return 0
    except (StartupError, kubeconfig.KubeconfigError) as exc:
        return _fail(str(exc), 1 if isinstance(exc, StartupError) else 2)
    except Exception as exc:  # a one-line reason instead of a traceback
        reason = " ".join(str(exc).split())
        return _fail(f"{type(exc).__name__}: {reason}", 1)
    return 0
