"""Units of work: scoping, nesting, ignore(), budgets, decorators, isolation, failure safety."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections.abc import Iterator

import pytest

import dbaudit.runtime.unit as unit_module
from dbaudit.runtime import (
    DetectConfig,
    QueryBudgetExceeded,
    QueryProblem,
    Unit,
    assert_max_queries,
    current_unit,
    ignore,
    instrument,
    no_n_plus_one,
    profile,
    profiler_errors,
)


@pytest.fixture()
def db() -> Iterator[sqlite3.Connection]:
    raw = sqlite3.connect(":memory:", check_same_thread=False)
    connection = instrument(raw)
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER)")
    connection.executemany("INSERT INTO items VALUES (?, ?)", [(i, i % 3) for i in range(30)])
    yield connection
    raw.close()


# One sqlite3 connection used by several threads at once fails on Python 3.13 with no profiler
# at all ("bad parameter or other API misuse"): statements take turns; threads still interleave.
_ONE_STATEMENT_AT_A_TIME = threading.Lock()


def load_item(db: sqlite3.Connection, key: int) -> object:
    with _ONE_STATEMENT_AT_A_TIME:
        return db.execute("SELECT * FROM items WHERE id = ?", (key,)).fetchone()


def test_nothing_is_recorded_outside_a_unit(db: sqlite3.Connection) -> None:
    assert current_unit() is None
    load_item(db, 1)
    with profile("u") as unit:
        pass
    assert unit.query_count == 0


def test_unit_counts_and_judges(db: sqlite3.Connection) -> None:
    with profile("loop") as unit:
        for key in range(5):
            load_item(db, key)
    assert unit.query_count == 5
    assert [f.rule for f in unit.findings] == ["DBA101"]
    event = unit.events[0]
    assert event.source == "sqlite3"
    assert event.call_site is not None and event.call_site.function == "load_item"
    assert event.params is None  # literal values are not kept unless asked
    assert event.fingerprint.text == "SELECT * FROM items WHERE id = ?"


def test_fixed_version_is_clean(db: sqlite3.Connection) -> None:
    with profile("batched") as unit:
        db.execute("SELECT * FROM items WHERE id IN (?, ?, ?, ?, ?)", tuple(range(5))).fetchall()
    assert unit.query_count == 1
    assert unit.findings == []


def test_keep_params_keeps_values(db: sqlite3.Connection) -> None:
    with profile(keep_params=True) as unit:
        load_item(db, 3)
    assert unit.events[0].params == (3,)


def test_nested_units_both_record(db: sqlite3.Connection) -> None:
    with profile("outer") as outer:
        load_item(db, 1)
        with profile("inner") as inner:
            load_item(db, 2)
    assert (outer.query_count, inner.query_count) == (2, 1)


def test_ignore_still_counts_but_is_not_judged(db: sqlite3.Connection) -> None:
    with profile() as unit, ignore():
        for key in range(5):
            load_item(db, key)
    assert unit.query_count == 5
    assert unit.judged_count == 0
    assert unit.findings == []


def test_memory_is_bounded(db: sqlite3.Connection) -> None:
    with profile(config=DetectConfig(max_events=3)) as unit:
        for key in range(10):
            load_item(db, key)
    assert len(unit.events) == 3
    assert unit.query_count == 10
    assert unit.dropped == 7


def test_raise_on_turns_a_finding_into_a_failure(db: sqlite3.Connection) -> None:
    with pytest.raises(QueryProblem, match="DBA101"), profile("strict", raise_on=("DBA101",)):
        for key in range(4):
            load_item(db, key)
    with profile("strict", raise_on=("DBA101",)):
        load_item(db, 1)  # one query: nothing to raise


def test_assert_max_queries(db: sqlite3.Connection) -> None:
    with assert_max_queries(2):
        load_item(db, 1)
        load_item(db, 2)
    budget_error = pytest.raises(QueryBudgetExceeded, match="expected at most 1 queries, 2 ran")
    with budget_error as error, assert_max_queries(1):
        load_item(db, 1)
        with ignore():
            load_item(db, 2)  # ignore() silences detectors, not budgets
    assert "SELECT * FROM items WHERE id = ?" in str(error.value)


def test_decorator_sync_and_async(db: sqlite3.Connection) -> None:
    seen: list[Unit] = []

    @profile(on_finish=seen.append)
    def work() -> int:
        load_item(db, 1)
        return 7

    @profile("named", on_finish=seen.append)
    async def awork() -> int:
        load_item(db, 2)
        load_item(db, 3)
        return 8

    assert work() == 7
    assert asyncio.run(awork()) == 8
    assert [(u.name.rsplit(".", 1)[-1], u.query_count) for u in seen] == [("work", 1), ("named", 2)]


def test_profiler_failure_never_breaks_the_query(
    db: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("boom inside the profiler")

    monkeypatch.setattr(unit_module, "capture_stack", broken)
    before = profiler_errors()
    with profile() as unit:
        row = load_item(db, 4)
    assert row == (4, 1)  # the application's result is untouched
    assert unit.query_count == 0
    assert profiler_errors() == before + 1


def test_failed_query_is_recorded_and_still_raises(db: sqlite3.Connection) -> None:
    with profile() as unit, pytest.raises(sqlite3.OperationalError):
        db.execute("SELECT * FROM no_such_table")
    assert [e.error for e in unit.events] == ["OperationalError"]


def test_threads_never_share_units(db: sqlite3.Connection) -> None:
    counts: dict[int, int] = {}
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        with profile(f"thread-{n}") as unit:
            barrier.wait()
            for key in range(n + 1):
                load_item(db, key)
        assert all(e.thread_id == threading.get_ident() for e in unit.events)
        counts[n] = unit.query_count

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == {n: n + 1 for n in range(8)}


def test_tasks_never_share_units(db: sqlite3.Connection) -> None:
    async def worker(n: int) -> tuple[int, int, set[int | None]]:
        async with profile(f"task-{n}") as unit:
            for key in range(n + 1):
                load_item(db, key)
                await asyncio.sleep(0)  # interleave with every other task
        return n, unit.query_count, {e.task_id for e in unit.events}

    async def main() -> list[tuple[int, int, set[int | None]]]:
        return await asyncio.gather(*(worker(n) for n in range(20)))

    results = asyncio.run(main())
    assert [(n, count) for n, count, _ in results] == [(n, n + 1) for n in range(20)]
    assert all(len(tasks) == 1 for _, _, tasks in results)
    assert len({next(iter(tasks)) for _, _, tasks in results}) == 20


def test_tasks_started_inside_a_unit_belong_to_it(db: sqlite3.Connection) -> None:
    async def fetch(key: int) -> None:
        load_item(db, key)

    async def main() -> Unit:
        async with profile() as unit:
            await asyncio.gather(fetch(1), fetch(2), asyncio.to_thread(load_item, db, 3))
        return unit

    assert asyncio.run(main()).query_count == 3


def test_negative_budget_is_rejected() -> None:
    with pytest.raises(ValueError, match="budget"), assert_max_queries(-1):
        pass


def test_no_n_plus_one(db: sqlite3.Connection) -> None:
    with pytest.raises(QueryProblem, match="DBA101"), no_n_plus_one():
        for key in range(3):
            load_item(db, key)
    with no_n_plus_one(threshold=4):
        for key in range(3):
            load_item(db, key)


def test_top_level_package_exports() -> None:
    import dbaudit

    assert dbaudit.profile is profile
    assert dbaudit.ignore is ignore
    with pytest.raises(AttributeError):
        _ = dbaudit.no_such_name  # type: ignore[attr-defined]


def test_default_names_are_where_the_unit_opened() -> None:
    line = sys._getframe().f_lineno
    with profile() as unit:
        pass

    async def opened() -> Unit:
        async with profile() as unit:
            return unit

    assert unit.name == f"{__file__}:{line + 1}"
    assert asyncio.run(opened()).name == f"{__file__}:{line + 5}"


def test_add_findings_joins_the_detectors_with_allow_patterns(db: sqlite3.Connection) -> None:
    from dbaudit.findings import Finding, Severity

    def finding(path: str) -> Finding:
        return Finding("DBA401", Severity.HIGH, "m", path, 3, 3)

    with profile(config=DetectConfig(allow=("skip/*",))) as unit:
        for key in range(4):
            load_item(db, key)
        with pytest.raises(ValueError, match="still open"):
            unit.add_findings([finding("app/a.py")])
    detected = unit.findings
    unit.add_findings([finding("app/a.py"), finding("skip/b.py")])
    assert unit.findings == [*detected, finding("app/a.py")]
    assert [s.finding.path for s in unit.detection.suppressed] == ["skip/b.py"]
    assert "skip/*" in unit.detection.suppressed[0].reason
