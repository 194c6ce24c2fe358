"""Naive and optimized give equal results: every user, every render, every chain deletion."""

from __future__ import annotations

import pytest

from dbaudit.reference.render_platform.datagen import Scale
from dbaudit.reference.render_platform.results import NotFound

from .conftest import VARIED_SEED, Loaded, load, platforms, table_state

READS = (
    "get_user_projects",
    "get_user_chains_with_renders",
    "get_profile_stats",
    "get_user_credits_with_reset",
)


async def _both(loaded: Loaded, method: str, *args: object) -> tuple[object, object]:
    naive = await getattr(loaded.naive, method)(*args)
    optimized = await getattr(loaded.optimized, method)(*args)
    return naive, optimized


@pytest.mark.parametrize("method", READS)
async def test_every_user_gets_the_same_answer(varied: Loaded, method: str) -> None:
    answers = []
    unknown_user = varied.dataset.user_ids[-1] + 1
    for user_id in [*varied.dataset.user_ids, unknown_user]:
        naive, optimized = await _both(varied, method, user_id)
        assert naive == optimized, (method, user_id)
        answers.append(naive)
    # The comparison saw both kinds of answer: something, and nothing (empty or None).
    assert any(answers) and not all(answers)


async def test_heavy_user_gets_the_same_answer_at_demo_scale(demo: Loaded) -> None:
    user = demo.dataset.heavy_user_id
    for method in READS:
        naive, optimized = await _both(demo, method, user)
        assert naive == optimized, method
    naive, optimized = await _both(demo, "get_user_recent_projects", user, 10)
    assert naive == optimized and len(optimized) == 10  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [0, 1, 3, 100])
async def test_recent_projects_agree_for_any_limit(varied: Loaded, limit: int) -> None:
    for user_id in varied.dataset.user_ids:
        naive, optimized = await _both(varied, "get_user_recent_projects", user_id, limit)
        assert naive == optimized, (user_id, limit)
        assert len(optimized) <= limit  # type: ignore[arg-type]


async def test_a_negative_limit_is_refused_by_both(varied: Loaded) -> None:
    for platform in (varied.naive, varied.optimized):
        with pytest.raises(ValueError, match="limit must be zero or more"):
            await platform.get_user_recent_projects(varied.dataset.heavy_user_id, -1)


async def test_every_render_gets_the_same_context(varied: Loaded) -> None:
    for render_id in varied.dataset.render_ids:
        naive, optimized = await _both(varied, "get_render_with_context", render_id)
        assert naive == optimized, render_id
        assert optimized is not None


async def test_unknown_ids_give_none_or_nothing(varied: Loaded) -> None:
    unknown_user = varied.dataset.user_ids[-1] + 1
    unknown_render = varied.dataset.render_ids[-1] + 1
    for platform in (varied.naive, varied.optimized):
        assert await platform.get_user_projects(unknown_user) == ()
        assert await platform.get_user_chains_with_renders(unknown_user) == ()
        assert await platform.get_user_recent_projects(unknown_user) == ()
        assert await platform.get_profile_stats(unknown_user) is None
        assert await platform.get_user_credits_with_reset(unknown_user) is None
        assert await platform.get_render_with_context(unknown_render) is None
        assert await platform.get_render_with_context(-1) is None


async def test_profile_total_counts_every_render_of_the_users_projects(demo: Loaded) -> None:
    stats = await demo.optimized.get_profile_stats(demo.dataset.heavy_user_id)
    overviews = await demo.naive.get_user_projects(demo.dataset.heavy_user_id)
    assert stats is not None
    assert stats.total_renders == sum(o.render_count for o in overviews) >= 200
    assert len(stats.recent_renders) == 100
    assert all(len(o.latest_renders) == min(4, o.render_count) for o in overviews)


async def test_deleting_every_chain_gives_the_same_results_and_the_same_data(
    fresh_pg_url: str, pg_server: object
) -> None:
    from dbaudit.db import PostgresServer, temporary_database

    assert isinstance(pg_server, PostgresServer)
    dataset = await load(fresh_pg_url, Scale.varied(), seed=VARIED_SEED)
    with temporary_database(pg_server) as other_url:
        assert await load(other_url, Scale.varied(), seed=VARIED_SEED) == dataset
        async with (
            platforms(fresh_pg_url, dataset) as naive_side,
            platforms(other_url, dataset) as optimized_side,
        ):
            lengths = set()
            for chain_id in dataset.chain_ids:
                naive = await naive_side.naive.delete_chain(chain_id)
                optimized = await optimized_side.optimized.delete_chain(chain_id)
                assert naive == optimized
                lengths.add(len(optimized.detached_render_ids))
            assert {0, 1} <= lengths and max(lengths) > 1
            for side, platform in (
                (naive_side, naive_side.naive),
                (optimized_side, optimized_side.optimized),
            ):
                with pytest.raises(NotFound, match=f"render chain {dataset.chain_ids[0]} "):
                    await platform.delete_chain(dataset.chain_ids[0])
                assert await side.optimized.get_user_chains_with_renders(
                    dataset.heavy_user_id
                ) == await side.naive.get_user_chains_with_renders(dataset.heavy_user_id)
        naive_state, optimized_state = (
            await table_state(fresh_pg_url),
            await table_state(other_url),
        )
        assert naive_state == optimized_state
        assert naive_state["render_chains"] == []
        assert all(row[3] is None for row in naive_state["renders"])  # chain_id
