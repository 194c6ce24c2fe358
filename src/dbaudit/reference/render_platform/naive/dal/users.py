from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dbaudit.reference.render_platform.schema import User


class UsersDAL:
    @staticmethod
    async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
        return await session.get(User, user_id)
