"""The render platform as it is often first written.

What is wrong here, on purpose (dbaudit must flag each one, and the optimized variant fixes it):
a query per project and per chain inside loops (N+1 and N*M), sequential awaits of independent
queries, counting rows by fetching them, one UPDATE per render and a commit after each (so
``delete_chain`` is not atomic), lookups one by one where a join would do, no secondary indexes,
and an engine with library defaults (no timeouts, no pre-ping, no health check).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from dbaudit.reference.render_platform.naive import actions
from dbaudit.reference.render_platform.naive.engine import create_engine, session_factory
from dbaudit.reference.render_platform.results import (
    ChainDeletion,
    CreditsWithReset,
    ProfileStats,
    ProjectChains,
    ProjectOverview,
    RenderContext,
)

VARIANT = "naive"


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


__all__ = ["VARIANT", "RenderPlatform", "create_engine"]
