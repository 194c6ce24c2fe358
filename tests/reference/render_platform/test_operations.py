"""Round trips per operation, counted from SQLAlchemy cursor events and asserted exactly.

At demo scale against ``OPERATIONS`` (the issue's table), and for every user and render of the
varied scale against the cost shapes (1 + N, 1 + N + N*M, ...) worked out from the data.
"""

from __future__ import annotations

import asyncpg
import pytest

from dbaudit.reference.render_platform.operations import OPERATIONS, Operation, operation

from .conftest import Loaded, round_trips


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_round_trips_at_demo_scale_are_the_table(demo: Loaded, op: Operation) -> None:
    measured = []
    for platform in (demo.naive, demo.optimized):
        measured.append(await round_trips(platform.engine, op.call, platform, demo.dataset))
        if op.restore is not None:
            await op.restore(demo.url, demo.dataset)
    assert measured == [op.naive_round_trips, op.optimized_round_trips]


def test_the_table_is_the_issues() -> None:
    table = {op.name: (op.naive_round_trips, op.optimized_round_trips) for op in OPERATIONS}
    assert table == {
        "get_user_projects": (51, 2),
        "get_user_chains_with_renders": (61, 3),
        "get_user_recent_projects": (11, 2),
        "get_profile_stats": (5, 4),
        "delete_chain": (52, 1),
        "get_render_with_context": (4, 1),
        "get_user_credits_with_reset": (2, 1),
    }
    assert [op.name for op in OPERATIONS if op.writes] == ["delete_chain"]
    assert operation("delete_chain").restore is not None
    with pytest.raises(KeyError, match="no operation named 'nope'"):
        operation("nope")


async def _user_shapes(url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(
            await connection.fetch(
                """
                SELECT u.id,
                       (SELECT count(*) FROM projects p WHERE p.user_id = u.id) AS projects,
                       (SELECT count(*) FROM render_chains c JOIN projects p ON p.id = c.project_id
                         WHERE p.user_id = u.id) AS chains,
                       EXISTS (SELECT 1 FROM user_credits c WHERE c.user_id = u.id) AS credited
                FROM users u ORDER BY u.id
                """
            )
        )
    finally:
        await connection.close()


async def test_round_trips_follow_the_cost_shapes_for_every_user(varied: Loaded) -> None:
    naive, optimized = varied.naive, varied.optimized
    users = await _user_shapes(varied.url)
    assert any(u["projects"] == 0 for u in users) and any(u["chains"] == 0 for u in users)
    for user in users:
        uid, projects, chains = user["id"], user["projects"], user["chains"]
        assert await round_trips(naive.engine, naive.get_user_projects, uid) == 1 + projects
        assert await round_trips(optimized.engine, optimized.get_user_projects, uid) == (
            2 if projects else 1
        )
        assert (
            await round_trips(naive.engine, naive.get_user_chains_with_renders, uid)
            == 1 + projects + chains
        )
        assert await round_trips(optimized.engine, optimized.get_user_chains_with_renders, uid) == (
            3 if chains else 2 if projects else 1
        )
        assert await round_trips(naive.engine, naive.get_user_recent_projects, uid, 2) == 1 + min(
            projects, 2
        )
        assert await round_trips(naive.engine, naive.get_profile_stats, uid) == 5
        assert await round_trips(optimized.engine, optimized.get_profile_stats, uid) == 4
        assert await round_trips(naive.engine, naive.get_user_credits_with_reset, uid) == (
            2 if user["credited"] else 1
        )
        assert await round_trips(optimized.engine, optimized.get_user_credits_with_reset, uid) == 1


async def test_render_context_lookups_follow_the_links_of_each_render(varied: Loaded) -> None:
    connection = await asyncpg.connect(varied.url)
    try:
        renders = await connection.fetch(
            "SELECT id, parent_render_id, reference_render_id, chain_id FROM renders ORDER BY id"
        )
    finally:
        await connection.close()
    seen = set()
    for render in renders:
        # The session's identity map answers a second lookup of the same render without a query.
        links = {render["parent_render_id"], render["reference_render_id"]} - {None}
        expected = 1 + len(links) + (render["chain_id"] is not None)
        seen.add(expected)
        rid = render["id"]
        assert (
            await round_trips(varied.naive.engine, varied.naive.get_render_with_context, rid)
            == expected
        )
        assert (
            await round_trips(
                varied.optimized.engine, varied.optimized.get_render_with_context, rid
            )
            == 1
        )
    assert seen >= {1, 2, 3, 4}


async def test_unknown_user_costs_one_lookup_in_naive(varied: Loaded) -> None:
    unknown = varied.dataset.user_ids[-1] + 1000
    assert await round_trips(varied.naive.engine, varied.naive.get_profile_stats, unknown) == 1
