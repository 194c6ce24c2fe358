"""Threads with no unit of their own: ``profile(threads=True)`` takes their statements while it
is open (the pytest plugin's unit of a test does); every other unit keeps strict context
scoping. Call sites are the thread's own, events end in ``seq`` order, and once the unit closes a
thread's statement is in no unit."""

from __future__ import annotations

import contextvars
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

import dbaudit.runtime.unit as unit_module
from dbaudit.db import sqlalchemy_url
from dbaudit.runtime import (
    Unit,
    assert_max_queries,
    assert_num_queries,
    current_unit,
    ignore,
    instrument,
    profile,
)
from dbaudit.runtime.budgets import assert_max_db_time
from dbaudit.runtime.detect import N_PLUS_ONE


@pytest.fixture()
def db() -> Iterator[sqlite3.Connection]:
    raw = sqlite3.connect(":memory:", check_same_thread=False)
    connection = instrument(raw)
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER)")
    connection.executemany("INSERT INTO items VALUES (?, ?)", [(i, i % 3) for i in range(30)])
    yield connection
    raw.close()


@pytest.fixture(autouse=True)
def _no_unit_takes_threads() -> Iterator[None]:
    if unit_module._threads_state is not None:  # this suite run under ``pytest --dbaudit``
        pytest.skip("a unit of the test run takes threads' statements")
    yield
    assert unit_module._threads_state is None  # every test leaves it as it found it
    assert unit_module._get_state == unit_module._STATE.get


# One sqlite3 connection used by several threads at once fails on Python 3.13 with no profiler
# at all ("bad parameter or other API misuse"): statements take turns; threads still interleave.
_ONE_STATEMENT_AT_A_TIME = threading.Lock()


def load_item(db: sqlite3.Connection, key: int) -> object:
    with _ONE_STATEMENT_AT_A_TIME:
        return db.execute("SELECT * FROM items WHERE id = ?", (key,)).fetchone()


def in_thread(work: Callable[[], object]) -> int:
    """Run ``work`` in a new thread (a fresh context: no unit), return the thread's id."""
    ident: list[int] = []

    def run() -> None:
        ident.append(threading.get_ident())
        work()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return ident[0]


def n_plus_one_in_a_thread(db: sqlite3.Connection) -> None:
    for key in range(5):
        load_item(db, key)  # the N+1's line


N_PLUS_ONE_LINE = n_plus_one_in_a_thread.__code__.co_firstlineno + 2
LOAD_LINE = load_item.__code__.co_firstlineno + 2  # the execute, under the lock


def test_a_thread_with_no_unit_counts_toward_a_threads_unit(db: sqlite3.Connection) -> None:
    with profile("test", threads=True) as unit:
        load_item(db, 99)
        worker = in_thread(lambda: n_plus_one_in_a_thread(db))
    assert unit.query_count == 6
    threads = [e.thread_id for e in unit.events]
    assert threads == [threading.get_ident()] + [worker] * 5
    # the thread's own call sites (the helper, called from the loop), and the N+1 found there
    stacks = {tuple((site.function, site.line) for site in e.stack[:2]) for e in unit.events[1:]}
    assert stacks == {(("load_item", LOAD_LINE), ("n_plus_one_in_a_thread", N_PLUS_ONE_LINE))}
    [finding] = [f for f in unit.findings if f.rule == N_PLUS_ONE]
    assert finding.line == N_PLUS_ONE_LINE
    assert finding.function.endswith("n_plus_one_in_a_thread")


def test_units_without_the_flag_keep_strict_scoping(db: sqlite3.Connection) -> None:
    with profile("strict") as unit:
        load_item(db, 1)
        in_thread(lambda: n_plus_one_in_a_thread(db))
    assert unit.query_count == 1


def test_executor_workers_count_too(db: sqlite3.Connection) -> None:
    with profile(threads=True) as unit, ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda key: load_item(db, key), range(12)))
    assert unit.query_count == 12


def test_a_statement_after_the_unit_closed_is_in_no_unit(db: sqlite3.Connection) -> None:
    go, seen = threading.Event(), []

    def late() -> None:
        go.wait(10)
        seen.append(current_unit())
        load_item(db, 1)

    with profile(threads=True) as unit:
        thread = threading.Thread(target=late)
        thread.start()
    go.set()
    thread.join()
    with profile(threads=True) as next_unit:  # the next test's
        pass
    assert seen == [None]
    assert unit.query_count == 0
    assert next_unit.query_count == 0


def test_a_thread_sees_the_unit_as_current_and_may_ignore(db: sqlite3.Connection) -> None:
    seen: list[Unit | None] = []

    def work() -> None:
        seen.append(current_unit())
        with ignore():
            load_item(db, 1)
        load_item(db, 2)

    with profile(threads=True) as unit:
        in_thread(work)
    assert seen == [unit]
    assert [e.ignored for e in unit.events] == [True, False]


def test_a_unit_opened_in_a_thread_keeps_its_own_and_nests(db: sqlite3.Connection) -> None:
    """As the middleware's unit of a request served in another thread: strict for itself,
    and the unit that takes threads' statements sees them too."""
    inner: list[Unit] = []

    def request() -> None:
        with profile("request") as unit:
            load_item(db, 1)
            load_item(db, 2)
        inner.append(unit)
        load_item(db, 3)  # after the request: the test's only

    with profile("test", threads=True) as outer:
        in_thread(request)
        with profile("other request"):  # in this context: never the thread's
            load_item(db, 4)
    assert inner[0].parent is outer
    assert inner[0].query_count == 2
    assert outer.query_count == 4


def test_a_block_inside_takes_them_while_open_then_hands_them_back(
    db: sqlite3.Connection,
) -> None:
    with profile("test", threads=True) as outer:
        with assert_max_queries(5) as block:  # threads=None: as the unit around it
            in_thread(lambda: load_item(db, 1))
        assert unit_module._threads_state is not None
        assert unit_module._threads_state.unit is outer
        in_thread(lambda: load_item(db, 2))
    assert block.query_count == 1
    assert outer.query_count == 2


def test_budget_blocks_take_threads_only_when_asked_or_inside_such_a_unit(
    db: sqlite3.Connection,
) -> None:
    with assert_num_queries(0) as strict:  # no unit around: strict
        in_thread(lambda: load_item(db, 1))
    with assert_max_db_time(60_000, threads=True) as taking:
        in_thread(lambda: load_item(db, 1))
    with profile("strict"), assert_max_queries(5) as nested:
        in_thread(lambda: load_item(db, 1))
    assert (strict.query_count, taking.query_count, nested.query_count) == (0, 1, 0)


def test_a_flagged_unit_inside_a_strict_one_hands_back_nothing(db: sqlite3.Connection) -> None:
    with profile("strict") as outer:
        with profile("taking", threads=True) as taking:
            in_thread(lambda: load_item(db, 1))
        in_thread(lambda: load_item(db, 2))  # no unit takes it now
    assert taking.query_count == 1
    assert outer.query_count == 1  # the thread's first statement, through the nested unit


def test_decorated_functions_take_threads(db: sqlite3.Connection) -> None:
    closed: list[Unit] = []

    @profile(threads=True, on_finish=closed.append)
    def job() -> None:
        in_thread(lambda: load_item(db, 1))

    job()
    assert closed[0].query_count == 1


def test_events_of_several_threads_end_in_seq_order(db: sqlite3.Connection) -> None:
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        for key in range(20):
            load_item(db, key)

    with profile("test", threads=True) as outer, profile("block", threads=True) as block:
        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for unit in (outer, block):
        assert unit.query_count == 120
        seqs = [e.seq for e in unit.events]
        assert seqs == sorted(seqs)


def test_nothing_breaks_when_units_close_out_of_order(db: sqlite3.Connection) -> None:
    # in a context of its own: closing ``second`` last puts back the closed ``first`` as this
    # context's unit, which must not leak into the tests that run after this one
    contextvars.copy_context().run(_close_out_of_order, db)


def _close_out_of_order(db: sqlite3.Connection) -> None:
    first = profile("first", threads=True)
    second = profile("second", threads=True)
    with first:
        outer = current_unit()
        inner = second._enter("second")
    # ``first`` closed before ``second`` (a task that outlived its parent's block): the one
    # opened inside it takes the threads' statements no longer
    assert unit_module._threads_state is None
    in_thread(lambda: load_item(db, 1))
    second._exit(False)
    assert outer is not None
    assert (outer.query_count, inner.query_count) == (0, 0)


def test_sqlalchemy_first_connection_statements_stay_unrecorded_in_a_thread(pg_url: str) -> None:
    """The checks SQLAlchemy runs on an engine's first connection are its own, not the
    application's: a thread with no unit whose first connection happens while a unit takes
    threads' statements records only the application's statement."""
    from sqlalchemy import create_engine, text

    engine = create_engine(sqlalchemy_url(pg_url, "psycopg"))
    instrument(engine)

    def first_connection() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        with profile(threads=True) as unit:
            in_thread(first_connection)
    finally:
        engine.dispose()
    assert [e.fingerprint.text for e in unit.events] == ["SELECT ?"]
