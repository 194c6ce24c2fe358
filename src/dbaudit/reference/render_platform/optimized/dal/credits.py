from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import SubscriptionPlan, UserCredits, UserSubscription


class CreditsDAL:
    @staticmethod
    async def get_for_user(session: AsyncSession, user_id: int) -> UserCredits | None:
        query = select(UserCredits).where(UserCredits.user_id == user_id)
        return (await session.scalars(query)).one_or_none()

    @staticmethod
    async def with_active_subscription(
        session: AsyncSession, user_id: int
    ) -> tuple[UserCredits, UserSubscription | None, SubscriptionPlan | None] | None:
        """Credits, the latest active subscription and its plan, in one query."""
        latest_active = (
            select(UserSubscription.id)
            .where(
                UserSubscription.user_id == UserCredits.user_id,
                UserSubscription.status == "active",
            )
            .order_by(UserSubscription.current_period_end.desc(), UserSubscription.id.desc())
            .limit(1)
            .correlate(UserCredits)
            .scalar_subquery()
        )
        query = (
            select(UserCredits, UserSubscription, SubscriptionPlan)
            .outerjoin(UserSubscription, UserSubscription.id == latest_active)
            .outerjoin(SubscriptionPlan, SubscriptionPlan.id == UserSubscription.plan_id)
            .where(UserCredits.user_id == user_id)
        )
        row = (await session.execute(query)).first()
        # Outer joins: the subscription and the plan may be NULL, which the ORM types cannot say.
        return None if row is None else (row[0], row[1], row[2])
