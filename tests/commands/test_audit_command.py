"""``dbaudit audit`` end to end through ``dbaudit.cli.main`` on trees written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbaudit.cli import main

SOURCE = """\
from sqlalchemy import select


async def load(session, ids):
    rows = []
    for item_id in ids:
        rows.append(await session.scalar(select(Item).where(Item.id == item_id)))
    return rows
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app" / "dal").mkdir(parents=True)
    (tmp_path / "app" / "dal" / "items.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_text_output_in_linter_convention(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "app", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("app/dal/items.py:7:")
    assert ": DBA101 " in out.splitlines()[0]
    assert out.rstrip().endswith("already optimized.")
    assert "\x1b[" not in out  # piped: no colours


def test_json_and_markdown_to_a_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "app", "--format", "json", "-o", "audit.json", "--no-cache"]) == 0
    document = json.loads((project / "audit.json").read_text())
    assert [f["rule"] for f in document["findings"]] == ["DBA101"]
    assert document["files"][0]["layer"] == "data access"
    assert main(["audit", "app", "-f", "markdown", "-o", "audit.md", "--no-cache"]) == 0
    report = (project / "audit.md").read_text()
    assert report.startswith("# Database Performance Audit Report")
    assert "#### File: `app/dal/items.py`" in report
    assert "wrote markdown report to audit.md" in capsys.readouterr().err


def test_select_and_ignore_options(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "app", "--ignore", "DBA101", "--no-cache"]) == 0
    assert capsys.readouterr().out.startswith("No findings")
    assert main(["audit", "app", "--select", "DBA102,DBA103", "--no-cache"]) == 0
    assert capsys.readouterr().out.startswith("No findings")


def test_files_that_cannot_be_analyzed_give_exit_3(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "app" / "broken.py").write_text("import sqlalchemy\ndef f(:\n")
    (project / "app" / "empty.py").write_text("")
    assert main(["audit", "app", "--no-cache"]) == 3
    captured = capsys.readouterr()
    assert "app/broken.py: syntax error" in captured.out
    assert "app/empty.py: empty file" in captured.out
    assert "1 file(s) could not be analyzed" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "app", "--select", "DBA999"], "unknown rule code 'DBA999'"),
        (["audit", "app", "--jobs", "0"], "--jobs must be at least 1"),
        (["audit", "app", "--min-severity", "urgent"], "unknown severity 'urgent'"),
        (["audit", "app", "-o", "/nonexistent/dir/x.txt"], "cannot write /nonexistent/dir/x.txt"),
        (["audit", "app", "--runtime", "missing.json"], "missing.json: no such file"),
        (["audit", "app", "--verify"], "--verify reviews a database: give --db URL too"),
        (["audit", "app", "--min-improvement", "0.5"], "--min-improvement reviews a database"),
        (
            [
                "audit",
                "app",
                "--db",
                "postgresql://u:secret@127.0.0.1:1/x",
                "--min-improvement",
                "2",
            ],
            "--min-improvement must be between 0 and 1",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*argv, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_pyproject_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text("[tool.dbaudit]\nfail_on = 'high'\n")
    assert main(["audit", "app", "--no-cache"]) == 2
    assert "unknown key 'fail_on' in [tool.dbaudit]" in capsys.readouterr().err


def test_a_path_that_does_not_exist_is_listed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "nowhere", "--no-cache"]) == 3
    assert "nowhere: does not exist" in capsys.readouterr().out


def test_statistics_show_the_cache_at_work(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "app", "--statistics"]) == 0
    assert "parsed 1, 0 from cache, analysis computed" in capsys.readouterr().err
    assert main(["audit", "app", "--statistics"]) == 0
    assert "parsed 0, 1 from cache, analysis from cache" in capsys.readouterr().err
    assert (project / ".dbaudit-cache" / "cache.sqlite3").exists()


def test_an_events_file_that_cannot_be_read_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "events.json").write_text('{"format": "something else"}')
    assert main(["audit", "app", "--runtime", "events.json", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err == "dbaudit: error: events.json: not a dbaudit runtime events file " + (
        "(format 'dbaudit.runtime.events')\n"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://auditor:s3cret@127.0.0.1:1/app",  # nothing listens there
        "postgresql://auditor:s3cret@[not a host/app",  # not a URL at all
    ],
)
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    assert main(["audit", "app", "--db", url, "--no-cache", "-o", "audit.txt"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("dbaudit: error: cannot connect to ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "s3cret" not in captured.err
    assert not (project / "audit.txt").exists()  # refused before auditing


def test_runtime_events_confirm_a_finding_in_the_report(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dbaudit.findings import Finding, RuntimeEvidence, Severity
    from dbaudit.runtime.export import FORMAT, VERSION, finding_to_dict

    measured = Finding(
        rule="DBA101",
        severity=Severity.HIGH,
        message="N+1: the same query ran 30 times from one call site",
        path="app/dal/items.py",
        line=7,
        end_line=7,
        source="runtime",
        fixed_query_cost="1",
        evidence=RuntimeEvidence(30, 15.0, "tests/test_items.py::test_load", "f00"),
    )
    unit = {"name": "tests/test_items.py::test_load", "queries": 31, "db_time_ms": 16.0}
    unit["findings"] = [finding_to_dict(measured)]
    document = {"format": FORMAT, "version": VERSION, "units": [unit]}
    (project / "events.json").write_text(json.dumps(document))
    argv = ["audit", "app", "--runtime", "events.json", "-f", "json", "-o", "a.json", "--no-cache"]
    assert main(argv) == 0
    report = json.loads((project / "a.json").read_text())
    [finding] = report["findings"]
    assert finding["source"] == "static" and finding["evidence"]["queries"] == 30
    assert report["metrics"][0]["queries_after"] == 2
    assert report["database"] is None  # no model, no DDL file: nothing to review


def test_the_review_options_default_to_the_advisors_settings() -> None:
    from dbaudit.commands._review_options import DEFAULT_MIN_IMPROVEMENT
    from dbaudit.indexes.advisor import AdvisorSettings

    assert AdvisorSettings().min_improvement == DEFAULT_MIN_IMPROVEMENT


def test_an_audit_without_db_does_not_load_the_database_drivers(project: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from dbaudit.cli import main; main(['audit', 'app', '--no-cache']);"
        "print(sorted(m for m in ('psycopg', 'sqlalchemy', 'asyncpg') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.rstrip().endswith("[]")
