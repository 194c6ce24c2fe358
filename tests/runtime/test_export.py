"""The events file: written, read back, merged into one Audit; bad files are one-line errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dbaudit.runtime import DetectConfig, instrument, profile
from dbaudit.runtime.export import (
    EventsFileError,
    finding_from_dict,
    finding_to_dict,
    load,
    to_audit,
    write,
)


def run_loop(connection: sqlite3.Connection, n: int) -> None:
    for key in range(n):
        connection.execute("SELECT ? * 2", (key,)).fetchone()


def test_round_trip_and_audit(tmp_path: Path) -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    with profile("first") as first:
        run_loop(connection, 4)
    with profile("second") as second:
        run_loop(connection, 7)
    with profile("secret", keep_params=True) as kept:
        connection.execute("SELECT ?", ("s3cr3t",)).fetchone()
    slow_config = DetectConfig(slow_query_ms=0.000001)  # every query is "slow": values kept
    with profile("slow", config=slow_config) as slow:
        connection.execute("SELECT ?", ("t0p-s3cr3t",)).fetchone()
    assert slow.events[0].params == ("t0p-s3cr3t",)  # in memory, for EXPLAIN
    path = tmp_path / "events.json"
    write(path, [first, second, kept, slow])
    text = path.read_text()
    assert text.count("s3cr3t") == 1  # only the unit that asked to keep values
    units = load(path)
    assert [(u.name, u.queries) for u in units] == [
        ("first", 4),
        ("second", 7),
        ("secret", 1),
        ("slow", 1),
    ]
    assert units[0].findings == tuple(first.findings)  # Finding survives the round trip
    audit = to_audit(units)
    assert sorted(f.rule for f in audit.findings) == ["DBA101", "DBA302"]
    [finding] = [f for f in audit.findings if f.rule == "DBA101"]
    assert finding.rule == "DBA101"
    assert finding.evidence is not None and finding.evidence.queries == 7  # worst unit kept
    assert finding.message.endswith("(in 2 units)")


def test_finding_dict_round_trip_is_exact() -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    with profile() as unit:
        run_loop(connection, 3)
    [finding] = unit.findings
    assert finding_from_dict(json.loads(json.dumps(finding_to_dict(finding)))) == finding


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"format": "other"}', "not a dbaudit runtime events file"),
        ('{"format": "dbaudit.runtime.events", "version": 99}', "version 99"),
        ('{"format": "dbaudit.runtime.events", "version": 1, "units": [{}]}', "malformed unit"),
    ],
)
def test_bad_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "events.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EventsFileError, match=message) as error:
        load(path)
    assert "\n" not in str(error.value)
