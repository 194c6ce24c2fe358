"""Loaded render platform databases (real PostgreSQL), and statement counting by cursor events."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbaudit.db import PostgresServer, sqlalchemy_url, temporary_database
from dbaudit.reference.render_platform import naive, optimized
from dbaudit.reference.render_platform.datagen import Dataset, Scale, generate
from dbaudit.reference.render_platform.schema import Base, Variant, create_schema

VARIED_SEED = 7


@dataclass(frozen=True, slots=True)
class Loaded:
    """One database with data, and both variants' apps pointed at it."""

    url: str
    dataset: Dataset
    naive: naive.RenderPlatform
    optimized: optimized.RenderPlatform


async def load(url: str, scale: Scale, seed: int, variant: Variant = "optimized") -> Dataset:
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        await create_schema(engine, variant)
    finally:
        await engine.dispose()
    return await generate(url, scale, seed)


@contextlib.asynccontextmanager
async def platforms(url: str, dataset: Dataset) -> AsyncIterator[Loaded]:
    naive_engine = naive.create_engine(url)
    optimized_engine = optimized.create_engine(url)
    try:
        yield Loaded(
            url,
            dataset,
            naive.RenderPlatform(naive_engine),
            optimized.RenderPlatform(optimized_engine),
        )
    finally:
        await naive_engine.dispose()
        await optimized_engine.dispose()


@pytest.fixture(scope="session")
async def demo(pg_server: PostgresServer) -> AsyncIterator[Loaded]:
    """Demo scale, read by many tests; a test that writes must put back what it changed."""
    with temporary_database(pg_server) as url:
        dataset = await load(url, Scale.demo(), seed=0)
        async with platforms(url, dataset) as loaded:
            yield loaded


@pytest.fixture(scope="session")
async def varied(pg_server: PostgresServer) -> AsyncIterator[Loaded]:
    """A small scale with every edge case (see ``Scale.varied``); never written to."""
    with temporary_database(pg_server) as url:
        dataset = await load(url, Scale.varied(), seed=VARIED_SEED)
        async with platforms(url, dataset) as loaded:
            yield loaded


@contextlib.contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement sent through the engine's cursors while the block runs: the round trips."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def round_trips(
    engine: AsyncEngine, method: Callable[..., Awaitable[object]], *args: object
) -> int:
    """How many statements ``await method(*args)`` sends through ``engine``."""
    with counting_statements(engine) as statements:
        await method(*args)
    return len(statements)


TableState = dict[str, list[tuple[object, ...]]]


async def table_state(url: str, ignore: tuple[str, ...] = ("updated_at",)) -> TableState:
    """Every row of every table, by id, without the columns in ``ignore`` (set to now())."""
    connection = await asyncpg.connect(url)
    try:
        state: TableState = {}
        for table in Base.metadata.sorted_tables:
            keep = [c.name for c in table.columns if c.name not in ignore]
            rows = await connection.fetch(f"SELECT {', '.join(keep)} FROM {table.name} ORDER BY id")
            state[table.name] = [tuple(row) for row in rows]
        return state
    finally:
        await connection.close()
