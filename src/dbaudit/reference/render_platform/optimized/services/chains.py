from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.optimized.dal import ChainsDAL, ProjectsDAL, RendersDAL
from dbaudit.reference.render_platform.results import (
    ChainDeletion,
    ChainWithRenders,
    NotFound,
    ProjectChains,
    RenderRow,
)
from dbaudit.reference.render_platform.rows import chain_row


async def user_chains_with_renders(
    session: AsyncSession, user_id: int
) -> tuple[ProjectChains, ...]:
    """Three batched queries (projects, their chains, the chains' renders), grouped in Python."""
    projects = await ProjectsDAL.list_for_user(session, user_id)
    if not projects:
        return ()
    chains = await ChainsDAL.for_projects(session, [p.id for p in projects])
    renders = await RendersDAL.for_chains(session, [c.id for c in chains]) if chains else ()
    renders_by_chain: defaultdict[int, list[RenderRow]] = defaultdict(list)
    for render in renders:
        assert render.chain_id is not None
        renders_by_chain[render.chain_id].append(render)
    chains_by_project: defaultdict[int, list[ChainWithRenders]] = defaultdict(list)
    for chain in chains:
        chains_by_project[chain.project_id].append(
            ChainWithRenders(chain=chain_row(chain), renders=tuple(renders_by_chain[chain.id]))
        )
    return tuple(
        ProjectChains(project_id=p.id, project_name=p.name, chains=tuple(chains_by_project[p.id]))
        for p in projects
    )


async def delete_chain(session: AsyncSession, chain_id: int) -> ChainDeletion:
    """One statement, so one round trip, and atomic without a surrounding transaction."""
    async with session.begin():
        deleted, detached = await ChainsDAL.delete_detaching_renders(session, chain_id)
    if deleted is None:
        raise NotFound(f"render chain {chain_id} does not exist")
    return ChainDeletion(chain_id=deleted, detached_render_ids=detached)
