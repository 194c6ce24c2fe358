"""Statement counting from SQLAlchemy cursor events, on a real PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dbaudit.bench.counting import count_statements
from dbaudit.db import sqlalchemy_url


async def test_counts_statements_only_inside_the_block(pg_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(pg_url))
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            with count_statements(engine) as counter:
                for value in range(3):
                    await connection.execute(text("SELECT CAST(:v AS int)"), {"v": value})
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert counter.statements == 3
    assert counter.executemany_rows == 0


async def test_executemany_is_one_statement_with_its_rows_counted(pg_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(pg_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TEMP TABLE counted (v int)"))
            with count_statements(engine) as counter:
                await connection.execute(
                    text("INSERT INTO counted VALUES (:v)"), [{"v": v} for v in range(5)]
                )
    finally:
        await engine.dispose()
    assert counter.statements == 1
    assert counter.executemany_rows == 5
