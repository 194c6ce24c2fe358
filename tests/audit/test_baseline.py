from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dbaudit import baseline
from dbaudit.findings import Finding, Severity


def _finding(line: int, code: str = "for r in rows:\n    q(r)", path: str = "app/a.py") -> Finding:
    return Finding(
        "DBA101", Severity.HIGH, "query in a loop", path, line, line + 1, function="f", code=code
    )


def test_moving_code_keeps_its_entry_and_a_new_finding_is_new(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    baseline.write(str(target), [_finding(10)], cwd=str(tmp_path))
    accepted = baseline.load(str(target))
    moved = _finding(42)
    other = _finding(50, code="while True:\n    q()")
    fresh = accepted.new_findings([moved, other], str(tmp_path), str(tmp_path))
    assert fresh == [other]


def test_identical_findings_are_counted(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    baseline.write(str(target), [_finding(1), _finding(5)], cwd=str(tmp_path))
    document = json.loads(target.read_text())
    assert document["findings"][0]["count"] == 2
    accepted = baseline.load(str(target))
    three = [_finding(1), _finding(5), _finding(9)]
    assert accepted.new_findings(three, str(tmp_path), str(tmp_path)) == [_finding(9)]


def test_keys_do_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    target = tmp_path / "baseline.json"
    baseline.write(str(target), [_finding(3, path="app/a.py")], cwd=str(tmp_path))
    accepted = baseline.load(str(target))
    from_inside = replace(_finding(3), path="a.py")  # ran from tmp_path/app
    assert accepted.new_findings([from_inside], str(tmp_path), str(tmp_path / "app")) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"tool": "other"}', "is not a dbaudit baseline"),
        ('{"tool": "dbaudit", "version": 99}', "has version 99"),
        ('{"tool": "dbaudit", "version": 1, "findings": [{"rule": "x"}]}', "without a key"),
    ],
)
def test_bad_baseline_files_are_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    target = tmp_path / "b.json"
    target.write_text(content)
    with pytest.raises(baseline.BaselineError, match=message):
        baseline.load(str(target))
    with pytest.raises(baseline.BaselineError, match="does not exist"):
        baseline.load(str(tmp_path / "missing.json"))
