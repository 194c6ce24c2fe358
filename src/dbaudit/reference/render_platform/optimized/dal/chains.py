from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import Render, RenderChain


class ChainsDAL:
    @staticmethod
    async def for_projects(
        session: AsyncSession, project_ids: Sequence[int]
    ) -> Sequence[RenderChain]:
        query = (
            select(RenderChain)
            .where(RenderChain.project_id.in_(project_ids))
            .order_by(RenderChain.created_at, RenderChain.id)
        )
        return (await session.scalars(query)).all()

    @staticmethod
    async def delete_detaching_renders(
        session: AsyncSession, chain_id: int
    ) -> tuple[int | None, tuple[int, ...]]:
        """Detach the chain's renders and delete the chain in one statement (so atomically).

        Returns the deleted chain's id (``None`` when there was no such chain) and the ids of
        the renders that were detached. Both data-modifying CTEs run to completion whether or
        not the outer query reads them; the renders' foreign key to the chain is checked at the
        end of the statement, after the UPDATE has cleared it.
        """
        detached = (
            update(Render)
            .where(Render.chain_id == chain_id)
            .values(chain_id=None, chain_position=None, updated_at=func.now())
            .returning(Render.id)
            .cte("detached")
        )
        deleted = (
            delete(RenderChain)
            .where(RenderChain.id == chain_id)
            .returning(RenderChain.id)
            .cte("deleted")
        )
        query = select(
            select(deleted.c.id).scalar_subquery().label("chain_id"),
            select(func.array_agg(aggregate_order_by(detached.c.id, detached.c.id)))
            .scalar_subquery()
            .label("render_ids"),
        )
        row = (await session.execute(query)).one()
        return row.chain_id, tuple(row.render_ids or ())
