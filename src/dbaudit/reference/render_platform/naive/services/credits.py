from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.naive.dal import CreditsDAL, SubscriptionsDAL
from dbaudit.reference.render_platform.results import (
    ActiveSubscription,
    CreditsWithReset,
    next_credit_reset,
)
from dbaudit.reference.render_platform.rows import credits_row


async def credits_with_reset(session: AsyncSession, user_id: int) -> CreditsWithReset | None:
    credits = await CreditsDAL.get_for_user(session, user_id)
    if credits is None:
        return None
    found = await SubscriptionsDAL.active_for_user(session, user_id)
    subscription = None
    if found is not None:
        sub, plan = found
        subscription = ActiveSubscription(
            subscription_id=sub.id,
            status=sub.status,
            current_period_end=sub.current_period_end,
            plan_id=plan.id,
            plan_name=plan.name,
            credits_per_month=plan.credits_per_month,
            price_cents=plan.price_cents,
        )
    row = credits_row(credits)
    return CreditsWithReset(
        credits=row, subscription=subscription, next_reset_at=next_credit_reset(row, subscription)
    )
