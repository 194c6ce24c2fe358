from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import RenderChain


class ChainsDAL:
    @staticmethod
    async def get_by_id(session: AsyncSession, chain_id: int) -> RenderChain | None:
        return await session.get(RenderChain, chain_id)

    @staticmethod
    async def list_for_project(session: AsyncSession, project_id: int) -> Sequence[RenderChain]:
        query = (
            select(RenderChain)
            .where(RenderChain.project_id == project_id)
            .order_by(RenderChain.created_at, RenderChain.id)
        )
        return (await session.scalars(query)).all()

    @staticmethod
    async def delete(session: AsyncSession, chain_id: int) -> bool:
        result = await session.execute(delete(RenderChain).where(RenderChain.id == chain_id))
        await session.commit()
        assert isinstance(result, CursorResult)
        return bool(result.rowcount)
