"""The package's shape: what each command loads (the layers themselves: lint-imports)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from drs_operator.cli import COMMANDS

PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from drs_operator.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(sys.argv[1:])
        except SystemExit:
            pass
    loaded = sorted(m for m in sys.modules if m.startswith(("drs_operator", "kmock", "kopf")))
    print(json.dumps({"loaded": loaded, "help": out.getvalue()}))
    """
)


def _probe(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("argv", "forbidden", "reason"),
    [
        (["run", "--help"], ("drs_operator.sandbox", "kmock", "drs_operator.cli.demo",
                             "drs_operator.cli.simulate"), "run needs no demo or stand-ins"),
        (["get", "--help"], ("drs_operator.sandbox", "kmock", "kopf"), "get needs no operator"),
        (["query", "--help"], ("drs_operator.sandbox", "kmock", "kopf", "drs_operator.engine"),
         "query needs only the DRS client and the credentials parser"),
        (["--help"], ("drs_operator.cli.run", "drs_operator.cli.demo", "drs_operator.sandbox",
                      "kmock", "kopf"), "the top-level help imports no subcommand"),
    ],
)  # fmt: skip
def test_a_command_loads_only_what_it_needs(
    argv: list[str], forbidden: tuple[str, ...], reason: str
) -> None:
    loaded = _probe(*argv)["loaded"]
    assert isinstance(loaded, list)
    wrong = [m for m in loaded if m.startswith(forbidden)]
    assert not wrong, f"{reason}: {wrong}"


def test_the_top_level_help_lists_every_command() -> None:
    text = _probe("--help")["help"]
    assert isinstance(text, str)
    for name, (_, help_text) in COMMANDS.items():
        assert name in text and help_text in text, name
