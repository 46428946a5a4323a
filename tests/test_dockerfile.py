"""The Dockerfile and .dockerignore, checked without a Docker engine.

The Dockerfile is parsed into instructions (continuations joined, comments and
parser directives dropped); .dockerignore patterns are matched the way the
Docker CLI does (paths relative to the context root, ``**`` spans directories,
a pattern that matches a directory excludes everything below it, ``!`` re-includes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SECRET_LOOKING = re.compile(
    r"(\.pem$|\.key$|\.p12$|\.pfx$|(^|/)\.env(\.|$)|kubeconfig|(^|/)\.kube(/|$)|id_rsa|"
    r"(^|/)\.git(/|$)|credentials|secret)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comments inside a continuation are dropped by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = " ".join((pending + line).split())
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        assert result, "an instruction before the first FROM"
        result[-1].append(instruction)
    return result


def ignore_patterns(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.strip("/")
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a match on a parent counts."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())
STAGES = stages(INSTRUCTIONS)
FINAL = STAGES[-1]
PATTERNS = ignore_patterns(DOCKERIGNORE.read_text())


def test_multi_stage_build_from_pinned_slim_images() -> None:
    assert len(STAGES) >= 2, "a builder stage and a runtime stage"
    for stage in STAGES:
        image = stage[0].args.split()[0]
        assert image != "scratch"
        name, _, tag = image.partition(":")
        assert name == "python", image
        assert tag and tag != "latest", f"{image}: pin a tag"
        assert re.fullmatch(r"3\.\d+(\.\d+)?-slim(-\w+)?", tag), f"{image}: a slim Python tag"
    assert re.search(r"\bAS builder$", STAGES[0][0].args, re.IGNORECASE)


def test_builder_builds_a_wheel_of_the_repository_and_its_dependencies() -> None:
    runs = " ".join(i.args for i in STAGES[0] if i.keyword == "RUN")
    assert "pip wheel --no-deps --wheel-dir /wheels ." in runs
    assert re.search(r"pip wheel --wheel-dir /wheels /wheels/drs_operator-\*\.whl", runs)


def test_final_stage_installs_wheels_only_from_the_builder() -> None:
    runs = [i.args for i in FINAL if i.keyword == "RUN"]
    assert any("pip install --no-index" in r and "from=builder" in r for r in runs)
    # The runtime stage copies nothing from the build context (no sources, no secrets).
    for instruction in FINAL:
        if instruction.keyword in {"COPY", "ADD"}:
            assert "--from=builder" in instruction.args, instruction


def test_final_user_is_numeric_and_not_root() -> None:
    users = [i.args for i in FINAL if i.keyword == "USER"]
    assert users, "the runtime stage sets a USER"
    assert users[-1] == "65532:65532"
    uid, gid = (int(x) for x in users[-1].split(":"))
    assert uid != 0 and gid != 0


def test_entrypoint_and_ports() -> None:
    entrypoints = [i.args for i in FINAL if i.keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    assert json.loads(entrypoints[0]) == ["drs-operator", "run"], "exec form, exact"
    assert not [i for i in FINAL if i.keyword == "CMD"], "flags come from the environment"
    exposed = {p for i in FINAL if i.keyword == "EXPOSE" for p in i.args.split()}
    assert exposed == {"8080", "8081"}


def test_no_secret_reaches_the_image() -> None:
    for instruction in INSTRUCTIONS:
        if instruction.keyword in {"COPY", "ADD"}:
            sources = [a for a in instruction.args.split()[:-1] if not a.startswith("--")]
            for source in sources:
                assert not SECRET_LOOKING.search(source), f"{instruction}: secret-looking path"
                assert source not in {".", "./"}, f"{instruction}: the whole context"
        assert instruction.keyword != "ADD", "ADD fetches URLs and unpacks archives; use COPY"
        if instruction.keyword in {"ENV", "ARG"}:
            assert not re.search(r"PASSWORD|TOKEN|SECRET|ACCESS_?KEY", instruction.args, re.I)


def test_copied_sources_exist_and_are_not_ignored() -> None:
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "COPY" and "--from" not in instruction.args:
            for source in instruction.args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not is_ignored(source.rstrip("/"), PATTERNS), source


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".git/config", True),
        (".venv/bin/python", True),
        ("tests/test_chart.py", True),
        ("charts/drs-operator/values.yaml", True),
        ("bench/run.py", True),
        ("docs/gitops.md", True),
        ("server.pem", True),
        ("deploy/tls/server.key", True),
        (".env", True),
        ("deploy/.env.production", True),
        ("kubeconfig", True),
        ("clusters/prod/kubeconfig.yaml", True),
        ("admin.kubeconfig", True),
        (".kube/config", True),
        ("operator/drs_operator/__pycache__/cli.cpython-312.pyc", True),
        ("pyproject.toml", False),
        ("README.md", False),
        ("operator/drs_operator/cli.py", False),
    ],
)
def test_dockerignore_keeps_secrets_and_clutter_out(path: str, ignored: bool) -> None:
    assert is_ignored(path, PATTERNS) is ignored


def test_dockerignore_keeps_every_package_file() -> None:
    package = ROOT / "operator" / "drs_operator"
    files = [
        p.relative_to(ROOT).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert files
    assert [f for f in files if is_ignored(f, PATTERNS)] == []


def test_parser_handles_continuations_and_comments() -> None:
    parsed = parse_dockerfile("# syntax=x\nFROM a AS b\nRUN one \\\n  # note\n  two\nUSER 1\n")
    assert parsed == [
        Instruction("FROM", "a AS b"),
        Instruction("RUN", "one two"),
        Instruction("USER", "1"),
    ]
