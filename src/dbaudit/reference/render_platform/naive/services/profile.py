from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.naive.dal import (
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
from dbaudit.reference.render_platform.rows import credits_row, render_row, user_row


async def profile_stats(session: AsyncSession, user_id: int) -> ProfileStats | None:
    user = await UsersDAL.get_by_id(session, user_id)
    if user is None:
        return None
    counts = await ProjectsDAL.render_counts_for_user(session, user_id)
    credits = await CreditsDAL.get_for_user(session, user_id)
    recent = await RendersDAL.recent_for_user(session, user_id, PROFILE_RECENT_RENDERS)
    all_renders = await RendersDAL.list_for_user_projects(session, user_id)
    return ProfileStats(
        user=user_row(user),
        projects=tuple(
            ProjectRenderCount(project_id=pid, name=name, render_count=count)
            for pid, name, count in counts
        ),
        credits=credits_row(credits) if credits is not None else None,
        recent_renders=tuple(render_row(r) for r in recent),
        total_renders=len(all_renders),
    )
