from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.naive.dal import ChainsDAL, ProjectsDAL, RendersDAL
from dbaudit.reference.render_platform.results import (
    ChainDeletion,
    ChainWithRenders,
    NotFound,
    ProjectChains,
)
from dbaudit.reference.render_platform.rows import chain_row, render_row


async def user_chains_with_renders(
    session: AsyncSession, user_id: int
) -> tuple[ProjectChains, ...]:
    result = []
    for project in await ProjectsDAL.list_for_user(session, user_id):
        chains = []
        for chain in await ChainsDAL.list_for_project(session, project.id):
            renders = await RendersDAL.list_for_chain(session, chain.id)
            chains.append(
                ChainWithRenders(
                    chain=chain_row(chain), renders=tuple(render_row(r) for r in renders)
                )
            )
        result.append(
            ProjectChains(project_id=project.id, project_name=project.name, chains=tuple(chains))
        )
    return tuple(result)


async def delete_chain(session: AsyncSession, chain_id: int) -> ChainDeletion:
    renders = await RendersDAL.list_for_chain(session, chain_id)
    detached = []
    for render in renders:
        await RendersDAL.remove_from_chain(session, render.id)
        detached.append(render.id)
    if not await ChainsDAL.delete(session, chain_id):
        raise NotFound(f"render chain {chain_id} does not exist")
    return ChainDeletion(chain_id=chain_id, detached_render_ids=tuple(sorted(detached)))
