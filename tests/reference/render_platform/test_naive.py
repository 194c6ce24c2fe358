"""The naive variant's delete_chain commits render by render: a failure midway leaves half a job."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from dbaudit.reference.render_platform.datagen import Scale

from .conftest import load, platforms, table_state
from .test_optimized import inject_failure_midway


async def test_delete_chain_is_not_atomic_when_it_fails_midway(fresh_pg_url: str) -> None:
    dataset = await load(fresh_pg_url, Scale.demo(), seed=1, variant="naive")
    await inject_failure_midway(fresh_pg_url, dataset.long_chain_id, position=25)
    async with platforms(fresh_pg_url, dataset) as loaded:
        with pytest.raises(DBAPIError, match="injected failure at chain position 25"):
            await loaded.naive.delete_chain(dataset.long_chain_id)
    state = await table_state(fresh_pg_url)
    chains = {row[0] for row in state["render_chains"]}
    in_chain = [row for row in state["renders"] if row[0] in dataset.long_chain_render_ids]
    detached = [row for row in in_chain if row[3] is None]
    # The chain is still there, but the first 25 renders have already left it.
    assert dataset.long_chain_id in chains
    assert len(detached) == 25 and len(in_chain) - len(detached) == 25
