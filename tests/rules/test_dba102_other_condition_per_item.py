"""DBA102 writes no batched code when a condition of the helper's query besides its key reads
a value that changes with the item (polar's ``_transfer_benefit_records``: ``customer_id ==
old_customer_id``, ``old_customer_id`` worked out for each grant): the one IN query cannot say
it. A condition on a value the same for every item keeps the code."""

from __future__ import annotations

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = """
from sqlalchemy import select

from app.models import LicenseKey


async def keys_of(session, customer_id, benefit_id):
    result = await session.execute(
        select(LicenseKey).where(
            LicenseKey.customer_id == customer_id,
            LicenseKey.benefit_id == benefit_id,
        )
    )
    return result.scalars().all()


async def transfer(session, grants):
    for grant in grants:
        old_customer_id = grant.previous_customer_id or grant.customer_id
        await keys_of(session, old_customer_id, grant.benefit_id)


async def for_customer(session, grants, customer_id):
    for grant in grants:
        await keys_of(session, customer_id, grant.benefit_id)
"""


def _findings() -> dict[str, Finding]:
    found = analyze([parse_module("app/keys.py", SOURCE)], select=["DBA102"]).findings
    return {f.function: f for f in found}


def test_a_condition_on_a_value_per_item_gives_no_code() -> None:
    fix = _findings()["transfer"].fix
    assert fix is not None and fix.code == ""


def test_a_condition_on_a_value_for_every_item_keeps_the_code() -> None:
    fix = _findings()["for_customer"].fix
    assert fix is not None
    assert "LicenseKey.benefit_id.in_(keys)" in fix.code
