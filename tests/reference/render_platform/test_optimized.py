"""What only the optimized variant has: atomic delete, batch helpers, pool settings, health."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from dbaudit.bench.proxy import DelayProxy, target_from_url, url_through_proxy
from dbaudit.reference.render_platform import optimized
from dbaudit.reference.render_platform.datagen import Scale
from dbaudit.reference.render_platform.operations import operation
from dbaudit.reference.render_platform.optimized.engine import EngineSettings
from dbaudit.reference.render_platform.results import NotFound

from .conftest import Loaded, load, platforms, round_trips, table_state

FAIL_MIDWAY = """
CREATE FUNCTION fail_midway() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.chain_id = {chain_id} AND OLD.chain_position = {position} THEN
        RAISE EXCEPTION 'injected failure at chain position {position}';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_midway BEFORE UPDATE ON renders
    FOR EACH ROW EXECUTE FUNCTION fail_midway();
"""


async def inject_failure_midway(url: str, chain_id: int, position: int) -> None:
    """A real database error raised while the chain's renders are being detached."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(FAIL_MIDWAY.format(chain_id=chain_id, position=position))
    finally:
        await connection.close()


async def test_delete_chain_is_atomic_when_it_fails_midway(fresh_pg_url: str) -> None:
    dataset = await load(fresh_pg_url, Scale.demo(), seed=1)
    await inject_failure_midway(fresh_pg_url, dataset.long_chain_id, position=25)
    before = await table_state(fresh_pg_url)
    async with platforms(fresh_pg_url, dataset) as loaded:
        with pytest.raises(DBAPIError, match="injected failure at chain position 25"):
            await loaded.optimized.delete_chain(dataset.long_chain_id)
    assert await table_state(fresh_pg_url) == before


async def test_delete_chain_of_an_unknown_id_changes_nothing(demo: Loaded) -> None:
    before = await table_state(demo.url, ignore=())
    unknown = demo.dataset.chain_ids[-1] + 1
    with pytest.raises(NotFound, match=f"render chain {unknown} does not exist"):
        await demo.optimized.delete_chain(unknown)
    assert await table_state(demo.url, ignore=()) == before


async def test_batch_reads_take_one_query_and_skip_unknown_ids(demo: Loaded) -> None:
    app = demo.optimized
    chain = demo.dataset.long_chain_render_ids
    wanted = [chain[3], 1, chain[0], 999_999_999]
    assert await round_trips(app.engine, app.get_renders_by_ids, wanted) == 1
    renders = await app.get_renders_by_ids(wanted)
    assert [r.id for r in renders] == sorted([1, chain[0], chain[3]])
    context = await app.get_render_with_context(chain[3])
    assert context is not None and context.render in renders

    assert await round_trips(app.engine, app.get_renders_by_ids_with_chains, wanted) == 1
    with_chains = await app.get_renders_by_ids_with_chains(wanted)
    assert [item.render for item in with_chains] == list(renders)
    by_id = {item.render.id: item.chain for item in with_chains}
    assert by_id[chain[0]] is not None and by_id[chain[0]].id == demo.dataset.long_chain_id
    assert by_id[1] is None  # the first render of the heavy user is in no chain

    assert await round_trips(app.engine, app.get_renders_by_ids, []) == 0
    assert await app.get_renders_by_ids_with_chains([]) == ()


async def test_status_batch_update_is_one_statement(fresh_pg_url: str) -> None:
    dataset = await load(fresh_pg_url, Scale.demo(), seed=2)
    async with platforms(fresh_pg_url, dataset) as loaded:
        app = loaded.optimized
        ids = list(dataset.long_chain_render_ids[:10])
        with pytest.raises(ValueError, match="unknown render status 'done'"):
            await app.update_render_status_batch(ids, "done")
        assert await round_trips(app.engine, app.update_render_status_batch, ids, "failed") == 1
        assert await app.update_render_status_batch([*ids, 999_999_999], "completed") == 10
        assert {r.status for r in await app.get_renders_by_ids(ids)} == {"completed"}
        assert await app.update_render_status_batch([], "failed") == 0


async def test_engine_has_explicit_pool_limits_and_a_statement_timeout(demo: Loaded) -> None:
    settings = EngineSettings(
        pool_size=3, max_overflow=2, pool_timeout_s=1.5, statement_timeout_ms=1234
    )
    engine = optimized.create_engine(demo.url, settings)
    try:
        pool: Any = engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 2, 1.5)
        assert pool._recycle == settings.pool_recycle_s
        async with engine.connect() as connection:
            timeout = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
            # The server reports its transaction level; autocommit is the driver's mode.
            raw: Any = await connection.get_raw_connection()
            autocommit = raw.dbapi_connection.autocommit
        assert (timeout, autocommit) == ("1234ms", True)
    finally:
        await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def _kill_pooled_connection(url: str, engine: AsyncEngine) -> int:
    """Use a pooled connection, then end its server process, as a restart or a proxy would."""
    dead = await _backend_pid(engine)
    admin = await asyncpg.connect(url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", dead)
    finally:
        await admin.close()
    return dead


async def test_an_idle_connection_that_died_is_replaced_at_checkout(demo: Loaded) -> None:
    engine = optimized.create_engine(demo.url, EngineSettings(ping_after_idle_s=0.05))
    try:
        dead = await _kill_pooled_connection(demo.url, engine)
        await asyncio.sleep(0.2)  # idle past the window: the next checkout pings
        assert await _backend_pid(engine) != dead
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "settings", [EngineSettings(ping_after_idle_s=60), EngineSettings(pre_ping=False)]
)
async def test_without_a_ping_a_connection_that_died_fails_the_request(
    demo: Loaded, settings: EngineSettings
) -> None:
    """The price of the idle window: a connection used moments ago is trusted without a ping."""
    engine = optimized.create_engine(demo.url, settings)
    try:
        await _kill_pooled_connection(demo.url, engine)
        await asyncio.sleep(0.2)
        with pytest.raises(DBAPIError):
            await _backend_pid(engine)
    finally:
        await engine.dispose()


def test_a_negative_idle_window_is_refused() -> None:
    with pytest.raises(ValueError, match="ping_after_idle_s must be zero or more"):
        EngineSettings(ping_after_idle_s=-1)


SINGLE_CONNECTION_READS = (
    "get_user_projects",
    "get_user_chains_with_renders",
    "get_user_recent_projects",
    "get_render_with_context",
    "get_user_credits_with_reset",
)


async def test_on_the_wire_the_optimized_engine_sends_its_statements_and_nothing_else(
    demo: Loaded,
) -> None:
    """No BEGIN/ROLLBACK around reads, no ping for a connection just used (bench proxy counts)."""
    async with DelayProxy(target_from_url(demo.url)) as proxy:
        engine = optimized.create_engine(url_through_proxy(demo.url, proxy.port))
        app = optimized.RenderPlatform(engine)
        try:
            for name in SINGLE_CONNECTION_READS:
                op = operation(name)
                for _ in range(2):  # warm: connect, and asyncpg prepares each statement once
                    await op.call(app, demo.dataset)
                before = proxy.counts.snapshot()
                statements = await round_trips(engine, op.call, app, demo.dataset)
                wire = (proxy.counts.snapshot() - before).round_trips
                assert (name, wire) == (name, statements)
        finally:
            await engine.dispose()


async def test_a_statement_over_the_timeout_is_cancelled(demo: Loaded) -> None:
    engine = optimized.create_engine(demo.url, EngineSettings(statement_timeout_ms=50))
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError, match="statement timeout"):
                await connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        await engine.dispose()


async def test_health_reports_latency_when_up(demo: Loaded) -> None:
    health = await demo.optimized.check_database_health()
    assert health.status == "healthy" and health.error is None
    assert health.latency_ms is not None and health.latency_ms > 0


async def test_health_reports_the_error_in_one_line_when_down() -> None:
    # Nothing listens on port 1; the password must not show up in what is reported.
    engine = optimized.create_engine(
        "postgresql://app:s3cret-pw@127.0.0.1:1/nowhere", EngineSettings(pre_ping=False)
    )
    try:
        health = await optimized.check_database_health(engine)
    finally:
        await engine.dispose()
    assert health.status == "unhealthy" and health.latency_ms is None
    assert health.error is not None and "\n" not in health.error
    assert "s3cret-pw" not in health.error
