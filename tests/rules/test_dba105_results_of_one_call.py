"""Two awaited queries that are arguments of one call (``return breakdown(await
repo.list_products(ids), await repo.list_subscriptions(ids))``) bind one name: the gather
code wrote ``returned, returned = await asyncio.gather(...)`` (polar's merchant_migrations
``_page_mrr``) and ``counts, breakdown, breakdown = ...`` (``get_migration``), one result lost.
Each gets a name of its own, from its query's method; distinct names stay as written."""

from __future__ import annotations

import ast
import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from sqlalchemy import func, select

    from app.models import Product, Record, Subscription
    from app.mrr import breakdown


    class RecordRepository:
        def __init__(self, session):
            self.session = session

        async def count_by_status(self, ids):
            statement = select(func.count(Record.id)).where(Record.id.in_(ids))
            return await self.session.scalar(statement)

        async def list_product_canonicals(self, ids):
            statement = select(Product).where(Product.org_id.in_(ids))
            return (await self.session.scalars(statement)).all()

        async def list_subscription_canonicals(self, ids):
            statement = select(Subscription).where(Subscription.m_id.in_(ids))
            return (await self.session.scalars(statement)).all()


    async def page_mrr(session, ids):
        repository = RecordRepository(session)
        return breakdown(
            await repository.list_product_canonicals(ids),
            await repository.list_subscription_canonicals(ids),
        )


    async def detail(session, ids):
        repository = RecordRepository(session)
        counts = await repository.count_by_status(ids)
        mrr = breakdown(
            await repository.list_product_canonicals(ids),
            await repository.list_subscription_canonicals(ids),
        )
        return counts, mrr


    async def one_name_twice(session, ids):
        result = await session.execute(select(Product).where(Product.org_id.in_(ids)))
        products = result.scalars().all()
        result = await session.execute(select(Subscription).where(Subscription.m_id.in_(ids)))
        return products, result.scalars().all()


    async def plain(session, ids):
        repository = RecordRepository(session)
        products = await repository.list_product_canonicals(ids)
        subscriptions = await repository.list_subscription_canonicals(ids)
        return products, subscriptions
    """
)


def _codes() -> dict[str, str]:
    module = parse_module("app/views.py", SOURCE)
    found = analyze([module], select=["DBA105"]).findings
    return {f.function: f.fix.code for f in found if f.fix is not None}


def test_results_of_one_call_get_a_name_each() -> None:
    codes = _codes()
    assert codes["page_mrr"].startswith(
        "product_canonicals, subscription_canonicals = await asyncio.gather("
    )
    line = SOURCE.splitlines().index("    return breakdown(") + 2  # the first query's
    assert f"line {line} uses `product_canonicals`, `subscription_canonicals`" in codes["page_mrr"]
    assert codes["detail"].startswith(
        "counts, product_canonicals, subscription_canonicals = await asyncio.gather("
    )
    assert "\nresult, result_2 = await asyncio.gather(" in codes["one_name_twice"]
    for code in codes.values():
        ast.parse(code)


def test_distinct_names_stay_as_written() -> None:
    assert _codes()["plain"].startswith("products, subscriptions = await asyncio.gather(")
