"""The SQLAlchemy hook records inline (capture/sqlalchemy.py): its events are, field by field,
those ``record_positional`` makes from the same statement, on sync and asyncio engines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbaudit.db import sqlalchemy_url
from dbaudit.runtime import DetectConfig, ignore, instrument, profile, uninstrument
from dbaudit.runtime.capture.sqlalchemy import _KEEPS_ROWS, _READ_SLOTS, _cursor_kind
from dbaudit.runtime.events import QueryEvent
from dbaudit.runtime.unit import _task_of, active, record_positional

# everything but the fields that differ between two recordings of one statement
COMPARED = (
    "fingerprint",
    "rows",
    "thread_id",
    "task_id",
    "param_hashes",
    "result_hashes",
    "ignored",
    "source",
    "many",
    "error",
    "params",
    "statement",
    "relationship",
)


def replayed(event: QueryEvent, sql: str, params: Any, dialect: str) -> QueryEvent:
    """``event``'s statement recorded again by ``record_positional``, in a unit of its own
    opened here (so in the same thread and task as the caller), ignored as ``event`` was."""
    with profile("replay", keep_params=True) as unit:
        if event.ignored:
            with ignore():
                state = active()
        else:
            state = active()
        assert state is not None
        record_positional(
            state,
            sql,
            params,
            event.started,
            event.duration,
            event.rows,
            "sqlalchemy",
            dialect,
            event.many,
            None,
            event.result_hashes,
            3,  # the walk starts at the caller of this function, as the hook's at the test's
            event.relationship,
        )
    (again,) = unit.events
    return again


def assert_same(hooked: QueryEvent, again: QueryEvent, kept: bool) -> None:
    for name in COMPARED:
        if name in ("params", "statement") and not kept:
            assert getattr(hooked, name) is None
            continue
        assert getattr(hooked, name) == getattr(again, name), name
    assert hooked.stack and [(s.path, s.function) for s in hooked.stack] == [
        (s.path, s.function) for s in again.stack
    ]


@pytest.fixture()
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE rec_items (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO rec_items VALUES (1, 'a'), (2, 'b'), (3, 'c')"))
    instrument(engine)
    yield engine
    uninstrument(engine)
    engine.dispose()


STATEMENTS: list[tuple[str, dict[str, Any]]] = [
    ("SELECT * FROM rec_items WHERE id = :a", {"a": 1}),  # one parameter
    ("SELECT * FROM rec_items WHERE id IN (:a, :b)", {"a": 1, "b": 2}),  # two
    ("SELECT * FROM rec_items WHERE id IN (:a, :b, :c)", {"a": 1, "b": 2, "c": None}),
    ("SELECT * FROM rec_items", {}),  # none
    ("UPDATE rec_items SET name = :n WHERE id < :m", {"n": "x", "m": 3}),  # a row count
]


@pytest.mark.parametrize("keep", [False, True])
def test_sync_events_equal_record_positional(engine: Engine, keep: bool) -> None:
    with engine.connect() as conn, profile(keep_params=keep) as unit:
        for sql, params in STATEMENTS:
            conn.execute(text(sql), params)
        with ignore():
            conn.execute(text(STATEMENTS[0][0]), STATEMENTS[0][1])
        conn.rollback()
    assert [e.ignored for e in unit.events] == [False] * len(STATEMENTS) + [True]
    assert unit.events[4].rows == 2 and unit.events[0].rows is None  # -1 from sqlite: unknown
    with profile(keep_params=True) as kept, engine.connect() as conn:  # the raw SQL and values
        for sql, params in [*STATEMENTS, STATEMENTS[0]]:
            conn.execute(text(sql), params)
        conn.rollback()
    for hooked, raw in zip(unit.events, kept.events, strict=True):
        assert_same(hooked, replayed(hooked, raw.statement or "", raw.params, "sqlite"), keep)


def test_slow_statements_keep_their_values(engine: Engine) -> None:
    config = DetectConfig(slow_query_ms=1e-6)  # 1 ns: every statement is "slow"
    with engine.connect() as conn, profile(config=config) as unit:
        conn.execute(text("SELECT * FROM rec_items WHERE id = :a"), {"a": 2})
    (event,) = unit.events
    assert event.params == (2,) and event.statement == "SELECT * FROM rec_items WHERE id = ?"


def test_executemany_batches_and_nested_units(engine: Engine) -> None:
    with engine.connect() as conn, profile() as outer:
        with profile(config=DetectConfig(max_events=1)) as inner:
            conn.execute(
                text("INSERT INTO rec_items (id, name) VALUES (:i, :n)"),
                [{"i": 10 + i, "n": "m"} for i in range(3)],
            )
            conn.execute(text("SELECT 1"))
        conn.rollback()
    assert [e.many for e in outer.events] == [True, False]
    assert outer.events[0].param_hashes == ()
    assert inner.events == outer.events[:1] and inner.dropped == 1


@pytest.fixture(params=["asyncpg", "psycopg"])  # its cursor's slots read, its rowcount called
async def async_engine(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(pg_url, request.param))
    instrument(engine)
    yield engine
    uninstrument(engine)
    await engine.dispose()


@pytest.mark.parametrize("keep", [False, True])
async def test_asyncio_events_equal_record_positional(
    async_engine: AsyncEngine, keep: bool
) -> None:
    statements = [
        ("SELECT g, g * 2 FROM generate_series(1, :n) AS g", {"n": 3}),
        ("SELECT CAST(:a AS int) + CAST(:b AS int)", {"a": 1, "b": 2}),
        ("SELECT 1 WHERE false", {}),
    ]
    async with async_engine.connect() as conn:
        with profile(keep_params=keep) as unit:
            for sql, params in statements:
                await conn.execute(text(sql), params)
        with profile(keep_params=True) as kept:
            for sql, params in statements:
                await conn.execute(text(sql), params)
    first = unit.events[0]
    assert first.task_id == id(asyncio.current_task())
    assert first.result_hashes is not None and list(first.result_hashes) == [(1, 2), (2, 4), (3, 6)]
    assert unit.events[1].rows == 1  # "SELECT 1" from the server, read from the cursor's slot
    for hooked, raw in zip(unit.events, kept.events, strict=True):
        assert_same(hooked, replayed(hooked, raw.statement or "", raw.params, "postgres"), keep)


def test_the_asyncpg_cursor_is_read_directly() -> None:
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_cursor
    from sqlalchemy.dialects.postgresql.psycopg import AsyncAdapt_psycopg_cursor

    assert _cursor_kind(AsyncAdapt_asyncpg_cursor) == _READ_SLOTS
    assert _cursor_kind(AsyncAdapt_psycopg_cursor) == _KEEPS_ROWS  # rowcount: its cursor's
    assert _cursor_kind(type(create_engine("sqlite://").raw_connection().cursor())) == 0

    class Computed(AsyncAdapt_asyncpg_cursor):  # a rowcount that is not the slot's value
        __slots__ = ()

        @property
        def rowcount(self) -> int:
            return self._rowcount + 1

    assert _cursor_kind(Computed) == _KEEPS_ROWS


def test_task_lookup_is_current_task() -> None:
    assert _task_of(None) is None  # no running loop: no task
    seen: list[object] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen.append(_task_of(loop) is asyncio.current_task())
        loop.call_soon(lambda: seen.append(_task_of(loop) is None))  # a callback: no task
        await asyncio.sleep(0)

    asyncio.run(main())
    thread = threading.Thread(target=lambda: seen.append(_task_of(None) is None))
    thread.start()
    thread.join()
    assert seen == [True, True, True]


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_first_connect_checks_are_not_recorded_asyncio(pg_url: str, driver: str) -> None:
    """The dialect's checks on an engine's first connection run with no unit in their context
    (they are SQLAlchemy's); the unit records again right after, in the same task."""
    fresh = create_async_engine(sqlalchemy_url(pg_url, driver))
    instrument(fresh)
    try:
        with profile() as unit:
            async with fresh.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        uninstrument(fresh)
        await fresh.dispose()
    assert [e.fingerprint.text for e in unit.events] == ["SELECT ?"]
