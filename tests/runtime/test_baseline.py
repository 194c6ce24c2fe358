"""The runtime baseline: keys without line numbers, new/worse/count verdicts, stable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.findings import Finding, RuntimeEvidence, Severity
from dbaudit.runtime.baseline import (
    BaselineFileError,
    Entry,
    RecordedTest,
    compare,
    dumps,
    entries_for,
    load,
    write,
)

FP = "0d3f7185ba9974c2"


def finding(rule: str = "DBA101", queries: int = 6, line: int = 10, fp: str = FP) -> Finding:
    return Finding(
        rule=rule,
        severity=Severity.MEDIUM,
        message=f"N+1: the same query ran {queries} times",
        path="app/dal.py",
        line=line,
        end_line=line,
        source="runtime",
        evidence=RuntimeEvidence(queries, 1.0, "t", fp),
    )


def recorded(*findings: Finding, queries: int = 7) -> RecordedTest:
    entries = entries_for(findings, {FP: "SELECT * FROM t WHERE id = ?"})
    return RecordedTest(queries, {e.key: e for e in entries})


FAIL_ON = ("DBA101", "DBA103")


def test_known_finding_at_another_line_is_tolerated() -> None:
    verdict = compare(recorded(finding()), 7, [finding(line=42)], FAIL_ON)
    assert verdict.regressions == () and len(verdict.tolerated) == 1 and verdict.stale == ()


def test_new_worse_more_findings_and_more_queries_are_regressions() -> None:
    base = recorded(finding())
    new = compare(base, 7, [finding(), finding(fp="ffffffffffffffff")], FAIL_ON)
    assert [r.split(":")[0] for r in new.regressions] == ["DBA101 at app/dal.py"]
    assert "(new)" in new.regressions[0]
    worse = compare(base, 7, [finding(queries=9)], FAIL_ON)
    assert worse.regressions == (
        "DBA101 at app/dal.py:10 (worse: 9 queries, baseline 6): N+1: the same query ran 9 times",
    )
    twice = compare(base, 7, [finding(), finding(line=30)], FAIL_ON)
    assert twice.regressions == ("DBA101 N+1: the same query ran 6 times: 2 findings, baseline 1",)
    more_queries = compare(base, 8, [finding()], FAIL_ON)
    assert more_queries.regressions == ("8 queries, baseline 7",)


def test_rules_outside_fail_on_never_fail_but_stay_recorded() -> None:
    slow = finding(rule="DBA302")
    assert compare(None, 1, [slow], FAIL_ON).regressions == ()
    assert compare(recorded(slow), 1, [slow], FAIL_ON).stale == ()  # seen: not stale


def test_without_a_baseline_every_failing_finding_is_new_and_counts_are_free() -> None:
    verdict = compare(None, 500, [finding()], FAIL_ON)
    assert len(verdict.regressions) == 1 and "(new)" in verdict.regressions[0]


def test_fixed_findings_are_stale() -> None:
    verdict = compare(recorded(finding()), 1, [], FAIL_ON)
    assert verdict.regressions == ()
    assert verdict.stale == (Entry("DBA101", FP, 1, 6, "SELECT * FROM t WHERE id = ?"),)


def test_file_round_trip_is_stable_and_sorted(tmp_path: Path) -> None:
    tests = {"b.py::test": recorded(finding()), "a.py::test": recorded(queries=0)}
    path = tmp_path / "baseline.json"
    write(path, tests)
    assert load(path) == tests
    assert path.read_text() == dumps(load(path))  # re-recording rewrites the same bytes
    assert path.read_text().index("a.py::test") < path.read_text().index("b.py::test")


def test_missing_file_is_an_empty_baseline(tmp_path: Path) -> None:
    assert load(tmp_path / "none.json") == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1,", "not JSON"),
        ('{"format": "x"}', "not a dbaudit runtime baseline"),
        ('{"format": "dbaudit.runtime.baseline", "version": 7, "tests": {}}', "version 7"),
        ('{"format": "dbaudit.runtime.baseline", "version": 1, "tests": {"t": {}}}', "malformed"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content)
    with pytest.raises(BaselineFileError, match=message) as error:
        load(path)
    assert "\n" not in str(error.value)
