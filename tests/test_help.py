"""``--help`` is plain text a user can act on, and the limits agree with the Helm chart's.

Every command's help: no reStructuredText markup, a metavar that says what a value is
(never argparse's bare ``VALUE``), the exit codes at the end; ``run --help``: every
duration's default with its unit, what neither ``-n`` nor ``-A`` means. The numeric
limits of ``run``'s settings are those of ``charts/drs-operator/values.schema.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from drs_operator import __version__, cli
from drs_operator.engine import settings

SCHEMA = Path(__file__).resolve().parents[1] / "charts" / "drs-operator" / "values.schema.json"
# Allowed where the chart cannot follow the CLI: its probes and Service need both ports.
CLI_ONLY = {"metrics-port": "0 disables the server", "health-port": "0 disables the server"}


def help_text(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as caught:
        cli.main([*argv, "--help"])
    assert caught.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("command", [None, *cli.COMMANDS])
def test_help_is_plain_text_with_metavars_and_exit_codes(command: str | None) -> None:
    text = help_text(*([command] if command else []))
    assert "``" not in text and ":class:" not in text and ":func:" not in text
    assert not re.search(r"\bVALUE\b", text), "an option without a metavar"
    assert text.rstrip().endswith(cli.EXIT_CODES.splitlines()[-1])
    assert "0 success; 1 runtime or API error" in text and "2 usage or input error" in text


def test_run_help_gives_durations_with_units_and_what_no_namespace_means() -> None:
    text = " ".join(help_text("run").split())
    for option in settings.OPTIONS:
        if option.metavar == "DURATION":
            match = re.search(rf"--{option.flag} DURATION .*?\(default ([^;]+);", text)
            assert match, option.flag
            assert re.fullmatch(r"(\d+(\.\d+)?(ms|h|m|s))+", match.group(1)), match.group(1)
    assert "With neither -n nor -A the operator watches one namespace" in text
    assert "current kubeconfig context's" in text


def test_version() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["--version"])
    assert out.getvalue().strip() == f"drs-operator {__version__}"


def _camel(flag: str) -> str:
    head, *rest = flag.split("-")
    return head + "".join(word.capitalize() for word in rest)


def _schema_options() -> dict[str, Any]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    properties: dict[str, Any] = schema["properties"]["operator"]["properties"]
    return properties


def test_every_setting_is_in_the_chart_and_the_limits_agree() -> None:
    chart = _schema_options()
    problems = []
    for option in settings.OPTIONS:
        entry = chart.get(_camel(option.flag))
        if entry is None:
            problems.append(f"--{option.flag}: no operator.{_camel(option.flag)} in the chart")
            continue
        parse = option.parse
        cli_limits = {
            "minimum": None if parse.exclusive_minimum else parse.minimum,
            "exclusiveMinimum": parse.minimum if parse.exclusive_minimum else None,
            "maximum": None if parse.exclusive_maximum else parse.maximum,
            "exclusiveMaximum": parse.maximum if parse.exclusive_maximum else None,
        }
        chart_limits = {key: entry.get(key) for key in cli_limits}
        if option.flag in CLI_ONLY:
            continue
        if cli_limits != chart_limits:
            problems.append(f"--{option.flag}: CLI {cli_limits} != chart {chart_limits}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("flag", "value", "accepted"),
    [("batch-size", "100", True), ("batch-size", "101", False), ("batch-size", "0", False),
     ("jitter", "0", True), ("jitter", "1", False), ("rate-limit", "0", False)],
)  # fmt: skip
def test_the_cli_refuses_what_the_chart_refuses(flag: str, value: str, accepted: bool) -> None:
    env = {settings.env_name(flag): value}
    if accepted:
        settings.from_sources(None, env)
    else:
        with pytest.raises(settings.SettingsError, match=settings.env_name(flag)):
            settings.from_sources(None, env)
