from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import Project, Render


class ProjectsDAL:
    @staticmethod
    async def list_for_user(
        session: AsyncSession, user_id: int, limit: int | None = None
    ) -> Sequence[Project]:
        query = (
            select(Project)
            .where(Project.user_id == user_id)
            .order_by(Project.updated_at.desc(), Project.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return (await session.scalars(query)).all()

    @staticmethod
    async def render_counts_for_user(
        session: AsyncSession, user_id: int
    ) -> Sequence[tuple[int, str, int]]:
        query = (
            select(Project.id, Project.name, func.count(Render.id))
            .outerjoin(Render, Render.project_id == Project.id)
            .where(Project.user_id == user_id)
            .group_by(Project.id)
            .order_by(Project.updated_at.desc(), Project.id.desc())
        )
        rows = await session.execute(query)
        return [(project_id, name, count) for project_id, name, count in rows]
