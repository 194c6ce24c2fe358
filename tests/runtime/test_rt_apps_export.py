"""export.dumps_units: the public writer of an events document whose units carry keys of the
writer's own (the pytest plugin's ``test_code``), read back by ``load`` as any events file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from dbaudit.findings import Severity
from dbaudit.runtime import instrument, profile
from dbaudit.runtime.export import FORMAT, VERSION, dumps_units, load, unit_to_dict


def test_units_with_a_test_code_mark_round_trip(tmp_path: Path) -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    with profile("tests/test_setup.py::test_loop") as unit:
        for key in range(4):
            connection.execute("SELECT ? + 1", (key,)).fetchone()
    [data] = [unit_to_dict(unit)]
    [finding] = data["findings"]
    assert finding["rule"] == "DBA101"
    finding["test_code"] = "a collected test module"
    path = tmp_path / "events.json"
    path.write_text(dumps_units([data]) + "\n", encoding="utf-8")

    document = json.loads(path.read_text(encoding="utf-8"))
    assert (document["format"], document["version"]) == (FORMAT, VERSION)
    assert document["created"].endswith("Z")
    [record] = load(path)
    assert (record.name, record.queries) == ("tests/test_setup.py::test_loop", 4)
    [read] = record.findings
    assert read.severity == Severity.INFO  # advisory: located in test code
    assert "located in test code (a collected test module)" in read.problem
