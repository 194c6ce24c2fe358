from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import SubscriptionPlan, UserCredits, UserSubscription


class CreditsDAL:
    @staticmethod
    async def get_for_user(session: AsyncSession, user_id: int) -> UserCredits | None:
        query = select(UserCredits).where(UserCredits.user_id == user_id)
        return (await session.scalars(query)).one_or_none()


class SubscriptionsDAL:
    @staticmethod
    async def active_for_user(
        session: AsyncSession, user_id: int
    ) -> tuple[UserSubscription, SubscriptionPlan] | None:
        query = (
            select(UserSubscription, SubscriptionPlan)
            .join(SubscriptionPlan, SubscriptionPlan.id == UserSubscription.plan_id)
            .where(UserSubscription.user_id == user_id, UserSubscription.status == "active")
            .order_by(UserSubscription.current_period_end.desc(), UserSubscription.id.desc())
            .limit(1)
        )
        row = (await session.execute(query)).first()
        return None if row is None else (row[0], row[1])
