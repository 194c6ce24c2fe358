from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.optimized.dal import CreditsDAL
from dbaudit.reference.render_platform.results import (
    ActiveSubscription,
    CreditsWithReset,
    next_credit_reset,
)
from dbaudit.reference.render_platform.rows import credits_row


async def credits_with_reset(session: AsyncSession, user_id: int) -> CreditsWithReset | None:
    found = await CreditsDAL.with_active_subscription(session, user_id)
    if found is None:
        return None
    credits, sub, plan = found
    subscription = None
    if sub is not None and plan is not None:
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
