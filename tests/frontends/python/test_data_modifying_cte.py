"""A SELECT over a data-modifying CTE (``update(...).returning(...).cte()``, then
``select(func.count()).select_from(updated)``) is that write, one round trip that changes the
rows: polar's BillingEntryRepository._link_pending was a 'count on BillingEntry', a read, and
its caller's loop an N+1 of reads (critical) with a batched-read fix for a batched UPDATE."""

from __future__ import annotations

from dbaudit.frontends.python import parse_module

SOURCE = """
from sqlalchemy import func, select, update

from app.models import Entry


async def link_pending(session, pending_ids, item_id):
    updated = (
        update(Entry)
        .where(Entry.id.in_(pending_ids))
        .values(item_id=item_id)
        .returning(Entry.id)
        .cte("updated_entry")
    )
    statement = select(func.count()).select_from(updated)
    return (await session.execute(statement)).scalar_one()


async def count_pending(session, pending_ids):
    pending = select(Entry.id).where(Entry.id.in_(pending_ids)).cte("pending")
    statement = select(func.count()).select_from(pending)
    return (await session.execute(statement)).scalar_one()
"""


def test_a_select_over_an_update_cte_is_the_update() -> None:
    module = parse_module("app/entries.py", SOURCE)
    ops = {f.name: f.db_ops for f in module.functions}
    (write,) = ops["link_pending"]
    assert write.kind == "update"
    assert write.tables[0] == "Entry"
    (read,) = ops["count_pending"]
    assert read.kind == "count"
