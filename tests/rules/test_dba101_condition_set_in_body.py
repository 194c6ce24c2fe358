"""DBA101's batched fix never writes into the one query before the loop a condition that
reads a name the loop body sets per item (polar's backfill: ``BenefitGrant.member_id ==
target_member_id``, ``target_member_id`` worked out for each grant): the fix would pick other
rows. A condition on a name set before the loop is the same for every item and stays."""

from __future__ import annotations

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module

SOURCE = """
from sqlalchemy import select

from app.models import Grant, Seat


def link(session, grants, owners):
    for grant in grants:
        target_member_id = owners.get(grant.customer_id)
        if target_member_id is None:
            target_member_id = grant.fallback_member_id
        existing = session.scalar(
            select(Grant.id).where(
                Grant.subscription_id == grant.subscription_id,
                Grant.member_id == target_member_id,
            )
        )
        if existing is None:
            grant.member_id = target_member_id


def seats(session, grants, organization_id):
    status = "active"
    found = []
    for grant in grants:
        found.append(
            session.scalar(
                select(Seat.member_id).where(
                    Seat.subscription_id == grant.subscription_id,
                    Seat.organization_id == organization_id,
                    Seat.status == status,
                )
            )
        )
    return found
"""


def _findings() -> dict[str, Finding]:
    found = analyze([parse_module("app/backfill.py", SOURCE)], select=["DBA101"]).findings
    return {f.function: f for f in found}


def test_a_condition_on_a_name_the_body_sets_gets_no_code() -> None:
    fix = _findings()["link"].fix
    assert fix is not None
    assert fix.code == ""
    assert "`target_member_id`, which the loop body sets" in fix.summary


def test_conditions_on_names_set_before_the_loop_stay_in_the_one_query() -> None:
    fix = _findings()["seats"].fix
    assert fix is not None
    assert "Seat.subscription_id.in_(" in fix.code
    assert "Seat.organization_id == organization_id" in fix.code
    assert "Seat.status == status" in fix.code
