"""A loop over an async iterable (``async for grant in results``, a server-side stream from
``stream_scalars``) can be read once: the batched read fix wrote ``keys = [grant.x for grant in
results]`` and then ``for grant in results:`` again (a sync comprehension over an async
iterator, and the stream read twice; polar's organization backfill tasks). It gets no code
and says to batch per chunk of the stream; a list loop keeps its code."""

from __future__ import annotations

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = """
from sqlalchemy import select

from app.models import Grant, Seat


async def seat_of(session, grant):
    return await session.scalar(select(Seat.member_id).where(Seat.grant_id == grant.id))


async def link_streamed(session, organization_id):
    results = await session.stream_scalars(select(Grant).where(Grant.org_id == organization_id))
    async for grant in results:
        grant.member_id = await session.scalar(
            select(Seat.member_id).where(Seat.subscription_id == grant.subscription_id)
        )
        grant.seat_id = await seat_of(session, grant)


async def link_listed(session, grants):
    for grant in grants:
        grant.member_id = await session.scalar(
            select(Seat.member_id).where(Seat.subscription_id == grant.subscription_id)
        )
        grant.seat_id = await seat_of(session, grant)
"""


def _findings(rule: str) -> dict[str, Finding]:
    found = analyze([parse_module("app/grants.py", SOURCE)], select=[rule]).findings
    return {f.function: f for f in found}


def test_a_streamed_loop_gets_no_batched_code_but_chunks() -> None:
    for rule in ("DBA101", "DBA102"):
        fix = _findings(rule)["link_streamed"].fix
        assert fix is not None
        assert fix.code == "", rule
        assert "result.partitions(size)" in fix.summary, rule
        assert "collect `size` items in a list" in fix.summary, rule


def test_a_list_loop_keeps_its_code() -> None:
    for rule in ("DBA101", "DBA102"):
        fix = _findings(rule)["link_listed"].fix
        assert fix is not None
        assert "keys = [grant." in fix.code, rule
