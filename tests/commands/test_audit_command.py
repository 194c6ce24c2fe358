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
