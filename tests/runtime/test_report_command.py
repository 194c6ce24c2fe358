"""``dbaudit report EVENTS.json``: the events file rendered by the shared reporters."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dbaudit.cli import main
from dbaudit.runtime import instrument, profile
from dbaudit.runtime.export import write


def lookups(connection: sqlite3.Connection) -> None:
    for key in range(4):
        connection.execute("SELECT ? + 1", (key,)).fetchone()


@pytest.fixture()
def events(tmp_path: Path) -> Path:
    connection = instrument(sqlite3.connect(":memory:"))
    with profile("tests/test_api.py::test_list") as unit:
        lookups(connection)
    path = tmp_path / "events.json"
    write(path, [unit])
    return path


def test_text_report(events: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(events)]) == 0
    out = capsys.readouterr().out
    assert "DBA101" in out
    assert "N+1: the same query ran 4 times" in out
    assert "lookups" in out


def test_json_report_to_file_and_exit_code(events: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    assert main(["report", str(events), "-f", "json", "-o", str(target), "--exit-code"]) == 1
    document = json.loads(target.read_text())
    [finding] = document["findings"]
    assert finding["rule"] == "DBA101"
    assert finding["source"] == "runtime"


def test_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "not a dbaudit runtime events file" in err
