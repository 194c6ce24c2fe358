import textwrap

from dbaudit.analysis.good_practices import good_practices
from dbaudit.analysis.program import Program
from dbaudit.frontends.python import parse_module


def practices(source: str) -> set[tuple[str, str, str]]:
    prog = Program([parse_module("app.py", textwrap.dedent(source))])
    return {(p.kind, p.function, p.query_cost) for p in good_practices(prog)}


def test_recognises_each_practice_with_its_cost() -> None:
    found = practices(
        """
        import asyncio
        from sqlalchemy import func, select
        from sqlalchemy.orm import selectinload

        async def batched(session, ids):
            return (await session.scalars(select(R).where(R.id.in_(ids)))).all()

        async def grouped(session):
            return await session.execute(select(R.pid, func.count(R.id)).group_by(R.pid))

        async def window(session):
            rank = func.row_number().over(partition_by=R.pid)
            return await session.execute(select(R, rank))

        async def eager(session):
            return await session.scalars(select(P).options(selectinload(P.renders)))

        async def concurrent(pool):
            return await asyncio.gather(pool.fetchval("SELECT 1"), pool.fetchval("SELECT 2"))

        async def chunks(session, ids):
            for chunk in chunked(ids, 500):
                await session.execute(select(R).where(R.id.in_(chunk)))
        """
    )
    assert {
        ("batched IN", "batched", "1 query for N keys"),
        ("aggregation", "grouped", "1 query for N groups"),
        ("window function", "window", "1 query for N groups"),
        ("eager loading", "eager", "2 queries for N rows"),
        ("concurrent awaits", "concurrent", "2 (concurrent)"),
        ("chunked batching", "chunks", "1 query per chunk (N / chunk size)"),
    } <= found


def test_per_item_queries_are_not_good_practice() -> None:
    found = practices(
        """
        async def f(session, projects):
            for p in projects:
                await session.execute(select(R).where(R.id.in_(p.ids)))
        """
    )
    assert found == set()


def test_prisma_relation_filters_are_no_joined_lookup() -> None:
    # ``recipients: { some: ... }`` filters envelopes by their recipients: no related row is
    # fetched, so it is no "related rows fetched with JOINs" (the relations are in DbOp.joins
    # for DBA105, which must know the tables the query reads)
    from dbaudit.frontends.typescript import parse

    source = textwrap.dedent(
        """
        import { PrismaClient } from "@prisma/client";
        const prisma = new PrismaClient();

        export async function pending(teamId: number) {
          return prisma.envelope.findMany({
            where: {
              teamId,
              recipients: { some: { signedAt: null } },
              team: { is: { disabled: false } },
            },
            take: 20,
          });
        }
        """
    )
    program = Program([parse("app.ts", source).module])
    assert [p.kind for p in good_practices(program)] == []
