from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import Project, Render


class ProjectsDAL:
    @staticmethod
    async def with_render_counts(
        session: AsyncSession, user_id: int, limit: int | None = None
    ) -> Sequence[tuple[Project, int]]:
        """A user's projects, newest activity first, each with its render count (one GROUP BY)."""
        query = (
            select(Project, func.count(Render.id))
            .outerjoin(Render, Render.project_id == Project.id)
            .where(Project.user_id == user_id)
            .group_by(Project.id)
            .order_by(Project.updated_at.desc(), Project.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return [(project, count) for project, count in await session.execute(query)]

    @staticmethod
    async def render_counts(session: AsyncSession, user_id: int) -> list[tuple[int, str, int]]:
        """Only the columns a profile shows: id, name and render count per project."""
        query = (
            select(Project.id, Project.name, func.count(Render.id))
            .outerjoin(Render, Render.project_id == Project.id)
            .where(Project.user_id == user_id)
            .group_by(Project.id)
            .order_by(Project.updated_at.desc(), Project.id.desc())
        )
        rows = await session.execute(query)
        return [(project_id, name, count) for project_id, name, count in rows]

    @staticmethod
    async def list_for_user(session: AsyncSession, user_id: int) -> Sequence[Project]:
        query = (
            select(Project)
            .where(Project.user_id == user_id)
            .order_by(Project.updated_at.desc(), Project.id.desc())
        )
        return (await session.scalars(query)).all()
