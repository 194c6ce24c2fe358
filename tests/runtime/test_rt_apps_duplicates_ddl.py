"""DBA301: a statement run again after DDL on its table (dropped and created again: a test that
restores a backup twice, migrating the same tables twice) is no duplicate."""

from __future__ import annotations

import sqlite3

from dbaudit.runtime import instrument, profile


def test_ddl_between_two_runs_is_no_duplicate() -> None:
    db = instrument(sqlite3.connect(":memory:"))
    with profile("restore twice") as unit:
        for _ in range(2):
            db.execute("CREATE TABLE shelves (id INTEGER PRIMARY KEY, open BOOLEAN)")
            db.execute("UPDATE shelves SET open = 1")
            db.execute("SELECT count(*) FROM shelves WHERE open = 1").fetchone()
            db.execute("DROP TABLE shelves")
    assert [f.rule for f in unit.findings] == []


def test_the_same_statements_with_no_ddl_between_are_duplicates() -> None:
    db = instrument(sqlite3.connect(":memory:"))
    db.execute("CREATE TABLE shelves (id INTEGER PRIMARY KEY, open BOOLEAN)")
    with profile("twice") as unit:
        for _ in range(2):
            db.execute("UPDATE shelves SET open = 1")
        for _ in range(2):
            db.execute("SELECT count(*) FROM shelves WHERE open = 1").fetchone()
    assert sorted(f.rule for f in unit.findings) == ["DBA301", "DBA301"]
