from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.optimized.dal import ProjectsDAL, RendersDAL
from dbaudit.reference.render_platform.results import (
    LATEST_RENDERS_PER_PROJECT,
    ProjectOverview,
    RenderRow,
    check_limit,
)
from dbaudit.reference.render_platform.schema import Project


async def overviews(
    session: AsyncSession, user_id: int, limit: int | None = None
) -> tuple[ProjectOverview, ...]:
    """Two queries whatever the number of projects: counts by GROUP BY, latest renders by window."""
    counted = await ProjectsDAL.with_render_counts(session, user_id, limit)
    if not counted:
        return ()
    latest = await latest_renders_by_project(session, [project.id for project, _ in counted])
    return tuple(_overview(project, count, latest[project.id]) for project, count in counted)


async def latest_renders_by_project(
    session: AsyncSession, project_ids: Sequence[int]
) -> dict[int, tuple[RenderRow, ...]]:
    renders = await RendersDAL.latest_per_project(session, project_ids, LATEST_RENDERS_PER_PROJECT)
    grouped: defaultdict[int, list[RenderRow]] = defaultdict(list)
    for render in renders:
        grouped[render.project_id].append(render)
    return {project_id: tuple(grouped[project_id]) for project_id in project_ids}


def _overview(project: Project, count: int, latest: tuple[RenderRow, ...]) -> ProjectOverview:
    return ProjectOverview(
        id=project.id,
        user_id=project.user_id,
        name=project.name,
        slug=project.slug,
        created_at=project.created_at,
        updated_at=project.updated_at,
        render_count=count,
        latest_renders=latest,
    )


async def recent_overviews(
    session: AsyncSession, user_id: int, limit: int
) -> tuple[ProjectOverview, ...]:
    if check_limit(limit) == 0:
        return ()
    return await overviews(session, user_id, limit)
