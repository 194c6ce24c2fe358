from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import Project, Render


class RendersDAL:
    @staticmethod
    async def get_by_id(session: AsyncSession, render_id: int) -> Render | None:
        return await session.get(Render, render_id)

    @staticmethod
    async def list_for_project(session: AsyncSession, project_id: int) -> Sequence[Render]:
        query = (
            select(Render)
            .where(Render.project_id == project_id)
            .order_by(Render.created_at.desc(), Render.id.desc())
        )
        return (await session.scalars(query)).all()

    @staticmethod
    async def list_for_chain(session: AsyncSession, chain_id: int) -> Sequence[Render]:
        query = (
            select(Render)
            .where(Render.chain_id == chain_id)
            .order_by(Render.chain_position, Render.id)
        )
        return (await session.scalars(query)).all()

    @staticmethod
    async def recent_for_user(session: AsyncSession, user_id: int, limit: int) -> Sequence[Render]:
        query = (
            select(Render)
            .where(Render.user_id == user_id)
            .order_by(Render.created_at.desc(), Render.id.desc())
            .limit(limit)
        )
        return (await session.scalars(query)).all()

    @staticmethod
    async def list_for_user_projects(session: AsyncSession, user_id: int) -> Sequence[Render]:
        query = select(Render).join(Project, Project.id == Render.project_id)
        return (await session.scalars(query.where(Project.user_id == user_id))).all()

    @staticmethod
    async def remove_from_chain(session: AsyncSession, render_id: int) -> None:
        await session.execute(
            update(Render)
            .where(Render.id == render_id)
            .values(chain_id=None, chain_position=None, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        await session.commit()
