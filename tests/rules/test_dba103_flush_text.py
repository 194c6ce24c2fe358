"""A flush per item commits nothing: DBA103 says so instead of 'commits each one (not atomic:
a failure half way leaves half the rows changed)' (polar's order and webhook services)."""

from __future__ import annotations

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = """
async def retry_orders(session, orders, payment_method):
    for order in orders:
        order.subscription.payment_method_id = payment_method.id
        await session.flush()
        enqueue_job("order.trigger_payment", order_id=order.id)


def commit_each(session, users):
    for user in users:
        user.active = True
        session.commit()
"""


def _findings() -> dict[str, Finding]:
    found = analyze([parse_module("app/orders.py", SOURCE)], select=["DBA103"]).findings
    return {f.function: f for f in found}


def test_a_flush_per_item_is_not_called_a_commit() -> None:
    finding = _findings()["retry_orders"]
    assert "commits each one" not in finding.problem
    assert finding.fix is not None
    assert "A flush commits nothing" in finding.fix.summary
    assert "One commit makes the loop one transaction" not in finding.fix.summary
    assert "one transaction for every" not in finding.fix.code


def test_a_commit_per_item_still_is() -> None:
    finding = _findings()["commit_each"]
    assert "commits each one (not atomic" in finding.problem
    assert finding.fix is not None
    assert "One commit makes the loop one transaction" in finding.fix.summary
