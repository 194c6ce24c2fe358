"""Entry points, one per user action: open a session, call a service, hand back the result."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dbaudit.reference.render_platform.optimized.services import (
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
    RenderRow,
    RenderWithChain,
)

Sessions = async_sessionmaker[AsyncSession]


async def get_user_projects(sessions: Sessions, user_id: int) -> tuple[ProjectOverview, ...]:
    async with sessions() as session:
        return await projects.overviews(session, user_id)


async def get_user_chains_with_renders(
    sessions: Sessions, user_id: int
) -> tuple[ProjectChains, ...]:
    async with sessions() as session:
        return await chains.user_chains_with_renders(session, user_id)


async def get_user_recent_projects(
    sessions: Sessions, user_id: int, limit: int
) -> tuple[ProjectOverview, ...]:
    async with sessions() as session:
        return await projects.recent_overviews(session, user_id, limit)


async def get_profile_stats(sessions: Sessions, user_id: int) -> ProfileStats | None:
    return await profile.profile_stats(sessions, user_id)


async def delete_chain(sessions: Sessions, chain_id: int) -> ChainDeletion:
    async with sessions() as session:
        return await chains.delete_chain(session, chain_id)


async def get_render_with_context(sessions: Sessions, render_id: int) -> RenderContext | None:
    async with sessions() as session:
        return await renders.render_with_context(session, render_id)


async def get_user_credits_with_reset(sessions: Sessions, user_id: int) -> CreditsWithReset | None:
    async with sessions() as session:
        return await credits.credits_with_reset(session, user_id)


async def get_renders_by_ids(
    sessions: Sessions, render_ids: Sequence[int]
) -> tuple[RenderRow, ...]:
    async with sessions() as session:
        return await renders.renders_by_ids(session, render_ids)


async def get_renders_by_ids_with_chains(
    sessions: Sessions, render_ids: Sequence[int]
) -> tuple[RenderWithChain, ...]:
    async with sessions() as session:
        return await renders.renders_by_ids_with_chains(session, render_ids)


async def update_render_status_batch(
    sessions: Sessions, render_ids: Sequence[int], status: str
) -> int:
    async with sessions() as session:
        return await renders.update_status_batch(session, render_ids, status)
