"""docs/ci.md and .pre-commit-hooks.yaml name only commands and options the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from dbaudit.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = ROOT / "docs" / "ci.md"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def documented_commands() -> list[str]:
    blocks = re.findall(r"```(?:yaml|console)\n(.*?)```", CI_DOC.read_text(encoding="utf-8"), re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            found = re.search(r"(?:^|run: |\$ )(dbaudit (?:audit|check) [^#|]+)", line.strip())
            if found:
                commands.append(found.group(1).strip())
    return commands


def test_the_ci_doc_shows_the_sarif_upload_and_the_gate() -> None:
    commands = documented_commands()
    # one step gates and writes the SARIF that is uploaded
    gate = (
        "dbaudit check app --baseline dbaudit-baseline.json -f sarif -o dbaudit.sarif --no-progress"
    )
    assert gate in commands
    assert "github/codeql-action/upload-sarif@" in CI_DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", documented_commands())
def test_every_documented_command_parses(command: str) -> None:
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.command in ("audit", "check")


def test_the_pre_commit_hook_runs_a_valid_check_command() -> None:
    manifest = HOOKS.read_text(encoding="utf-8")
    entry = re.search(r"^\s*entry: (.+)$", manifest, re.M)
    args = re.search(r"^\s*args: \[(.*)\]$", manifest, re.M)
    assert entry is not None and args is not None
    extra = [a.strip().strip("\"'") for a in args.group(1).split(",") if a.strip()]
    parsed = build_parser().parse_args([*shlex.split(entry.group(1))[1:], *extra])
    assert parsed.command == "check"
    assert parsed.paths == ["."]
    assert re.search(r"^\s*pass_filenames: false$", manifest, re.M)
    assert re.search(r"^- id: dbaudit$", manifest, re.M)
