"""Issue 6 acceptance on the reference app's naive schema with its operations as workload
(both variants' operations, weighed by ``OPERATION_FREQUENCY``).

Default scale: about 110k renders (the large scale's shape with a tenth of the users), so the
suite stays fast; ``DBAUDIT_INDEX_SCALE=large`` runs it on ``Scale.large()`` (over 1M renders),
as ``benchmarks/index_advisor.py`` always does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import replace

import psycopg
import pytest

from dbaudit.db import PostgresServer, sqlalchemy_url, temporary_database
from dbaudit.indexes.advisor import AdvisorResult, AdvisorSettings, advise
from dbaudit.indexes.reference_workload import record_mixed_workload
from dbaudit.indexes.workload import WorkloadQuery
from dbaudit.schema.live import connect, load_schema

# What the operations filter, join and sort on; each needs an index on a naive schema.
NEEDED = {
    ("renders", "project_id"),
    ("renders", "chain_id"),
    ("render_chains", "project_id"),
    ("projects", "user_id"),
}


def _scale() -> object:
    from dbaudit.reference.render_platform.datagen import Scale

    large = Scale.large()
    if os.environ.get("DBAUDIT_INDEX_SCALE") == "large":
        return large
    return replace(large, name="mid", users=large.users // 10)


async def _load(url: str) -> object:
    from sqlalchemy.ext.asyncio import create_async_engine

    from dbaudit.reference.render_platform.datagen import generate
    from dbaudit.reference.render_platform.schema import create_schema

    engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
    try:
        await create_schema(engine, "naive")
    finally:
        await engine.dispose()
    dataset = await generate(url, _scale(), skip_foreign_key_checks=True)  # type: ignore[arg-type]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return dataset


@pytest.fixture(scope="module")
def reference(pg_server: PostgresServer) -> Iterator[tuple[str, tuple[WorkloadQuery, ...]]]:
    # The workload is recorded on an identical copy: its writing operations leave HOT chains
    # that, while another session on the shared server holds an old snapshot, make real indexes
    # unusable in the transaction that builds them (see whatif.UNUSABLE_REASON).
    with temporary_database(pg_server) as scratch:
        dataset = asyncio.run(_load(scratch))
        workload = asyncio.run(record_mixed_workload(scratch, dataset))
    with temporary_database(pg_server) as url:
        assert asyncio.run(_load(url)) == dataset
        yield url, workload


def _advise(url: str, workload: tuple[WorkloadQuery, ...], **options: object) -> AdvisorResult:
    with connect(url) as conn:
        return advise(conn, load_schema(conn), workload, AdvisorSettings(**options))  # type: ignore[arg-type]


def _leading(result: AdvisorResult) -> set[tuple[str, str]]:
    return {(a.candidate.table, a.candidate.columns[0]) for a in result.advice}


def _check(result: AdvisorResult, workload: tuple[WorkloadQuery, ...]) -> None:
    assert _leading(result) >= NEEDED
    # No useless index: each one is used by a statement it makes at least 10x cheaper.
    for advice in result.advice:
        assert advice.queries, advice.ddl
        assert any(e.cost_after * 10 <= e.cost_before for e in advice.queries), advice
        assert advice.ddl.startswith("CREATE INDEX CONCURRENTLY")
    operations = {q.label for q in workload}
    assert {e.label.split(" (")[0] for a in result.advice for e in a.queries} <= operations
    assert result.workload_cost_after * 20 < result.workload_cost_before
    assert all(r.reason for r in result.rejected) and all(s.reason for s in result.skipped)


@pytest.mark.usefixtures("hypopg")
def test_hypopg_on_the_reference_app(
    reference: tuple[str, tuple[WorkloadQuery, ...]], snapshot: Callable[[str], object]
) -> None:
    url, workload = reference
    before = snapshot(url)
    result = _advise(url, workload, method="hypopg", verify=True)
    assert snapshot(url) == before
    assert result.method == "hypopg"
    _check(result, workload)
    # After applying them, the measured EXPLAIN ANALYZE time of the read workload drops.
    measured = [v for v in result.verification if v.before_ms is not None and v.after_ms]
    assert len(measured) >= 8
    before_ms = sum(v.before_ms or 0.0 for v in measured)
    after_ms = sum(v.after_ms or 0.0 for v in measured)
    assert after_ms * 5 < before_ms
    skipped = [v for v in result.verification if v.before_ms is None]
    assert {v.reason for v in skipped} == {"writes data: not executed"}


def test_rollback_path_on_the_reference_app(
    reference: tuple[str, tuple[WorkloadQuery, ...]], snapshot: Callable[[str], object]
) -> None:
    url, workload = reference
    before = snapshot(url)
    result = _advise(url, workload, method="rollback", allow_rollback_indexes=True)
    assert snapshot(url) == before
    assert result.method == "rollback"
    _check(result, workload)
