"""The missing-index check on SQLite (``--dbaudit-explain``): ``EXPLAIN QUERY PLAN`` on the
test's own database (an in-memory one cannot be opened twice), end to end with pytester."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dbaudit.runtime.export import load
from dbaudit.runtime.plans import sqlite_full_scans

pytest_plugins = ["pytester"]

APP = """
import sqlite3

import pytest
from sqlalchemy import create_engine, text

import dbaudit.runtime

SCHEMA = [
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, status TEXT)",
    "CREATE INDEX ix_orders_status ON orders (status)",
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
]


@pytest.fixture()
def engine():
    engine = create_engine("sqlite://")  # in memory: one connection, shared
    with engine.begin() as conn:
        for statement in SCHEMA:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 1, 'new'), (2, 2, 'paid')")
    return engine


@pytest.fixture()
def db():
    connection = dbaudit.runtime.instrument(sqlite3.connect(":memory:"))
    for statement in SCHEMA:
        connection.execute(statement)
    return connection


def by_customer(conn, customer_id):
    sql = text("SELECT id FROM orders WHERE customer_id = :c")
    return conn.execute(sql, {"c": customer_id}).all()
"""

TESTS = """
import pytest
from sqlalchemy import text
from app import by_customer


def test_engine_scan(engine):
    with engine.connect() as conn:
        by_customer(conn, 1)


def test_engine_indexed(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT id FROM orders WHERE status = :s"), {"s": "new"}).all()
        conn.execute(text("SELECT id FROM orders WHERE id = :i"), {"i": 1}).all()


def test_sqlite3_scan(db):
    db.execute("SELECT id FROM customers WHERE name = ?", ("Ada",)).fetchall()


@pytest.fixture()
def open_conn(engine):
    # the check runs on the test's own database connection: it must not roll back the
    # transaction the test left open; this teardown runs after the check
    with engine.connect() as conn:
        yield conn
        assert conn.exec_driver_sql("SELECT count(*) FROM customers").scalar() == 1


def test_uncommitted_rows_survive(open_conn):
    open_conn.exec_driver_sql("INSERT INTO customers (name) VALUES ('Bob')")
    by_customer(open_conn, 1)
"""


@pytest.fixture()
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP, conftest="from app import engine, db  # noqa\n")
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    return pytester


def test_a_full_scan_with_a_filter_is_a_missing_index(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess(
        "--dbaudit-explain",
        "--dbaudit-judge-test-code",  # the statements are sent from the test modules
        "--dbaudit-json",
        "ev.json",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA401 at app.py:*(by_customer): missing index on orders: no index can "
            "serve the filter on customer_id (a full SCAN in SQLite's query plan; 1 query)",
            "*fix: CREATE INDEX orders_customer_id_idx ON orders (customer_id);",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*dbaudit DBA401 at test_app.py:18 (test_sqlite3_scan): missing index on customers*"]
    )
    result.stdout.no_fnmatch_line("*note:*")
    units = {unit.name: unit for unit in load(project.path / "ev.json")}
    assert units["test_app.py::test_engine_indexed"].findings == ()
    (scan,) = units["test_app.py::test_engine_scan"].findings
    assert "EXPLAIN QUERY PLAN reads orders in full: SCAN orders" in scan.problem
    # the open transaction of the last test was not rolled back by the check: its fixture's
    # teardown found the row (no error), and the test failed on its finding only
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_uncommitted_rows_survive - Failed: *"])
    result.stdout.fnmatch_lines(["missing-index check: 5 statements planned"])


WRITES_CONFTEST = """
import os
import sqlite3

import pytest

import dbaudit.runtime


@pytest.fixture()
def db():
    connection = dbaudit.runtime.instrument(sqlite3.connect(os.environ["DBAUDIT_SQLITE_FILE"]))
    yield connection
    connection.close()
"""

WRITES = """
def delete_items_of(db, owner_id):
    db.execute("DELETE FROM item WHERE owner_id = ?", (owner_id,))


def test_delete(db):
    delete_items_of(db, 1)
    db.rollback()


def test_update(db):
    db.execute("UPDATE item SET title = ? WHERE title = ?", ("z", "a"))
    db.rollback()


def test_writes_never_planned(db):
    db.execute("UPDATE item SET title = title")  # every row: read in full by design
    # not planned: a bulk copy, meant to read its source in full
    db.execute("INSERT INTO item (title) SELECT title FROM item WHERE owner_id = ?", (2,))
    db.rollback()
"""


def _file_snapshot(path: Path) -> tuple[list[Any], list[Any]]:
    """Every row of the table and the whole catalog (sqlite_master) of a database file."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT * FROM item ORDER BY id").fetchall()
        catalog = connection.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()
        return rows, catalog
    finally:
        connection.close()


def test_an_update_or_delete_is_planned_never_run_and_its_fix_ends_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = pytester.path / "app.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, owner_id INTEGER, title TEXT)")
    connection.execute("INSERT INTO item (owner_id, title) VALUES (1, 'a'), (1, 'b'), (2, 'c')")
    connection.commit()
    connection.close()
    monkeypatch.setenv("DBAUDIT_SQLITE_FILE", str(path))
    pytester.makeconftest(WRITES_CONFTEST)
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    pytester.makepyfile(test_writes=WRITES)
    before = _file_snapshot(path)
    found = pytester.runpytest_subprocess(
        "--dbaudit-explain",
        "--dbaudit-judge-test-code",  # the statements are sent from the test modules
        "--dbaudit-json",
        "ev.json",
        "-p",
        "no:cacheprovider",
    )
    assert _file_snapshot(path) == before  # rows and catalog as they were
    found.assert_outcomes(passed=1, failed=2)
    found.stdout.fnmatch_lines(
        [
            "*dbaudit DBA401 at test_writes.py:2 (delete_items_of): missing index on item: no "
            "index can serve the filter on owner_id (a full SCAN in SQLite's query plan; 1 query)",
            "*fix: CREATE INDEX item_owner_id_idx ON item (owner_id);",
        ]
    )
    found.stdout.fnmatch_lines(
        ["*dbaudit DBA401 at test_writes.py:11 (test_update): missing index on item: * title *"]
    )
    found.stdout.fnmatch_lines(["missing-index check: 2 statements planned"])
    found.stdout.no_fnmatch_line("*note:*")
    fixes = [f.fix.code for u in load(pytester.path / "ev.json") for f in u.findings if f.fix]
    connection = sqlite3.connect(path)
    for code in fixes:
        connection.execute(code)  # the DDL as printed is valid SQLite
    connection.commit()
    connection.close()
    before = _file_snapshot(path)
    fixed = pytester.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    assert _file_snapshot(path) == before
    fixed.assert_outcomes(passed=3)
    fixed.stdout.fnmatch_lines(["missing-index check: 2 statements planned"])
    fixed.stdout.no_fnmatch_line("*DBA401*")


def test_joins_and_subqueries() -> None:
    rows = [(3, 0, 0, "SCAN o"), (5, 0, 0, "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)")]
    join = "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.name = ?"
    assert sqlite_full_scans(rows, join) == []  # o is scanned, but filtered only by the join
    rows = [(2, 0, 0, "SCAN orders"), (7, 0, 0, "LIST SUBQUERY 1"), (9, 7, 0, "SCAN customers")]
    nested = "SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE name = ?)"
    assert [(s.table, s.columns) for s in sqlite_full_scans(rows, nested)] == [
        ("orders", ("customer_id",)),
        ("customers", ("name",)),
    ]
    assert sqlite_full_scans([(2, 0, 0, "SCAN orders")], "SELECT count(*) FROM orders") == []


def test_an_update_or_delete_is_read_by_its_own_where() -> None:
    """The columns an UPDATE's SET writes are not a filter; a subquery's WHERE filters its own
    table."""
    rows = [(4, 0, 0, "SCAN item")]
    update = "UPDATE item SET title = ?, owner_id = ? WHERE title = ?"
    assert [(s.table, s.columns) for s in sqlite_full_scans(rows, update)] == [("item", ("title",))]
    rows = [(3, 0, 0, "SCAN item"), (8, 0, 0, "LIST SUBQUERY 1"), (10, 8, 0, "SCAN owner")]
    delete = "DELETE FROM item WHERE owner_id IN (SELECT id FROM owner WHERE name = ?)"
    assert [(s.table, s.columns) for s in sqlite_full_scans(rows, delete)] == [
        ("item", ("owner_id",)),
        ("owner", ("name",)),
    ]
    assert sqlite_full_scans([(3, 0, 0, "SCAN item")], "DELETE FROM item") == []
