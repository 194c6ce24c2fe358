"""A pooled engine with every limit explicit, and a health check.

Why each setting: a bounded pool (``pool_size`` + ``max_overflow``) keeps the app under the
server's ``max_connections``; ``pool_timeout`` turns pool exhaustion into a quick error instead
of a hang; ``pool_recycle`` retires connections before proxies and load balancers cut them;
``pool_pre_ping`` replaces a connection that died while idle instead of failing a request; the
server-side ``statement_timeout`` stops a runaway query from holding a connection forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dbaudit.db import sqlalchemy_url
from dbaudit.reference.render_platform.results import DatabaseHealth


@dataclass(frozen=True, slots=True)
class EngineSettings:
    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_s: float = 10.0
    pool_recycle_s: int = 1800
    pool_pre_ping: bool = True
    statement_timeout_ms: int = 5000
    application_name: str = "render_platform"


DEFAULT_ENGINE_SETTINGS = EngineSettings()


def create_engine(url: str, settings: EngineSettings = DEFAULT_ENGINE_SETTINGS) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url, "asyncpg"),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_recycle=settings.pool_recycle_s,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args={
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": settings.application_name,
            }
        },
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")[:300]


async def check_database_health(engine: AsyncEngine) -> DatabaseHealth:
    """One ``SELECT 1`` through the pool: status, round-trip latency, or the error in one line."""
    started = time.perf_counter()
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure is an answer here, never a crash
        return DatabaseHealth(status="unhealthy", latency_ms=None, error=_one_line(error))
    latency_ms = (time.perf_counter() - started) * 1000
    return DatabaseHealth(status="healthy", latency_ms=round(latency_ms, 3), error=None)
