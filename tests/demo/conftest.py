"""The naive reference app loaded at the demo's scale and profiled once, as ``dbaudit demo`` does.

The demo's measuring snapshot schema is made here too, so the live review's tidying is tested
on what the demo really leaves behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dbaudit.bench.reference import snapshot_tables, table_names
from dbaudit.db import PostgresServer, sqlalchemy_url, temporary_database
from dbaudit.demo.confirmation import profile_naive_operations
from dbaudit.demo.live_review import demo_scale
from dbaudit.runtime import Unit


@dataclass(frozen=True, slots=True)
class Profiled:
    url: str
    dataset: Any
    units: tuple[Unit, ...]


@pytest.fixture(scope="package")
async def profiled(pg_server: PostgresServer) -> AsyncIterator[Profiled]:
    from dbaudit.reference.render_platform import schema
    from dbaudit.reference.render_platform.datagen import generate

    with temporary_database(pg_server) as url:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            await schema.create_schema(engine, "naive")
        finally:
            await engine.dispose()
        dataset = await generate(url, demo_scale(), seed=0)
        await snapshot_tables(url, table_names(schema))
        units = await profile_naive_operations(url, dataset)
        yield Profiled(url, dataset, tuple(units))
