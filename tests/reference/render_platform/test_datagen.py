"""The generator: the heavy user's shape, the edge cases, determinism, and restoring the chain."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dbaudit.db import sqlalchemy_url
from dbaudit.reference.render_platform.datagen import (
    CONTEXT_CHAIN_POSITION,
    HEAVY_LONG_CHAIN_LENGTH,
    HEAVY_PROJECTS,
    Scale,
    generate,
    restore_long_chain,
)
from dbaudit.reference.render_platform.schema import create_schema

from .conftest import VARIED_SEED, Loaded, load, platforms, table_state


async def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def _value(url: str, query: str, *args: object) -> object:
    rows = await _fetch(url, query, *args)
    return rows[0][0]


async def test_demo_scale_has_the_heavy_user_of_the_issue(demo: Loaded) -> None:
    url, data = demo.url, demo.dataset
    user = data.heavy_user_id
    projects = await _value(url, "SELECT count(*) FROM projects WHERE user_id = $1", user)
    renders = await _value(url, "SELECT count(*) FROM renders WHERE user_id = $1", user)
    assert projects == HEAVY_PROJECTS
    assert isinstance(renders, int) and renders >= 200
    positions = await _fetch(
        url,
        "SELECT id, chain_position FROM renders WHERE chain_id = $1 ORDER BY chain_position",
        data.long_chain_id,
    )
    assert [row["chain_position"] for row in positions] == list(range(HEAVY_LONG_CHAIN_LENGTH))
    assert tuple(row["id"] for row in positions) == data.long_chain_render_ids
    assert data.context_render_id == data.long_chain_render_ids[CONTEXT_CHAIN_POSITION]


async def test_demo_scale_gives_every_user_a_subscription_and_credits(demo: Loaded) -> None:
    url = demo.url
    users = await _value(url, "SELECT count(*) FROM users")
    assert users == len(demo.dataset.user_ids) == Scale.demo().users + 1
    without_subscription = await _value(
        url,
        "SELECT count(*) FROM users u WHERE NOT EXISTS "
        "(SELECT 1 FROM user_subscriptions s WHERE s.user_id = u.id)",
    )
    without_credits = await _value(
        url,
        "SELECT count(*) FROM users u WHERE NOT EXISTS "
        "(SELECT 1 FROM user_credits c WHERE c.user_id = u.id)",
    )
    assert (without_subscription, without_credits) == (0, 0)


async def test_context_render_has_parent_reference_and_chain(demo: Loaded) -> None:
    row = (
        await _fetch(
            demo.url,
            "SELECT parent_render_id, reference_render_id, chain_id FROM renders WHERE id = $1",
            demo.dataset.context_render_id,
        )
    )[0]
    assert None not in tuple(row)
    assert row["parent_render_id"] != row["reference_render_id"]


EDGE_CASES = {
    "users without projects": "SELECT count(*) FROM users u WHERE NOT EXISTS "
    "(SELECT 1 FROM projects p WHERE p.user_id = u.id)",
    "empty projects": "SELECT count(*) FROM projects p WHERE NOT EXISTS "
    "(SELECT 1 FROM renders r WHERE r.project_id = p.id) AND NOT EXISTS "
    "(SELECT 1 FROM render_chains c WHERE c.project_id = p.id)",
    "chains of length 0": "SELECT count(*) FROM render_chains c WHERE NOT EXISTS "
    "(SELECT 1 FROM renders r WHERE r.chain_id = c.id)",
    "chains of length 1": "SELECT count(*) FROM (SELECT chain_id FROM renders "
    "WHERE chain_id IS NOT NULL GROUP BY chain_id HAVING count(*) = 1) AS single",
    "renders without parent": "SELECT count(*) FROM renders WHERE parent_render_id IS NULL",
    "renders with parent and reference": "SELECT count(*) FROM renders "
    "WHERE parent_render_id IS NOT NULL AND reference_render_id IS NOT NULL",
    "users without subscription": "SELECT count(*) FROM users u WHERE NOT EXISTS "
    "(SELECT 1 FROM user_subscriptions s WHERE s.user_id = u.id)",
    "users with only inactive subscriptions": "SELECT count(*) FROM users u WHERE EXISTS "
    "(SELECT 1 FROM user_subscriptions s WHERE s.user_id = u.id) AND NOT EXISTS "
    "(SELECT 1 FROM user_subscriptions s WHERE s.user_id = u.id AND s.status = 'active')",
    "users without credits": "SELECT count(*) FROM users u WHERE NOT EXISTS "
    "(SELECT 1 FROM user_credits c WHERE c.user_id = u.id)",
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
async def test_varied_scale_has_each_edge_case(varied: Loaded, case: str) -> None:
    count = await _value(varied.url, EDGE_CASES[case])
    assert isinstance(count, int) and count > 0, case


async def test_same_seed_same_rows_other_seed_other_rows(varied: Loaded, fresh_pg_url: str) -> None:
    again = await load(fresh_pg_url, Scale.varied(), seed=VARIED_SEED, variant="naive")
    assert again == varied.dataset
    assert await table_state(fresh_pg_url, ignore=()) == await table_state(varied.url, ignore=())


async def test_another_seed_gives_other_rows(varied: Loaded, fresh_pg_url: str) -> None:
    await load(fresh_pg_url, Scale.varied(), seed=VARIED_SEED + 1, variant="naive")
    assert await table_state(fresh_pg_url) != await table_state(varied.url)


async def test_ids_are_dense_and_identities_continue_after_them(varied: Loaded) -> None:
    data = varied.dataset
    for table, ids in (("users", data.user_ids), ("renders", data.render_ids)):
        assert await _value(varied.url, f"SELECT count(*) FROM {table}") == len(ids)
        assert await _value(varied.url, f"SELECT max(id) FROM {table}") == ids[-1]
        # The next id a plain INSERT would take comes after the generated ones.
        sequence = await _value(varied.url, f"SELECT last_value FROM {table}_id_seq")
        assert sequence == ids[-1] + 1
    assert data.count("renders") == len(data.render_ids)


async def test_generate_refuses_a_database_that_already_has_data(varied: Loaded) -> None:
    with pytest.raises(ValueError, match="not empty"):
        await generate(varied.url, Scale.varied(), seed=1)


async def test_foreign_key_checks_can_be_skipped_with_the_same_result(
    varied: Loaded, fresh_pg_url: str
) -> None:
    engine = create_async_engine(sqlalchemy_url(fresh_pg_url))
    try:
        await create_schema(engine, "naive")
    finally:
        await engine.dispose()
    await generate(fresh_pg_url, Scale.varied(), VARIED_SEED, skip_foreign_key_checks=True)
    assert await table_state(fresh_pg_url, ignore=()) == await table_state(varied.url, ignore=())


def test_scale_refuses_impossible_ranges() -> None:
    with pytest.raises(ValueError, match="projects_per_user"):
        Scale("bad", 1, (3, 1), (0, 1), (0, 1), (0, 1))
    with pytest.raises(ValueError, match="chain_length"):
        Scale("bad", 1, (0, 1), (0, 1), (0, 1), (2, 1))
    with pytest.raises(ValueError, match="subscribed_fraction"):
        Scale("bad", 1, (0, 1), (0, 1), (0, 1), (0, 1), subscribed_fraction=1.5)
    assert Scale.large().users * 25 >= 1_000_000  # mean 5 projects of mean 5 renders per user


async def test_restore_long_chain_undoes_delete_chain(fresh_pg_url: str) -> None:
    dataset = await load(fresh_pg_url, Scale.demo(), seed=3, variant="naive")
    before = await table_state(fresh_pg_url)
    async with platforms(fresh_pg_url, dataset) as loaded:
        await loaded.naive.delete_chain(dataset.long_chain_id)
        assert await table_state(fresh_pg_url) != before
        await restore_long_chain(fresh_pg_url, dataset)
        assert await table_state(fresh_pg_url) == before
        # Restoring what is intact changes nothing.
        await restore_long_chain(fresh_pg_url, dataset)
        assert await table_state(fresh_pg_url) == before
