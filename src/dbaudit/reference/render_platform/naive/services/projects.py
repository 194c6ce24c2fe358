from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.naive.dal import ProjectsDAL, RendersDAL
from dbaudit.reference.render_platform.results import (
    LATEST_RENDERS_PER_PROJECT,
    ProjectOverview,
    check_limit,
)
from dbaudit.reference.render_platform.rows import render_row
from dbaudit.reference.render_platform.schema import Project


async def project_overview(session: AsyncSession, project: Project) -> ProjectOverview:
    renders = await RendersDAL.list_for_project(session, project.id)
    return ProjectOverview(
        id=project.id,
        user_id=project.user_id,
        name=project.name,
        slug=project.slug,
        created_at=project.created_at,
        updated_at=project.updated_at,
        render_count=len(renders),
        latest_renders=tuple(render_row(r) for r in renders[:LATEST_RENDERS_PER_PROJECT]),
    )


async def user_project_overviews(
    session: AsyncSession, user_id: int
) -> tuple[ProjectOverview, ...]:
    projects = await ProjectsDAL.list_for_user(session, user_id)
    overviews = []
    for project in projects:
        overviews.append(await project_overview(session, project))
    return tuple(overviews)


async def recent_project_overviews(
    session: AsyncSession, user_id: int, limit: int
) -> tuple[ProjectOverview, ...]:
    projects = await ProjectsDAL.list_for_user(session, user_id, limit=check_limit(limit))
    overviews = []
    for project in projects:
        overviews.append(await project_overview(session, project))
    return tuple(overviews)
