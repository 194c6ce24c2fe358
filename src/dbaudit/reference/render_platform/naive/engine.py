"""The engine as most apps first write it: library defaults, no timeouts, no health check."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dbaudit.db import sqlalchemy_url


def create_engine(url: str) -> AsyncEngine:
    return create_async_engine(sqlalchemy_url(url, "asyncpg"))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
