"""The ``drs-operator`` command line.

Subcommands, one module each in this package, with ``configure(parser)``,
``execute(args) -> int`` and optionally ``EPILOG`` (plain text after the
options); ``demo_view`` is the demo's screen and summary (pure)::

    run       the operator                            drs_operator.cli.run
    simulate  the DRS simulator server                drs_operator.cli.simulate
    demo      API server + simulator + operator       drs_operator.cli.demo
    get       the printer-column table of DrsJobs     drs_operator.cli.get
    query     one batch-detail call, redacted JSON    drs_operator.cli.query
    plan      manifests checked against the cloud     drs_operator.cli.plan
    import    manifests for existing tasks            drs_operator.cli.import_

Parsers are built lazily: only the chosen subcommand's module is imported
(``run`` loads nothing of the demo, the simulator or the emulator);
``drs-operator --help`` lists the subcommands from :data:`COMMANDS` alone.

Exit codes, the same for every subcommand (:data:`EXIT_CODES`, shown by
``--help``): 0 success, 1 runtime or API error, 2 usage or input error. An
error is one line on stderr: ``drs-operator <command>: error: <what>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from drs_operator import __version__

DESCRIPTION = "drs-operator: Huawei Cloud DRS replication tasks as Kubernetes DrsJob resources."
EXIT_CODES = (
    "exit codes: 0 success; 1 runtime or API error (e.g. a cluster or DRS endpoint that\n"
    "cannot be reached, refused credentials); 2 usage or input error (bad flags, a file\n"
    "that is missing or invalid, no usable kubeconfig). Errors are one line on stderr."
)

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("drs_operator.cli.run", "run the operator"),
    "simulate": ("drs_operator.cli.simulate", "run the DRS simulator server"),
    "demo": ("drs_operator.cli.demo", "run a demo: Kubernetes API, DRS simulator, operator"),
    "get": ("drs_operator.cli.get", "print DrsJobs as kubectl would (printer columns)"),
    "query": ("drs_operator.cli.query", "call batch-detail once and print redacted JSON"),
    "plan": (
        "drs_operator.cli.plan",
        "check DrsJob manifests against the cloud (drift, before merging)",
    ),
    "import": ("drs_operator.cli.import_", "print DrsJob manifests for existing DRS tasks"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One clear line and exit code 2, without the multi-line usage dump.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first word that is one), if any."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None  # an unknown word: argparse reports it
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` gets its options (and its imports).

    A subcommand module may define ``EPILOG`` (plain text, printed as written
    after its options); every ``--help`` ends with the exit codes.
    """
    parser = _Parser(
        prog="drs-operator",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    chosen = _chosen(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=help_text[:1].upper() + help_text[1:] + ".",
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == chosen:
            module = importlib.import_module(module_name)
            module.configure(cmd)
            epilog = getattr(module, "EPILOG", None)
            if epilog:
                cmd.epilog = f"{epilog}\n\n{EXIT_CODES}"
            cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(words).parse_args(words)
    try:
        return int(args._module.execute(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
