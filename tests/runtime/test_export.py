"""The events file: written, read back, merged into one Audit; bad files are one-line errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from dbaudit.runtime import DetectConfig, instrument, profile
from dbaudit.runtime.export import (
    EventsFileError,
    finding_from_dict,
    finding_to_dict,
    load,
    merge_parts,
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


def test_merge_parts_writes_one_complete_file_and_removes_the_parts(tmp_path: Path) -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    parts = []
    for worker, n in (("gw0", 3), ("gw1", 4)):
        with profile(f"test_{worker}") as unit:
            run_loop(connection, n)
        part = tmp_path / f"events.json.{worker}.part"
        write(part, [unit])
        parts.append(part)
    target = tmp_path / "events.json"
    assert merge_parts(parts, target) == 2
    assert [(u.name, u.queries) for u in load(target)] == [("test_gw0", 3), ("test_gw1", 4)]
    assert not any(part.exists() for part in parts)


def test_merge_parts_refuses_a_broken_part_and_writes_nothing(tmp_path: Path) -> None:
    good = tmp_path / "a.part"
    write(good, [])
    broken = tmp_path / "b.part"
    broken.write_text("{half")
    with pytest.raises(EventsFileError, match="not JSON"):
        merge_parts([good, broken], tmp_path / "events.json")
    assert good.exists() and not (tmp_path / "events.json").exists()


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    boxes: Mapped[list[Box]] = relationship()


class Box(Base):
    __tablename__ = "boxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"))


def test_events_carry_the_orm_relationship(tmp_path: Path) -> None:
    engine = instrument(create_engine("sqlite://"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Shelf(id=i, boxes=[Box(id=i)]) for i in range(3)])
        session.commit()
    with Session(engine) as session, profile("shelves") as unit:
        for shelf in session.scalars(select(Shelf)).all():
            _ = shelf.boxes
    path = tmp_path / "events.json"
    write(path, [unit])
    [record] = load(path)
    assert [e["relationship"] for e in record.events] == [None] + ["Shelf.boxes"] * 3


def test_unit_totals_survive_the_file_and_to_audit_takes_them_from_the_unit(
    tmp_path: Path,
) -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    with profile("loop") as unit:
        connection.execute("SELECT 1").fetchone()
        run_loop(connection, 6)
    [finding] = unit.findings
    assert finding.evidence is not None
    assert (finding.evidence.queries, finding.evidence.unit_queries) == (6, 7)
    path = tmp_path / "events.json"
    write(path, [unit])
    [record] = load(path)
    assert record.findings == (finding,)
    [merged] = to_audit([record]).findings
    assert merged.evidence is not None and merged.evidence.unit_queries == record.queries == 7
    assert merged.evidence.unit_ms == record.db_time_ms
    # files of earlier versions have no unit totals: 0, "not known"
    data = finding_to_dict(finding)
    del data["evidence"]["unit_queries"], data["evidence"]["unit_ms"]
    old = finding_from_dict(data)
    assert old.evidence is not None and old.evidence.unit_queries == 0


def test_events_carry_a_hash_of_their_literals_and_older_files_still_load(
    tmp_path: Path,
) -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    with profile("pages") as unit:
        for offset in (0, 100, 100):
            connection.execute(f"SELECT 1 LIMIT 100 OFFSET {offset}").fetchall()
        connection.execute("SELECT ?", (1,)).fetchall()
    path = tmp_path / "events.json"
    write(path, [unit])
    assert "OFFSET 100" not in path.read_text()  # a hash, not the values
    [record] = load(path)
    literals = [e["literals"] for e in record.events]
    assert literals == [e.fingerprint.literals for e in unit.events]
    assert literals[0] != literals[1] == literals[2] != "" and literals[3] == ""
    # files written before the field: the events load, their literals not known
    document = json.loads(path.read_text())
    for event in document["units"][0]["events"]:
        del event["literals"]
    path.write_text(json.dumps(document))
    [old] = load(path)
    assert [e.get("literals") for e in old.events] == [None] * 4
    assert old.findings == record.findings


def test_a_units_query_count_leaves_out_a_test_harness_statements() -> None:
    """The events file's ``queries`` is what budgets and the plugin's summary count: a Django
    TestCase's own savepoints are recorded (ignored) but not counted."""
    from dbaudit.runtime.budgets import HARNESS_SOURCE
    from dbaudit.runtime.export import unit_to_dict

    connection = instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with profile("harness") as unit:
        connection.execute("SELECT id FROM t WHERE id = ?", (1,)).fetchall()
    unit.events.append(unit.events[0]._replace(source=HARNESS_SOURCE, ignored=True))
    written = unit_to_dict(unit)
    assert (written["queries"], len(written["events"])) == (1, 2)


def test_events_say_which_request_of_a_unit_they_served(tmp_path: Path) -> None:
    from dbaudit.runtime.unit import request_finished, request_started

    connection = instrument(sqlite3.connect(":memory:"))
    with profile("test with requests") as unit:
        connection.execute("SELECT 1").fetchone()  # the test body: no request
        for _ in range(2):
            request_started()
            connection.execute("SELECT 2").fetchone()
            request_finished()
    path = tmp_path / "events.json"
    write(path, [unit])
    [written] = json.loads(path.read_text())["units"]
    requests = [event["request"] for event in written["events"]]
    assert requests[0] is None
    assert None not in requests[1:] and requests[1] != requests[2]
