from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.naive.dal import ChainsDAL, RendersDAL
from dbaudit.reference.render_platform.results import RenderContext
from dbaudit.reference.render_platform.rows import chain_row, render_row


async def render_with_context(session: AsyncSession, render_id: int) -> RenderContext | None:
    render = await RendersDAL.get_by_id(session, render_id)
    if render is None:
        return None
    parent = reference = chain = None
    if render.parent_render_id is not None:
        parent = await RendersDAL.get_by_id(session, render.parent_render_id)
    if render.reference_render_id is not None:
        reference = await RendersDAL.get_by_id(session, render.reference_render_id)
    if render.chain_id is not None:
        chain = await ChainsDAL.get_by_id(session, render.chain_id)
    return RenderContext(
        render=render_row(render),
        parent=render_row(parent) if parent is not None else None,
        reference=render_row(reference) if reference is not None else None,
        chain=chain_row(chain) if chain is not None else None,
    )
