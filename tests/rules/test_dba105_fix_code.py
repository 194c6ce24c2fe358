"""DBA105's gather code repeats each query whole, as the source writes it, and is left out
when the queries do not all run on every call (polar's backoffice and metrics services)."""

from __future__ import annotations

import ast

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = """
from sqlalchemy import func, select

from app.models import Customer, Order, OrderStatus


async def count_test_sales(session, organization_id):
    orders_result = await session.execute(
        select(func.count(Order.id))
        .join(Customer, Order.customer_id == Customer.id)
        .where(Customer.organization_id == organization_id)
    )
    unrefunded_result = await session.execute(
        select(func.count(Order.id))
        .join(Customer, Order.customer_id == Customer.id)
        .where(
            Customer.organization_id == organization_id,
            Order.net_amount > 0,
            Order.status.notin_([OrderStatus.refunded, OrderStatus.partially_refunded]),
        )
    )
    return orders_result.scalar(), unrefunded_result.scalar()


async def dispute_stats(session, organization_id):
    result = await session.execute(select(func.count(Order.id)).filter_by(id=organization_id))
    return result.scalar(), 0


async def detail(session, organization_id):
    disputes, amount = await dispute_stats(session, organization_id)
    sales = await count_test_sales(session, organization_id)
    return disputes, amount, sales


async def summary(session, account_id):
    totals = await session.scalar(select(func.sum(Order.total)).filter_by(account_id=account_id))
    return await session.scalar(select(func.count(Order.id)).filter_by(account_id=account_id))


async def resolve_filters(session, org_ids, billing_type, external_ids):
    product_ids = None
    if billing_type is not None:
        product_ids = list(await session.scalars(select(Order.id).filter_by(kind=billing_type)))
    customer_ids = None
    if external_ids:
        statement = select(Customer.id).where(Customer.external_id.in_(external_ids))
        customer_ids = list(await session.scalars(statement))
    return product_ids, customer_ids
"""


def _findings() -> dict[str, Finding]:
    module = parse_module("app/stats.py", SOURCE)
    found = analyze([module], select=["DBA105"]).findings
    return {f.function: f for f in found}


def test_a_query_written_over_many_lines_is_repeated_whole() -> None:
    fix = _findings()["count_test_sales"].fix
    assert fix is not None
    ast.parse(fix.code)  # valid Python
    # the second query keeps every condition (cut at its fourth line, it was `.where()`)
    assert "Order.status.notin_([OrderStatus.refunded, OrderStatus.partially_refunded])" in (
        fix.code
    )
    assert "lambda s: s.execute(select(func.count(Order.id)).join(" in fix.code


def test_an_unpacked_result_is_one_item_of_the_gather() -> None:
    fix = _findings()["detail"].fix
    assert fix is not None
    assert "(disputes, amount), sales = await asyncio.gather(" in fix.code
    ast.parse(fix.code)


def test_queries_under_conditions_of_their_own_get_no_gather_code() -> None:
    finding = _findings()["resolve_filters"]
    assert finding.fix is not None and finding.fix.code == ""
    assert "keep each condition" in finding.fix.summary
    assert finding.confidence == "medium"


def test_a_returned_query_is_gathered_under_a_name() -> None:
    fix = _findings()["summary"].fix
    assert fix is not None
    assert "totals, returned = await asyncio.gather(" in fix.code
    assert "<return>" not in fix.code
    ast.parse(fix.code)
