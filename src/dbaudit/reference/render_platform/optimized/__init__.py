"""The render platform with the naive variant's mistakes fixed.

Batched ``IN`` queries grouped in Python instead of queries in loops, aggregation and a
``ROW_NUMBER()`` window instead of counting fetched rows, independent queries run concurrently
on their own pooled connections, self-join aliases instead of lookups one by one, a single
atomic statement for ``delete_chain``, the indexes these queries need (``schema.OPTIMIZED_INDEXES``)
and an engine with explicit pool limits, timeouts, pre-ping and a health check.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from dbaudit.reference.render_platform.optimized import actions
from dbaudit.reference.render_platform.optimized.engine import (
    DEFAULT_ENGINE_SETTINGS,
    EngineSettings,
    check_database_health,
    create_engine,
    session_factory,
)
from dbaudit.reference.render_platform.results import (
    ChainDeletion,
    CreditsWithReset,
    DatabaseHealth,
    ProfileStats,
    ProjectChains,
    ProjectOverview,
    RenderContext,
    RenderRow,
    RenderWithChain,
)

VARIANT = "optimized"


class RenderPlatform:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    async def get_user_projects(self, user_id: int) -> tuple[ProjectOverview, ...]:
        return await actions.get_user_projects(self._sessions, user_id)

    async def get_user_chains_with_renders(self, user_id: int) -> tuple[ProjectChains, ...]:
        return await actions.get_user_chains_with_renders(self._sessions, user_id)

    async def get_user_recent_projects(
        self, user_id: int, limit: int = 10
    ) -> tuple[ProjectOverview, ...]:
        return await actions.get_user_recent_projects(self._sessions, user_id, limit)

    async def get_profile_stats(self, user_id: int) -> ProfileStats | None:
        return await actions.get_profile_stats(self._sessions, user_id)

    async def delete_chain(self, chain_id: int) -> ChainDeletion:
        return await actions.delete_chain(self._sessions, chain_id)

    async def get_render_with_context(self, render_id: int) -> RenderContext | None:
        return await actions.get_render_with_context(self._sessions, render_id)

    async def get_user_credits_with_reset(self, user_id: int) -> CreditsWithReset | None:
        return await actions.get_user_credits_with_reset(self._sessions, user_id)

    async def get_renders_by_ids(self, render_ids: Sequence[int]) -> tuple[RenderRow, ...]:
        return await actions.get_renders_by_ids(self._sessions, render_ids)

    async def get_renders_by_ids_with_chains(
        self, render_ids: Sequence[int]
    ) -> tuple[RenderWithChain, ...]:
        return await actions.get_renders_by_ids_with_chains(self._sessions, render_ids)

    async def update_render_status_batch(self, render_ids: Sequence[int], status: str) -> int:
        return await actions.update_render_status_batch(self._sessions, render_ids, status)

    async def check_database_health(self) -> DatabaseHealth:
        return await check_database_health(self.engine)


__all__ = [
    "DEFAULT_ENGINE_SETTINGS",
    "VARIANT",
    "EngineSettings",
    "RenderPlatform",
    "check_database_health",
    "create_engine",
]
