from __future__ import annotations

import pytest

from dbaudit.cli import main
from dbaudit.rules.registry import REGISTRY


def test_rules_lists_every_rule_with_severity_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == sorted(REGISTRY)
    first = lines[0].split("\t")
    assert first[:4] == ["DBA101", "high", "stable", "query-in-loop"]
    assert first[4].startswith("Finds a database call")


def test_rule_prints_the_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "dba101"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# DBA101: query in a loop\n\nName: query-in-loop · Severity: high")
    assert out.count("DBA101: query in a loop") == 1
    assert "## Why is this bad?" in out
    assert "## Use instead" in out


def test_unknown_rule_suggests_close_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rule", "DBA11"]) == 2
    err = capsys.readouterr().err
    assert "unknown rule 'DBA11'; did you mean" in err
