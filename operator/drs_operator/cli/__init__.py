"""The ``drs-operator`` command line.

Subcommands, each in its own module with ``configure(parser)`` and
``execute(args) -> int``::

    run       the operator                          drs_operator.cli.run
    simulate  the DRS simulator server              drs_operator.cli.simulate
    demo      emulated cluster + simulator + operator drs_operator.cli.demo
    get       the printer-column table of DrsJobs   drs_operator.cli.get
    query     one batch-detail call, redacted JSON  drs_operator.cli.query

Exit codes: 0 success, 1 runtime failure, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from drs_operator import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("drs_operator.cli.run", "run the operator"),
    "simulate": ("drs_operator.cli.simulate", "run the DRS simulator server"),
    "demo": ("drs_operator.cli.demo", "run a self-contained demo (emulated cluster + simulator)"),
    "get": ("drs_operator.cli.get", "print DrsJobs as kubectl would (printer columns)"),
    "query": ("drs_operator.cli.query", "call batch-detail once and print redacted JSON"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One clear line and exit code 2, without the multi-line usage dump.
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="drs-operator", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.execute(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
