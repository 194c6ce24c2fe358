"""The runner on a small workload of its own: ten point lookups against one ``= ANY`` query."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbaudit.bench.proxy import DelayProxy, target_from_url, url_through_proxy
from dbaudit.bench.runner import Case, Settings, Subject, measure_rtt, run_benchmark
from dbaudit.db import sqlalchemy_url

IDS = list(range(1, 11))


@pytest.fixture()
async def proxied(fresh_pg_url: str) -> AsyncIterator[tuple[DelayProxy, str, AsyncEngine]]:
    async with DelayProxy(target_from_url(fresh_pg_url)) as proxy:
        url = url_through_proxy(fresh_pg_url, proxy.port)
        engine = create_async_engine(sqlalchemy_url(url))
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE item (id int PRIMARY KEY, v int)"))
            await connection.execute(
                text("INSERT INTO item SELECT g, g * 10 FROM generate_series(1, 50) g")
            )
        yield proxy, url, engine
        await engine.dispose()


def _lookups(engine: AsyncEngine) -> Case:
    async def one_by_one() -> object:
        async with engine.connect() as connection:
            return [
                (
                    await connection.execute(text("SELECT v FROM item WHERE id = :i"), {"i": i})
                ).scalar_one()
                for i in IDS
            ]

    async def batched() -> object:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT v FROM item WHERE id = ANY(:ids) ORDER BY id"), {"ids": IDS}
            )
            return list(rows.scalars())

    return Case("ten lookups", Subject(one_by_one, engine), Subject(batched, engine))


async def test_counts_statements_and_wire_round_trips(
    proxied: tuple[DelayProxy, str, AsyncEngine],
) -> None:
    proxy, url, engine = proxied
    settings = Settings(repeat=3, warmup=1, clients=4, calls_per_client=2, rtt_samples=5)
    result = await run_benchmark([_lookups(engine)], proxy, url, settings)

    (case,) = result.cases
    assert case.before.statements == 10
    assert case.after.statements == 1
    # BEGIN and ROLLBACK of the connection's implicit transaction travel too.
    assert case.before.wire_round_trips == 12
    assert case.after.wire_round_trips == 3
    assert [rtt.delay_ms for rtt in result.rtts] == [0.0, 1.0]
    for variant in (case.before, case.after):
        assert [item.latency.samples for item in variant.latencies] == [3, 3]
        assert variant.throughput is not None
        assert variant.throughput.calls == 8
    assert proxy.delay_s == 0.0  # left as found


async def test_restore_runs_after_every_call(
    proxied: tuple[DelayProxy, str, AsyncEngine],
) -> None:
    proxy, url, engine = proxied
    calls: list[str] = []

    async def restore() -> None:
        calls.append("restore")

    async def write() -> object:
        calls.append("call")
        return None

    case = Case(
        "write",
        Subject(write, engine, restore),
        Subject(write, engine, restore),
        writes=True,
        no_concurrency_reason="each call consumes its input",
    )
    settings = Settings(delays_ms=(0.0,), repeat=2, warmup=1, rtt_samples=1)
    result = await run_benchmark([case], proxy, url, settings)
    assert calls == ["call", "restore"] * (2 * (1 + 1 + 2))
    assert result.cases[0].before.throughput is None


async def test_rtt_grows_with_the_delay_by_round_trips_not_time(
    proxied: tuple[DelayProxy, str, AsyncEngine],
) -> None:
    proxy, url, _ = proxied
    proxy.delay_s = 0.001
    before = proxy.counts.snapshot()
    summary = await measure_rtt(url, samples=6)
    during = proxy.counts.snapshot() - before
    assert summary.samples == 6
    # connect handshake + the untimed first SELECT 1 + 6 timed ones, all held by the proxy.
    assert during.round_trips >= 7
    assert during.held_chunks >= 2 * 7


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="repeat"):
        Settings(repeat=0)
    with pytest.raises(ValueError, match="warmup"):
        Settings(warmup=0)
    with pytest.raises(ValueError, match="negative"):
        Settings(delays_ms=(-1.0,))
