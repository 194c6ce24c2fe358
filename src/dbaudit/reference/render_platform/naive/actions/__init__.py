"""Entry points, one per user action: open a session, call a service, hand back the result."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dbaudit.reference.render_platform.naive.services import (
    chains,
    credits,
    profile,
    projects,
    renders,
)
from dbaudit.reference.render_platform.results import (
    ChainDeletion,
    CreditsWithReset,
    ProfileStats,
    ProjectChains,
    ProjectOverview,
    RenderContext,
)

Sessions = async_sessionmaker[AsyncSession]


async def get_user_projects(sessions: Sessions, user_id: int) -> tuple[ProjectOverview, ...]:
    async with sessions() as session:
        return await projects.user_project_overviews(session, user_id)


async def get_user_chains_with_renders(
    sessions: Sessions, user_id: int
) -> tuple[ProjectChains, ...]:
    async with sessions() as session:
        return await chains.user_chains_with_renders(session, user_id)


async def get_user_recent_projects(
    sessions: Sessions, user_id: int, limit: int
) -> tuple[ProjectOverview, ...]:
    async with sessions() as session:
        return await projects.recent_project_overviews(session, user_id, limit)


async def get_profile_stats(sessions: Sessions, user_id: int) -> ProfileStats | None:
    async with sessions() as session:
        return await profile.profile_stats(session, user_id)


async def delete_chain(sessions: Sessions, chain_id: int) -> ChainDeletion:
    async with sessions() as session:
        return await chains.delete_chain(session, chain_id)


async def get_render_with_context(sessions: Sessions, render_id: int) -> RenderContext | None:
    async with sessions() as session:
        return await renders.render_with_context(session, render_id)


async def get_user_credits_with_reset(sessions: Sessions, user_id: int) -> CreditsWithReset | None:
    async with sessions() as session:
        return await credits.credits_with_reset(session, user_id)
