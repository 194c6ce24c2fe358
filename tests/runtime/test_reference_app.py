"""Acceptance: the reference app's operations under the profiler, on real PostgreSQL.

The naive variant is flagged for exactly what it was built to get wrong (N+1 loops, sequential
independent awaits); the optimized variant is clean; query counts equal the operations table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbaudit.db import PostgresServer, sqlalchemy_url, temporary_database
from dbaudit.reference.render_platform import naive, optimized
from dbaudit.reference.render_platform.datagen import Dataset, Scale, generate
from dbaudit.reference.render_platform.operations import OPERATIONS, Operation
from dbaudit.reference.render_platform.schema import create_schema
from dbaudit.runtime import DetectConfig, Unit, instrument, profile, uninstrument

# rule and the queries each finding explains, per naive operation (demo scale)
EXPECTED_NAIVE: dict[str, list[tuple[str, int]]] = {
    "get_user_projects": [("DBA101", 50)],
    "get_user_chains_with_renders": [("DBA101", 50), ("DBA101", 10)],
    "get_user_recent_projects": [("DBA101", 10)],
    "get_profile_stats": [("DBA105", 5)],
    "delete_chain": [("DBA103", 50)],  # an UPDATE per render: per-item writes
    "get_render_with_context": [
        ("DBA105", 3)
    ],  # parent, reference, chain: all need only the render
    "get_user_credits_with_reset": [("DBA105", 2)],
}

# What the operations do, not how fast a busy machine ran them: no statement is "slow" here
# (DBA302 has tests of its own; a shared machine under load once took 164 ms for a COUNT).
STRUCTURE_ONLY = DetectConfig(slow_query_ms=600_000)


@dataclass(frozen=True, slots=True)
class Loaded:
    url: str
    dataset: Dataset


@pytest.fixture(scope="module")
async def loaded(pg_server: PostgresServer) -> AsyncIterator[Loaded]:
    with temporary_database(pg_server) as url:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            await create_schema(engine, "optimized")
        finally:
            await engine.dispose()
        yield Loaded(url, await generate(url, Scale.demo(), seed=0))


@pytest.fixture(params=["asyncpg", "psycopg"])
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def run(variant: object, driver: str, loaded: Loaded, op: Operation) -> Unit:
    engine: AsyncEngine = create_async_engine(sqlalchemy_url(loaded.url, driver))
    instrument(engine)
    try:
        async with profile(op.name, config=STRUCTURE_ONLY) as unit:
            await op.call(variant.RenderPlatform(engine), loaded.dataset)  # type: ignore[attr-defined]
    finally:
        uninstrument(engine)
        await engine.dispose()
        if op.restore is not None:
            await op.restore(loaded.url, loaded.dataset)
    return unit


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_naive_operation_is_flagged(op: Operation, driver: str, loaded: Loaded) -> None:
    unit = await run(naive, driver, loaded, op)
    assert unit.query_count == op.naive_round_trips
    found = sorted((f.rule, f.evidence.queries if f.evidence else 0) for f in unit.findings)
    assert found == sorted(EXPECTED_NAIVE[op.name])
    assert all(f.source == "runtime" and "/naive/" in f.path for f in unit.findings)


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_optimized_operation_is_clean(op: Operation, driver: str, loaded: Loaded) -> None:
    unit = await run(optimized, driver, loaded, op)
    assert unit.query_count == op.optimized_round_trips
    assert unit.findings == []


async def test_n_plus_one_points_at_the_loop_with_the_query_in_its_chain(
    loaded: Loaded,
) -> None:
    op = next(o for o in OPERATIONS if o.name == "get_user_projects")
    unit = await run(naive, "asyncpg", loaded, op)
    [finding] = unit.findings
    assert finding.path.endswith("naive/services/projects.py")  # the loop, in the service
    assert finding.function == "user_project_overviews"
    assert "RendersDAL.list_for_project" in finding.problem  # the query it runs per item
    layers = [hop.path.rsplit("/naive/", 1)[-1].split("/")[0] for hop in finding.call_chain]
    assert "services" in layers and layers[-1] == "dal"  # the loop, then the query
    assert finding.fix is not None and " IN (?)" in finding.fix.code


async def test_every_naive_runtime_finding_confirms_a_static_finding(loaded: Loaded) -> None:
    """The link between the halves: each problem the profiler measured in the naive app is one
    the static audit reported, now marked confirmed with measured queries."""
    from pathlib import Path

    from dbaudit.audit import run_static_audit
    from dbaudit.findings import Audit
    from dbaudit.runtime.merge import merge

    observed = []
    for op in OPERATIONS:
        observed += (await run(naive, "asyncpg", loaded, op)).findings
    source = Path(naive.__file__).parent
    static = run_static_audit([str(source)])
    merged = merge(static, Audit(findings=observed))
    assert [f for f in merged.findings if f.source == "runtime"] == []  # all folded in
    confirmed = {(f.rule, f.evidence.unit) for f in merged.findings if f.evidence is not None}
    assert {unit for _, unit in confirmed} == set(EXPECTED_NAIVE)
    assert len(merged.findings) == len(static.findings)
