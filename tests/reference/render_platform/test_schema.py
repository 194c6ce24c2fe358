"""The naive schema has no secondary indexes; the optimized one has exactly OPTIMIZED_INDEXES."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dbaudit.db import sqlalchemy_url
from dbaudit.reference.render_platform.schema import (
    OPTIMIZED_INDEXES,
    Base,
    create_indexes,
    create_schema,
    drop_schema,
)

INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
CONSTRAINT_INDEXES = """
SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE n.nspname = 'public' AND c.contype IN ('p', 'u')
"""


def _secondary_indexes(url: str) -> dict[str, str]:
    """Indexes that do not back a primary key or unique constraint."""
    with psycopg.connect(url) as connection:
        indexes = dict(connection.execute(INDEXES).fetchall())
        constraints = {name for (name,) in connection.execute(CONSTRAINT_INDEXES)}
    return {name: ddl for name, ddl in indexes.items() if name not in constraints}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in rows}


async def test_naive_schema_has_tables_and_constraints_but_no_secondary_index(
    fresh_pg_url: str,
) -> None:
    engine = create_async_engine(sqlalchemy_url(fresh_pg_url))
    try:
        await create_schema(engine, "naive")
    finally:
        await engine.dispose()
    assert _tables(fresh_pg_url) == set(Base.metadata.tables)
    assert _secondary_indexes(fresh_pg_url) == {}


async def test_optimized_schema_has_every_declared_index(fresh_pg_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(fresh_pg_url))
    try:
        await create_schema(engine, "optimized")
        indexes = _secondary_indexes(fresh_pg_url)
        assert set(indexes) == {index.name for index in OPTIMIZED_INDEXES}
        assert indexes["ix_renders_chain_position"].endswith("WHERE (chain_id IS NOT NULL)")
        assert "created_at DESC" in indexes["ix_renders_user_created"]
        await drop_schema(engine)
        assert _tables(fresh_pg_url) == set()
    finally:
        await engine.dispose()


async def test_indexes_can_be_added_to_a_naive_schema_later(fresh_pg_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(fresh_pg_url))
    try:
        await create_schema(engine, "naive")
        await create_indexes(engine)
    finally:
        await engine.dispose()
    assert set(_secondary_indexes(fresh_pg_url)) == {index.name for index in OPTIMIZED_INDEXES}


async def test_unknown_variant_is_refused_before_touching_the_database(fresh_pg_url: str) -> None:
    engine = create_async_engine(sqlalchemy_url(fresh_pg_url))
    try:
        with pytest.raises(ValueError, match="unknown variant 'fast'"):
            await create_schema(engine, "fast")  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    assert _tables(fresh_pg_url) == set()
