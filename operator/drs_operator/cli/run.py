"""``drs-operator run``: the operator process."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from drs_operator.engine import logs
from drs_operator.engine import settings as settings_mod


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, in-cluster)"
    )
    settings_mod.add_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.from_sources(args)
    except settings_mod.SettingsError as exc:
        print(f"drs-operator run: error: {exc}", file=sys.stderr)
        return 2
    if args.kubeconfig:
        if not os.path.exists(args.kubeconfig):
            print(
                f"drs-operator run: error: no such kubeconfig: {args.kubeconfig}", file=sys.stderr
            )
            return 2
        os.environ["KUBECONFIG"] = args.kubeconfig
    logs.configure(level=settings.serving.log_level, fmt=settings.serving.log_format)

    from drs_operator import handlers  # kopf is imported only when the operator runs

    try:
        asyncio.run(handlers.run(settings))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # a one-line reason instead of a traceback
        reason = " ".join(str(exc).split())  # one line, e.g. a YAML error of the kubeconfig
        print(f"drs-operator run: error: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0
