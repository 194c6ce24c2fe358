"""Capture without SQLAlchemy: sqlite3 (DB-API proxy), psycopg 3 sync and async, asyncpg."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import psycopg
import pytest
from psycopg import sql

from dbaudit.runtime import instrument, profile
from dbaudit.runtime.capture.dbapi import ProfiledConnection, ProfiledCursor

N = 5


async def _fill(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS rt_drv; CREATE TABLE rt_drv (id int PRIMARY KEY, grp int)"
        )
        await connection.executemany(
            "INSERT INTO rt_drv VALUES ($1, $2)", [(i, i % 2) for i in range(20)]
        )
    finally:
        await connection.close()


@pytest.fixture()
async def table(pg_url: str) -> AsyncIterator[str]:
    await _fill(pg_url)
    yield pg_url
    connection = await asyncpg.connect(pg_url)
    await connection.execute("DROP TABLE IF EXISTS rt_drv")
    await connection.close()


def test_sqlite3_proxy_behaves_like_the_connection() -> None:
    raw = sqlite3.connect(":memory:")
    connection = instrument(raw)
    assert isinstance(connection, ProfiledConnection)
    assert instrument(connection) is connection
    connection.row_factory = sqlite3.Row  # attributes reach the real connection
    assert raw.row_factory is sqlite3.Row
    with connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        cursor = connection.cursor()
        cursor.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(N)])
    with profile() as unit:
        for i in range(N):
            row = connection.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone()
            assert row["id"] == i
        assert [r[0] for r in connection.cursor().execute("SELECT id FROM t")] == list(range(N))
    assert unit.query_count == N + 1
    assert [f.rule for f in unit.findings] == ["DBA101"]
    assert {e.source for e in unit.events} == {"sqlite3"}
    raw.close()


def test_sqlite3_cursor_from_execute_outside_a_unit_is_still_profiled() -> None:
    """``connection.execute`` with no unit active goes straight through, but the cursor it
    returns is a proxy: its later statements are seen, and its fetch methods are the cursor's."""
    connection = instrument(sqlite3.connect(":memory:"))
    cursor = connection.execute("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
    assert isinstance(cursor, ProfiledCursor)
    assert cursor.fetchmany(2) == [(1,), (2,)] and cursor.fetchall() == [(3,)]
    assert cursor.fetchone() is None and cursor.rowcount == -1  # the rest via __getattr__
    with profile() as unit:
        assert cursor.execute("SELECT ?", (7,)).fetchone() == (7,)
        assert connection.execute("SELECT 8").fetchone() == (8,)
    assert [e.fingerprint.text for e in unit.events] == ["SELECT ?", "SELECT ?"]
    sites = [e.call_site for e in unit.events]
    assert all(s is not None and s.function.startswith("test_sqlite3_cursor") for s in sites)


def psycopg_lookup(connection: psycopg.Connection, key: int) -> object:
    return connection.execute("SELECT grp FROM rt_drv WHERE id = %s", (key,)).fetchone()


def test_psycopg_sync_in_place(table: str) -> None:
    with psycopg.connect(table) as connection:
        assert instrument(connection) is connection
        with profile() as unit:
            for key in range(N):
                assert psycopg_lookup(connection, key) == (key % 2,)
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("rt_drv")))
                assert cursor.fetchone() == (20,)
                cursor.executemany("UPDATE rt_drv SET grp = %s WHERE id = %s", [(1, 1), (0, 2)])
        connection.rollback()
    assert unit.query_count == N + 2
    assert [f.rule for f in unit.findings] == ["DBA101"]
    composed = unit.events[N]
    assert composed.fingerprint.text == 'SELECT COUNT(*) FROM "rt_drv"'
    assert unit.events[N + 1].many
    assert unit.events[0].rows == 1


async def test_psycopg_async_in_place(table: str) -> None:
    async with await psycopg.AsyncConnection.connect(table) as connection:
        instrument(connection)
        async with profile() as unit:
            for key in range(N):
                cursor = await connection.execute("SELECT grp FROM rt_drv WHERE id = %s", (key,))
                assert await cursor.fetchone() == (key % 2,)
    assert unit.query_count == N
    assert [f.rule for f in unit.findings] == ["DBA101"]
    assert {e.source for e in unit.events} == {"psycopg"}


async def asyncpg_group(connection: asyncpg.Connection, key: int) -> int:
    value: int = await connection.fetchval("SELECT grp FROM rt_drv WHERE id = $1", key)
    return value


async def test_asyncpg_connection(table: str) -> None:
    connection = await asyncpg.connect(table)
    try:
        assert instrument(connection) is connection
        async with profile() as unit:
            groups = [await asyncpg_group(connection, key) for key in range(N)]
            rows = await connection.fetch("SELECT id FROM rt_drv WHERE grp = $1", 1)
            await connection.execute("SELECT 1")
        assert groups == [k % 2 for k in range(N)]
        assert len(rows) == 10
    finally:
        await connection.close()
    assert unit.query_count == N + 2
    # the loop, then two reads that needed nothing from each other
    assert [f.rule for f in unit.findings] == ["DBA101", "DBA105"]
    fetch = unit.events[N]
    assert fetch.rows == 10 and fetch.result_hashes is not None and hash(9) in fetch.result_hashes


async def test_asyncpg_dependent_lookup_is_not_sequential(table: str) -> None:
    connection = instrument(await asyncpg.connect(table))
    try:
        async with profile() as unit:
            group = await connection.fetchval("SELECT grp FROM rt_drv WHERE id = $1", 3)
            await connection.fetch("SELECT id FROM rt_drv WHERE grp = $1", group)
        async with profile() as independent:
            await connection.fetchval("SELECT grp FROM rt_drv WHERE id = $1", 3)
            await connection.fetchval("SELECT count(*) FROM rt_drv WHERE id > $1", 3)
    finally:
        await connection.close()
    assert unit.findings == []
    assert [f.rule for f in independent.findings] == ["DBA105"]


async def test_asyncpg_pool_profiles_current_and_future_connections(table: str) -> None:
    pool = await asyncpg.create_pool(table, min_size=1, max_size=3)
    try:
        instrument(pool)
        async with profile() as unit:
            async with pool.acquire() as first, pool.acquire() as second:
                await first.fetchval("SELECT 1")
                await second.fetchval("SELECT 2")
            await pool.fetchval("SELECT 3")
    finally:
        await pool.close()
    assert unit.query_count == 3
    assert {e.source for e in unit.events} == {"asyncpg"}


async def test_asyncpg_error_recorded_and_raised(table: str) -> None:
    connection = instrument(await asyncpg.connect(table))
    try:
        async with profile() as unit:
            with pytest.raises(asyncpg.UndefinedTableError):
                await connection.fetch("SELECT * FROM missing_rt")
    finally:
        await connection.close()
    assert [e.error for e in unit.events] == ["UndefinedTableError"]


def test_unknown_objects_are_refused_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match="cannot instrument int"):
        instrument(42)
