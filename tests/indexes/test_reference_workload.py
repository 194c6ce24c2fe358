"""The reference app's operations recorded as a workload, weighed by operation frequency."""

from __future__ import annotations

import asyncio

from dbaudit.db import sqlalchemy_url
from dbaudit.indexes.reference_workload import (
    OPERATION_FREQUENCY,
    record_mixed_workload,
    record_reference_workload,
)


async def _load(url: str) -> object:
    from sqlalchemy.ext.asyncio import create_async_engine

    from dbaudit.reference.render_platform.datagen import Scale, generate
    from dbaudit.reference.render_platform.schema import create_schema

    engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
    try:
        await create_schema(engine, "naive")
    finally:
        await engine.dispose()
    return await generate(url, Scale.demo())


def test_frequencies_weigh_each_operation_and_both_variants_are_recorded(
    fresh_pg_url: str,
) -> None:
    dataset = asyncio.run(_load(fresh_pg_url))
    once = asyncio.run(record_reference_workload(fresh_pg_url, dataset, "naive"))
    weighed = asyncio.run(
        record_reference_workload(fresh_pg_url, dataset, "naive", OPERATION_FREQUENCY)
    )
    assert {q.label for q in once} <= set(OPERATION_FREQUENCY)
    assert {q.label for q in weighed} == {f"naive:{name}" for name in {q.label for q in once}}
    by_fingerprint = {q.fingerprint: q for q in once}
    assert set(by_fingerprint) == {q.fingerprint for q in weighed}
    # Every operation three times as often: every statement three times as often.
    tripled = asyncio.run(
        record_reference_workload(
            fresh_pg_url, dataset, "naive", dict.fromkeys(OPERATION_FREQUENCY, 3.0)
        )
    )
    assert {q.fingerprint: q.calls for q in tripled} == {q.fingerprint: 3 * q.calls for q in once}
    assert sum(q.calls for q in weighed) > sum(q.calls for q in once)
    mixed = asyncio.run(record_mixed_workload(fresh_pg_url, dataset))
    variants = {q.label.split(":", 1)[0] for q in mixed}
    assert variants == {"naive", "optimized"}
    # The optimized variant's own shapes are in: the per-project ROW_NUMBER() window.
    assert any("row_number()" in q.sql.lower() for q in mixed)
    assert sum(q.calls for q in mixed) > sum(q.calls for q in weighed)
