"""DBA102 reads what a loop hands a helper the way the helper's query uses it (polar):

- a helper that takes a collection of keys (``benefit_id.in_(benefit_ids)``) handed one key in
  a literal (``{grant.benefit_id}``) is keyed by that key: the fix's keys were sets;
- a value that changes with the item but reaches the helper only after its query (a dispute's
  amount scaling the balances it read, through a further helper) does not make the query
  differ: the same key on every item is the same query, not an IN over one key repeated, and
  since the helper's result does differ, the fix reads the query once, not the helper."""

from __future__ import annotations

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = """
from sqlalchemy import select

from app.models import Balance, LicenseKey


async def transfer(session, old_customer_id, benefit_ids):
    keys = await session.scalars(
        select(LicenseKey).where(
            LicenseKey.customer_id == old_customer_id,
            LicenseKey.benefit_id.in_(benefit_ids),
        )
    )
    return keys.all()


async def transfer_all(session, grants, old_customer_id):
    for grant in grants:
        await transfer(session, old_customer_id, {grant.benefit_id})


async def transfer_many(session, grants, old_customer_id):
    for grant in grants:
        await transfer(session, old_customer_id, grant.benefit_ids)


class Reversals:
    async def _balances(self, session, *, payment):
        result = await session.execute(select(Balance).where(Balance.payment_id == payment.id))
        return result.scalars().all()

    async def _reverse(self, session, *, payment, amount):
        balances = await self._balances(session, payment=payment)
        return [(b, b.amount * amount // payment.amount) for b in balances]

    async def reverse_all(self, session, *, payment, disputes):
        reversed_ = []
        for dispute in disputes:
            reversed_ += await self._reverse(session, payment=payment, amount=-dispute.amount)
        return reversed_

    async def reverse_each(self, session, *, payments):
        reversed_ = []
        for payment in payments:
            reversed_ += await self._reverse(session, payment=payment, amount=payment.amount)
        return reversed_
"""


def _findings() -> dict[str, Finding]:
    found = analyze([parse_module("app/reversals.py", SOURCE)], select=["DBA102"]).findings
    return {f.function.rsplit(".", 1)[-1]: f for f in found}


def test_one_key_in_a_literal_is_that_key() -> None:
    fix = _findings()["transfer_all"].fix
    assert fix is not None
    assert "keys = [grant.benefit_id for grant in grants]" in fix.code
    assert "{grant.benefit_id}" not in fix.code
    assert "LicenseKey.benefit_id.in_(keys)" in fix.code


def test_a_collection_of_keys_per_item_gets_no_code() -> None:
    fix = _findings()["transfer_many"].fix
    assert fix is not None and fix.code == ""


def test_a_value_used_after_the_query_does_not_make_it_another_query() -> None:
    finding = _findings()["reverse_all"]
    assert "runs the same query on Balance (key `payment.id`)" in finding.message
    assert finding.fix is not None and finding.fix.code == ""
    assert "run that query once before the loop and pass its result in" in finding.fix.summary


def test_a_key_that_changes_with_the_item_is_batched() -> None:
    fix = _findings()["reverse_each"].fix
    assert fix is not None
    assert "Balance.payment_id.in_(keys)" in fix.code
