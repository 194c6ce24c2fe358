from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dbaudit.reference.render_platform.schema import Render, RenderChain


class RendersDAL:
    @staticmethod
    async def latest_per_project(
        session: AsyncSession, project_ids: Sequence[int], per_project: int
    ) -> Sequence[Render]:
        """The newest ``per_project`` renders of each project, in one query (ROW_NUMBER)."""
        rank = (
            func.row_number()
            .over(
                partition_by=Render.project_id,
                order_by=(Render.created_at.desc(), Render.id.desc()),
            )
            .label("rank")
        )
        ranked = select(Render, rank).where(Render.project_id.in_(project_ids)).subquery()
        newest = aliased(Render, ranked)
        query = (
            select(newest)
            .where(ranked.c.rank <= per_project)
            .order_by(ranked.c.project_id, ranked.c.rank)
        )
        return (await session.scalars(query)).all()

    @staticmethod
    async def for_chains(session: AsyncSession, chain_ids: Sequence[int]) -> Sequence[Render]:
        query = (
            select(Render)
            .where(Render.chain_id.in_(chain_ids))
            .order_by(Render.chain_id, Render.chain_position, Render.id)
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
    async def with_context(
        session: AsyncSession, render_id: int
    ) -> tuple[Render, Render | None, Render | None, RenderChain | None] | None:
        """A render with its parent, its reference and its chain: one query, three LEFT JOINs."""
        parent = aliased(Render, name="parent")
        reference = aliased(Render, name="reference")
        query = (
            select(Render, parent, reference, RenderChain)
            .outerjoin(parent, parent.id == Render.parent_render_id)
            .outerjoin(reference, reference.id == Render.reference_render_id)
            .outerjoin(RenderChain, RenderChain.id == Render.chain_id)
            .where(Render.id == render_id)
        )
        row = (await session.execute(query)).first()
        # Outer joins: parent, reference and chain may be NULL, which the ORM types cannot say.
        return None if row is None else (row[0], row[1], row[2], row[3])

    @staticmethod
    async def by_ids(session: AsyncSession, render_ids: Sequence[int]) -> Sequence[Render]:
        query = select(Render).where(Render.id.in_(render_ids)).order_by(Render.id)
        return (await session.scalars(query)).all()

    @staticmethod
    async def by_ids_with_chains(
        session: AsyncSession, render_ids: Sequence[int]
    ) -> list[tuple[Render, RenderChain | None]]:
        query = (
            select(Render, RenderChain)
            .outerjoin(RenderChain, RenderChain.id == Render.chain_id)
            .where(Render.id.in_(render_ids))
            .order_by(Render.id)
        )
        return [(render, chain) for render, chain in await session.execute(query)]

    @staticmethod
    async def update_status(session: AsyncSession, render_ids: Sequence[int], status: str) -> int:
        result = await session.execute(
            update(Render)
            .where(Render.id.in_(render_ids))
            .values(status=status, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return int(result.rowcount)
