"""A pooled engine with every limit explicit, and a health check.

Why each setting:

- a bounded pool (``pool_size`` + ``max_overflow``) keeps the app under the server's
  ``max_connections``; ``pool_timeout`` turns pool exhaustion into a quick error, not a hang;
- ``pool_recycle`` retires connections before proxies and load balancers cut them;
- LIFO checkout reuses the most recently used connection, whose prepared statements are already
  cached, and leaves surplus connections idle so that recycling can retire them;
- pre-ping replaces a connection that died while idle instead of failing a request. SQLAlchemy's
  ``pool_pre_ping`` pings on *every* checkout, which with asyncpg outside autocommit is three
  round trips (BEGIN, ``;``, ROLLBACK). Here a connection is pinged only when it has been idle
  longer than ``ping_after_idle_s`` (HikariCP's ``aliveBypassWindowMs`` does the same): a
  connection used a moment ago is alive, and the ping would double a one-query request;
- ``AUTOCOMMIT``: under READ COMMITTED every statement takes its own snapshot anyway, so
  wrapping reads in BEGIN ... ROLLBACK buys no consistency and costs two round trips; every
  write of this app is a single statement, which PostgreSQL runs atomically on its own. Code
  that needs several statements in one transaction must ask for it explicitly
  (``execution_options(isolation_level="READ COMMITTED")`` and ``begin()``);
- the server-side ``statement_timeout`` stops a runaway query from holding a connection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dbaudit.db import sqlalchemy_url
from dbaudit.reference.render_platform.results import DatabaseHealth

_LAST_USED = "render_platform_last_used"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_s: float = 10.0
    pool_recycle_s: int = 1800
    pre_ping: bool = True
    # 0 pings on every checkout (SQLAlchemy's own pool_pre_ping).
    ping_after_idle_s: float = 1.0
    statement_timeout_ms: int = 5000
    isolation_level: str = "AUTOCOMMIT"
    application_name: str = "render_platform"

    def __post_init__(self) -> None:
        if self.ping_after_idle_s < 0:
            raise ValueError(
                f"ping_after_idle_s must be zero or more, not {self.ping_after_idle_s}"
            )


DEFAULT_ENGINE_SETTINGS = EngineSettings()


def create_engine(url: str, settings: EngineSettings = DEFAULT_ENGINE_SETTINGS) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(url, "asyncpg"),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_recycle=settings.pool_recycle_s,
        pool_use_lifo=True,
        pool_pre_ping=settings.pre_ping and settings.ping_after_idle_s == 0,
        isolation_level=settings.isolation_level,
        connect_args={
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": settings.application_name,
            }
        },
    )
    if settings.pre_ping and settings.ping_after_idle_s > 0:
        ping_when_idle(engine.sync_engine, settings.ping_after_idle_s)
    return engine


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only if it was last used more than ``idle_s`` ago.

    A failed ping raises ``DisconnectionError``, on which the pool discards the connection and
    checks out (or opens) another: SQLAlchemy's documented custom pessimistic disconnect handling.
    """

    def remember_use(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get(_LAST_USED)
        if last_used is not None and time.monotonic() - last_used < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"pooled connection failed its ping: {error}") from error

    event.listen(engine, "connect", remember_use)
    event.listen(engine, "checkin", remember_use)
    event.listen(engine, "checkout", ping_if_idle)


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
