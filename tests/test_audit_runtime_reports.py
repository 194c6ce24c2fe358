"""What runtime findings look like once written: the baseline's entries and the text report.

A baseline written again after another run changes no line (a runtime finding's message quotes
the run's counts and times, so its entry carries a stable one; matching is by key, as before).
The text report says "confirmed at runtime" under a static finding the profile saw too, and
"seen at runtime" under a finding only the profile saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbaudit import baseline
from dbaudit.cli import main
from dbaudit.findings import Audit, CallHop, Finding, RuntimeEvidence, Severity
from dbaudit.report import text
from dbaudit.runtime.export import FORMAT, VERSION, finding_to_dict

# owners: an N+1 the static audit sees too (DBA102 at line 8: the loop calls a helper that
# queries); by_owner: one only the runtime sees (line 16: the query is reached through getattr)
DAL = (Path(__file__).parent / "fixtures" / "runtime_gate" / "dal.py").read_text()


def n_plus_one(line: int, function: str, queries: int, ms: float) -> Finding:
    """A runtime N+1 as the detector writes it: the run's count and time in the message."""
    return Finding(
        rule="DBA101",
        severity=Severity.MEDIUM,
        message=f"N+1: the same query ran {queries} times from one call site ({ms:.1f} ms)",
        path="app/dal.py",
        line=line,
        end_line=line,
        function=function,
        call_chain=(CallHop("tests/test_app.py", 4, "test_app"), CallHop("app/dal.py", line, "")),
        source="runtime",
        query_cost=str(queries),
        fixed_query_cost="1",
        evidence=RuntimeEvidence(queries, ms, "tests/test_app.py::test_app", "f00"),
    )


def slow(line: int, ms: float) -> Finding:
    return Finding(
        rule="DBA302",
        severity=Severity.MEDIUM,
        message=f"Slow query: {ms:.1f} ms (threshold 10 ms)",
        path="app/dal.py",
        line=line,
        end_line=line,
        function="owner_of",
        source="runtime",
        evidence=RuntimeEvidence(1, ms, "tests/test_app.py::test_app", "f01"),
    )


def write_events(path: Path, *findings: Finding) -> None:
    unit = {
        "name": "tests/test_app.py::test_app",
        "queries": 30,
        "db_time_ms": 20.0,
        "events": [],
        "findings": [finding_to_dict(f) for f in findings],
    }
    path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "units": [unit]}))


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "dal.py").write_text(DAL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- 5. a baseline written again after another run is the same file ---------------------------


def test_a_baseline_rewritten_after_another_run_changes_no_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(project / "first.json", n_plus_one(16, "by_owner", 6, 1.8), slow(2, 12.5))
    write_events(project / "second.json", n_plus_one(16, "by_owner", 12, 4.1), slow(2, 31.0))
    for argv in (["app", "--no-cache"], []):  # with the static audit, and runtime alone
        assert main(["check", *argv, "--runtime", "first.json", "--write-baseline", "a.json"]) == 0
        assert main(["check", *argv, "--runtime", "second.json", "--write-baseline", "b.json"]) == 0
        capsys.readouterr()
        first, second = (project / "a.json").read_text(), (project / "b.json").read_text()
        assert first == second
        entries = json.loads(first)["findings"]
        runtime = {e["rule"]: e["message"] for e in entries if e["function"] != "owners"}
        assert runtime == {
            "DBA101": "query-in-loop, seen at runtime",
            "DBA302": "slow-query, seen at runtime",
        }
        # and it accepts both runs
        for events in ("first.json", "second.json"):
            assert main(["check", *argv, "--runtime", events, "--baseline", "a.json"]) == 0
        assert "check passed" in capsys.readouterr().out


def test_static_and_confirmed_findings_keep_their_message(tmp_path: Path) -> None:
    static = Finding(
        rule="DBA102",
        severity=Severity.HIGH,
        message="helper owner_of queries once per item of ids",
        path="app/dal.py",
        line=8,
        end_line=8,
        function="owners",
        code="found.append(owner_of(conn, item_id))",
        evidence=RuntimeEvidence(6, 1.8, "t", "f00"),  # confirmed: still the static message
    )
    [entry] = json.loads(baseline.dumps([static], str(tmp_path), str(tmp_path)))["findings"]
    assert entry["message"] == "helper owner_of queries once per item of ids"


def test_a_baseline_written_with_the_runs_messages_still_loads_and_matches(
    tmp_path: Path,
) -> None:
    """Files written before runtime entries got a stable message: same keys, same matching."""
    first = n_plus_one(16, "by_owner", 6, 1.8)
    old_entry = {
        "key": baseline.key_for(first, str(tmp_path), str(tmp_path)),
        "rule": "DBA101",
        "path": "app/dal.py",
        "function": "by_owner",
        "message": first.message,
        "count": 1,
    }
    document = {"tool": "dbaudit", "version": 1, "generated_by": "dbaudit 0.1.0"}
    (tmp_path / "old.json").write_text(json.dumps({**document, "findings": [old_entry]}))
    accepted = baseline.load(str(tmp_path / "old.json"))
    rerun = n_plus_one(19, "by_owner", 12, 4.1)
    assert accepted.new_findings([rerun], str(tmp_path), str(tmp_path)) == []
    rewritten = json.loads(baseline.dumps([rerun], str(tmp_path), str(tmp_path)))["findings"]
    assert [e["key"] for e in rewritten] == [old_entry["key"]]


# -- 6. "seen at runtime" for what only the runtime saw ----------------------------------------


def test_the_text_report_says_seen_for_runtime_only_findings() -> None:
    runtime_only = n_plus_one(16, "by_owner", 6, 1.8)
    confirmed = Finding(
        rule="DBA102",
        severity=Severity.HIGH,
        message="helper owner_of queries once per item of ids",
        path="app/dal.py",
        line=8,
        end_line=8,
        function="owners",
        evidence=RuntimeEvidence(6, 1.8, "tests/test_app.py::test_owners", "f00"),
    )
    output = text.render(Audit(findings=[confirmed, runtime_only]))
    assert (
        "confirmed at runtime: 6 queries (2 ms in the database) in tests/test_app.py::test_owners"
        in output
    )
    assert "seen at runtime: 6 queries (2 ms in the database) in tests/test_app.py::test_app" in (
        output
    )
    assert output.count("confirmed at runtime") == 1


def test_audit_runtime_text_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_events(project / "events.json", n_plus_one(8, "owners", 6, 1.8))
    write_events(project / "other.json", n_plus_one(16, "by_owner", 6, 1.8))
    assert main(["audit", "app", "--runtime", "events.json", "other.json", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "app/dal.py:8:" in out and "confirmed at runtime: 6 queries" in out
    assert "app/dal.py:16:" in out and "seen at runtime: 6 queries" in out
    assert out.count("confirmed at runtime") == 1
