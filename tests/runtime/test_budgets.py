"""DB-time budgets against a real sqlite connection whose ``sleep_ms`` takes known time.

Budgets sit far from the measured times (1 ms against 40 ms asleep, 60 s against microseconds),
so no outcome depends on how fast the machine is."""

from __future__ import annotations

import sqlite3
import time

import pytest

from dbaudit.runtime import DbTimeBudgetExceeded, assert_max_db_time, ignore, instrument, profile
from dbaudit.runtime.budgets import (
    QueryCountMismatch,
    assert_num_queries,
    check_budget_ms,
    check_query_count,
    worst_statements,
)


@pytest.fixture()
def db() -> sqlite3.Connection:
    raw = sqlite3.connect(":memory:")
    raw.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)
    connection: sqlite3.Connection = instrument(raw)
    return connection


def test_over_budget_names_the_costliest_statements_first(db: sqlite3.Connection) -> None:
    with pytest.raises(DbTimeBudgetExceeded) as raised, assert_max_db_time(1):
        for _ in range(2):
            db.execute("SELECT sleep_ms(20)").fetchone()
        db.execute("SELECT 1").fetchone()
    message = str(raised.value)
    lines = message.splitlines()
    assert lines[0].startswith("expected at most 1 ms in the database, ")
    assert lines[0].endswith(" in 3 queries; worst:")
    assert "2x  SELECT SLEEP_MS(?)" in lines[1] and "test_budgets.py" in lines[1]
    assert "1x  SELECT ?" in lines[2]
    assert raised.value.unit.db_time_ms >= 40


def test_within_budget_and_ignored_queries_count(db: sqlite3.Connection) -> None:
    with assert_max_db_time(60_000) as unit:
        db.execute("SELECT 1").fetchone()
    assert unit.query_count == 1
    with pytest.raises(DbTimeBudgetExceeded), assert_max_db_time(1), ignore():
        db.execute("SELECT sleep_ms(20)").fetchone()  # ignore() silences detectors, not budgets


def test_nested_in_a_profile_the_outer_unit_sees_every_query(db: sqlite3.Connection) -> None:
    with profile() as outer:
        with assert_max_db_time(60_000):
            db.execute("SELECT 1").fetchone()
        db.execute("SELECT 2").fetchone()
    assert outer.query_count == 2


def test_an_exception_in_the_block_wins_over_the_budget(db: sqlite3.Connection) -> None:
    with pytest.raises(KeyError), assert_max_db_time(1):
        db.execute("SELECT sleep_ms(5)").fetchone()
        raise KeyError("the test's own failure")


@pytest.mark.parametrize("bad", [0, -5, "50", True, None])
def test_bad_budgets_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="positive number of milliseconds"):
        check_budget_ms(bad)


def test_worst_statements_groups_by_fingerprint(db: sqlite3.Connection) -> None:
    with profile() as unit:
        for key in range(3):
            db.execute("SELECT ? + 1", (key,)).fetchone()
        db.execute("SELECT sleep_ms(15)").fetchone()
    worst = worst_statements(unit.events, limit=5)
    assert [(w.sql, w.executions) for w in worst] == [
        ("SELECT SLEEP_MS(?)", 1),
        ("SELECT ? + ?", 3),
    ]
    assert worst[0].total_ms >= 15 and worst[0].site is not None
    assert len(worst_statements(unit.events, limit=1)) == 1


# -- exact counts (Django's assertNumQueries) -------------------------------------------------


def test_exact_count_passes_only_on_the_number(db: sqlite3.Connection) -> None:
    with assert_num_queries(2) as unit:
        db.execute("SELECT 1").fetchone()
        with ignore():  # counted all the same: ignore() silences detectors, not budgets
            db.execute("SELECT 2").fetchone()
    assert unit.query_count == 2
    with assert_num_queries(0):
        pass


def test_more_queries_than_expected_fail_listing_each_with_its_call_site(
    db: sqlite3.Connection,
) -> None:
    with pytest.raises(QueryCountMismatch) as raised, assert_num_queries(1):
        db.execute("SELECT 1").fetchone()
        db.execute("SELECT sleep_ms(0)").fetchone()
    lines = str(raised.value).splitlines()
    assert lines[0] == "expected exactly 1 queries, 2 ran:"
    assert lines[1].startswith("  SELECT ?  (") and "test_budgets.py" in lines[1]
    assert "in test_more_queries_than_expected_fail" in lines[1]
    assert lines[2].startswith("  SELECT SLEEP_MS(?)  (")
    assert raised.value.expected == 1 and raised.value.unit.query_count == 2


def test_fewer_queries_than_expected_fail_too(db: sqlite3.Connection) -> None:
    with pytest.raises(QueryCountMismatch) as raised, assert_num_queries(3):
        db.execute("SELECT 1").fetchone()
    assert str(raised.value).splitlines()[0] == "expected exactly 3 queries, 1 ran:"
    with (
        pytest.raises(QueryCountMismatch, match=r"^expected exactly 1 queries, 0 ran$"),
        assert_num_queries(1),
    ):
        pass


def test_exact_count_lets_the_blocks_own_exception_through(db: sqlite3.Connection) -> None:
    with pytest.raises(KeyError), assert_num_queries(5):
        raise KeyError("the test's own failure")


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True, None])
def test_bad_counts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        check_query_count(bad)
    with (
        pytest.raises(ValueError, match="assert_num_queries needs a non-negative integer"),
        assert_num_queries(bad),  # type: ignore[arg-type]
    ):
        pass


def test_the_exact_count_assertion_is_exported_by_the_runtime_package() -> None:
    import dbaudit.runtime as rt
    from dbaudit.runtime import budgets

    assert rt.assert_num_queries is budgets.assert_num_queries
    assert rt.QueryCountMismatch is budgets.QueryCountMismatch
    assert {"assert_num_queries", "QueryCountMismatch"} <= set(rt.__all__)


def test_budget_blocks_keep_their_default_names(db: sqlite3.Connection) -> None:
    from dbaudit.runtime import assert_max_queries

    with assert_max_queries(3) as most, assert_num_queries(0) as exact:
        pass
    with assert_max_db_time(50) as timed, assert_max_db_time(0.5, "named") as named:
        pass
    names = [unit.name for unit in (most, exact, timed, named)]
    assert names == [
        "assert_max_queries(3)",
        "assert_num_queries(0)",
        "assert_max_db_time(50 ms)",
        "named",
    ]


def test_a_failing_block_closes_its_unit_and_nests_in_the_one_around(
    db: sqlite3.Connection,
) -> None:
    from dbaudit.runtime import current_unit

    with profile("around") as around:
        with pytest.raises(KeyError), assert_num_queries(1) as block:
            db.execute("SELECT 1")
            raise KeyError("the test's own failure")
        assert current_unit() is around
    assert block.parent is around and block.ended is not None
    assert around.query_count == 1
