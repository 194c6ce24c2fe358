from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.optimized.dal import RendersDAL
from dbaudit.reference.render_platform.results import (
    RenderContext,
    RenderRow,
    RenderWithChain,
    check_status,
)
from dbaudit.reference.render_platform.rows import chain_row, render_row


async def render_with_context(session: AsyncSession, render_id: int) -> RenderContext | None:
    found = await RendersDAL.with_context(session, render_id)
    if found is None:
        return None
    render, parent, reference, chain = found
    return RenderContext(
        render=render_row(render),
        parent=render_row(parent) if parent is not None else None,
        reference=render_row(reference) if reference is not None else None,
        chain=chain_row(chain) if chain is not None else None,
    )


async def renders_by_ids(session: AsyncSession, render_ids: Sequence[int]) -> tuple[RenderRow, ...]:
    """Renders in id order; unknown ids are left out."""
    if not render_ids:
        return ()
    return tuple(await RendersDAL.by_ids(session, list(render_ids)))


async def renders_by_ids_with_chains(
    session: AsyncSession, render_ids: Sequence[int]
) -> tuple[RenderWithChain, ...]:
    if not render_ids:
        return ()
    rows = await RendersDAL.by_ids_with_chains(session, list(render_ids))
    return tuple(
        RenderWithChain(
            render=render_row(render), chain=chain_row(chain) if chain is not None else None
        )
        for render, chain in rows
    )


async def update_status_batch(session: AsyncSession, render_ids: Sequence[int], status: str) -> int:
    """Set one status on many renders in one UPDATE; returns how many renders exist of those."""
    check_status(status)
    if not render_ids:
        return 0
    async with session.begin():
        return await RendersDAL.update_status(session, list(render_ids), status)
