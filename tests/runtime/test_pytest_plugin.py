"""The pytest plugin, end to end: pytest runs in a subprocess (pytester) on a throwaway project."""

from __future__ import annotations

import json

import pytest

from dbaudit.runtime.export import load

pytest_plugins = ["pytester"]

APP = """
import sqlite3

import pytest
from sqlalchemy import create_engine, text

import dbaudit.runtime


@pytest.fixture()
def engine():
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER)"))
        for i in range(20):
            conn.execute(text("INSERT INTO items VALUES (:i, :o)"), {"i": i, "o": i % 4})
    return engine


@pytest.fixture()
def db():
    connection = dbaudit.runtime.instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    return connection


def owner_of(conn, item_id):
    return conn.execute(text("SELECT owner FROM items WHERE id = :i"), {"i": item_id}).scalar()
"""

TESTS = """
from sqlalchemy import text
from app import owner_of


def test_loop(engine):
    with engine.connect() as conn:
        owners = [owner_of(conn, i) for i in range(6)]
    assert owners == [i % 4 for i in range(6)]


def test_batched(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT owner FROM items WHERE id IN (0, 1, 2, 3, 4, 5)")).all()
    assert len(rows) == 6


def test_no_database():
    assert True
"""


@pytest.fixture()
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP, conftest="from app import engine, db  # noqa: F401\n")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def test_without_the_flag_nothing_is_judged(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*= dbaudit =*")
    assert not (project.path / "events.json").exists()


def test_flag_fails_the_n_plus_one_and_prints_a_summary(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA101 at test_app.py:7 (test_loop*): N+1: the same query ran 6 times*",
            "*fix: SELECT owner FROM items WHERE id IN (?)*",
            "*= dbaudit =*",
            "7 queries in 3 tests*; 1 tests with findings",
            "*worst offenders:*",
            "*DBA101 test_app.py:7 *",  # the loop, not the helper that queries
            "*in test_app.py::test_loop",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_loop*"])


def test_warn_mode_and_threshold(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    warned = project.runpytest_subprocess("--dbaudit", "--dbaudit-mode=warn")
    warned.assert_outcomes(passed=3, warnings=1)
    warned.stdout.fnmatch_lines(["*DbauditWarning: dbaudit DBA101*"])
    lenient = project.runpytest_subprocess("--dbaudit", "--dbaudit-threshold=7")
    lenient.assert_outcomes(passed=3)


def test_budgets_marker_and_fixture_work_without_the_flag(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_budget="""
import pytest
from app import owner_of


@pytest.mark.max_queries(2)
def test_over_marker_budget(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


@pytest.mark.max_queries(3)
def test_within_marker_budget(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


def test_fixture_budget(engine, assert_max_queries):
    with engine.connect() as conn:
        with assert_max_queries(1):
            owner_of(conn, 1)
        with assert_max_queries(1):
            owner_of(conn, 1)
            owner_of(conn, 2)


async def test_async_test_is_a_unit_too(db):
    for i in range(4):
        db.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone()
"""
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*max_queries(2): 3 queries ran*",
            "*QueryBudgetExceeded: expected at most 1 queries, 2 ran*",
        ]
    )
    flagged = project.runpytest_subprocess("--dbaudit", "-k", "async")
    flagged.assert_outcomes(failed=1)  # the async test's loop is seen through pytest-asyncio
    flagged.stdout.fnmatch_lines(["*N+1: the same query ran 4 times*"])


def test_json_file_holds_every_test_with_events_and_findings(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-json", "events.json")
    result.assert_outcomes(passed=2, failed=1)
    path = project.path / "events.json"
    document = json.loads(path.read_text())
    assert document["format"] == "dbaudit.runtime.events" and document["version"] == 1
    units = {unit.name: unit for unit in load(path)}
    assert set(units) == {f"test_app.py::test_{n}" for n in ("loop", "batched", "no_database")}
    loop = units["test_app.py::test_loop"]
    assert loop.queries == 6
    assert [f.rule for f in loop.findings] == ["DBA101"]
    assert loop.events[0]["sql"] == "SELECT owner FROM items WHERE id = ?"
    assert "params" not in loop.events[0]  # values are never written unless asked
    assert units["test_app.py::test_no_database"].queries == 0


def test_bad_configuration_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-threshold=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*n_plus_one_threshold must be at least 2*"])
