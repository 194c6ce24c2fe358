"""Which asyncio task sent a statement: right across loops, tasks and threads, and found without
looking the running loop up at every statement (on CPython 3.11 that lookup is a getpid()
system call: see ``unit._loops``)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import dbaudit.runtime.unit as unit_module
from dbaudit.db import sqlalchemy_url
from dbaudit.runtime import instrument, profile, uninstrument


@pytest.fixture()
def db() -> Iterator[sqlite3.Connection]:
    raw = sqlite3.connect(":memory:", check_same_thread=False)
    yield instrument(raw)
    raw.close()


@pytest.fixture()
def running_loop_lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the hooks' lookups of the running loop (the system call on 3.11)."""
    calls: list[int] = []
    real: Callable[[], Any] = unit_module._get_running_loop

    def counted() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(unit_module, "_get_running_loop", counted)
    # emptied in place: the SQLAlchemy hook holds this dict
    getattr(unit_module, "_loops", {}).clear()
    return calls


def _one_statement(db: sqlite3.Connection, sent_by: list[int | None]) -> None:
    task = asyncio.current_task() if _in_loop() else None
    sent_by.append(id(task) if task is not None else None)
    db.execute("SELECT 1").fetchone()


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_each_statement_is_its_own_tasks_across_loops_and_outside_them(
    db: sqlite3.Connection, running_loop_lookups: list[int]
) -> None:
    sent_by: list[int | None] = []
    alive: list[object] = []  # no task's id is reused by a later one

    async def worker() -> None:
        alive.append(asyncio.current_task())
        for _ in range(3):
            _one_statement(db, sent_by)
            await asyncio.sleep(0)  # the tasks interleave

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(4)))

    with profile() as unit:
        asyncio.run(main())
        _one_statement(db, sent_by)  # between two loops: no task
        asyncio.run(main())  # a new loop in the same thread: not the last one's tasks
        _one_statement(db, sent_by)
    assert [event.task_id for event in unit.events] == sent_by
    assert sent_by.count(None) == 2
    assert len(set(sent_by)) == 4 + 4 + 1
    # once per loop, and once per statement outside any loop
    assert len(running_loop_lookups) == 2 + 2


def test_a_thread_with_a_loop_of_its_own_and_one_without(
    db: sqlite3.Connection, running_loop_lookups: list[int]
) -> None:
    sent_by: list[int | None] = []
    lock = threading.Lock()

    def in_own_loop() -> None:
        async def statements() -> None:
            for _ in range(5):
                with lock:
                    _one_statement(db, sent_by)
                await asyncio.sleep(0)

        asyncio.run(statements())

    def locked() -> None:
        # each statement and its place in sent_by together: the event's seq is taken after the
        # statement ran, and the threads' statements interleave
        with lock:
            _one_statement(db, sent_by)

    async def main() -> None:
        other = threading.Thread(target=in_own_loop)
        other.start()
        for _ in range(5):
            with lock:
                _one_statement(db, sent_by)
            await asyncio.sleep(0)
        await asyncio.to_thread(locked)  # a worker thread: no loop
        other.join()

    with profile(threads=True) as unit:
        asyncio.run(main())
    by_seq = sorted(unit.events, key=lambda event: event.seq)
    assert [event.task_id for event in by_seq] == sent_by
    assert len(set(sent_by)) == 3  # this loop's task, the other thread's, and None


async def test_sqlalchemy_asyncio_statements_know_their_task_with_one_lookup(
    pg_url: str, running_loop_lookups: list[int]
) -> None:
    engine = create_async_engine(sqlalchemy_url(pg_url, "asyncpg"))
    async with engine.connect() as warm:  # the dialect's own first statements, unprofiled
        await warm.execute(text("SELECT 1"))
    instrument(engine)
    try:

        async def reads(n: int) -> int | None:
            async with engine.connect() as connection:
                for _ in range(n):
                    await connection.execute(text("SELECT 1"))
            task = asyncio.current_task()
            return id(task) if task is not None else None

        async with profile() as unit:
            first, second = await asyncio.gather(reads(10), reads(10))
        assert sorted({event.task_id for event in unit.events}, key=str) == sorted(
            {first, second}, key=str
        )
        assert len(unit.events) == 20
        assert len(running_loop_lookups) == 1
    finally:
        uninstrument(engine)
        await engine.dispose()
