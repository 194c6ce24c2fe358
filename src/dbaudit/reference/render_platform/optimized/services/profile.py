from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dbaudit.reference.render_platform.optimized.dal import (
    CreditsDAL,
    ProjectsDAL,
    RendersDAL,
    UsersDAL,
)
from dbaudit.reference.render_platform.results import (
    PROFILE_RECENT_RENDERS,
    ProfileStats,
    ProjectRenderCount,
)
from dbaudit.reference.render_platform.rows import credits_row, user_row

T = TypeVar("T")


async def _in_own_session(
    sessions: async_sessionmaker[AsyncSession], query: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    # One AsyncSession runs one statement at a time, so each concurrent query needs its own
    # session (and with it its own pooled connection).
    async with sessions() as session:
        return await query(session)


async def profile_stats(
    sessions: async_sessionmaker[AsyncSession], user_id: int
) -> ProfileStats | None:
    """Four independent queries at once; the total is summed from the per-project counts."""
    user, counted, credits, recent = await asyncio.gather(
        _in_own_session(sessions, lambda s: UsersDAL.get_by_id(s, user_id)),
        _in_own_session(sessions, lambda s: ProjectsDAL.render_counts(s, user_id)),
        _in_own_session(sessions, lambda s: CreditsDAL.get_for_user(s, user_id)),
        _in_own_session(
            sessions, lambda s: RendersDAL.recent_for_user(s, user_id, PROFILE_RECENT_RENDERS)
        ),
    )
    if user is None:
        return None
    projects = tuple(
        ProjectRenderCount(project_id=project_id, name=name, render_count=count)
        for project_id, name, count in counted
    )
    return ProfileStats(
        user=user_row(user),
        projects=projects,
        credits=credits_row(credits) if credits is not None else None,
        recent_renders=tuple(recent),
        total_renders=sum(p.render_count for p in projects),
    )
