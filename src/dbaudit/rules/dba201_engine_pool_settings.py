"""DBA201: engine or pool created without explicit limits and health checks.

## What it does
Finds ``create_engine``/``create_async_engine``, asyncpg ``create_pool`` and psycopg
``ConnectionPool``/``AsyncConnectionPool`` calls that leave any of these to the library's
default: the pool size, the checkout timeout, connection recycling, a liveness check
(``pool_pre_ping``), and a per-statement timeout (``statement_timeout`` through
``connect_args``/``server_settings``/``options``, or asyncpg ``command_timeout``).

Not reported: SQLite URLs, ``poolclass=NullPool``/``StaticPool`` (no pool to size), and calls
that pass ``**settings`` (what they set cannot be known statically).

## Why is this bad?
Defaults fail in production, not in development: an unbounded or too-small pool either
exhausts ``max_connections`` or queues requests; without a checkout timeout a request hangs
instead of failing fast; connections cut by a proxy or a failover are handed out dead without
pre-ping; and without a statement timeout one runaway query holds a connection forever.

## Example
```python
engine = create_async_engine(url)
```

## Use instead
```python
engine = create_async_engine(
    url,
    pool_size=10,
    max_overflow=10,
    pool_timeout=10,
    pool_recycle=1800,
    pool_pre_ping=True,
    connect_args={"server_settings": {"statement_timeout": "5000"}},
)
```

## References
- SQLAlchemy connection pooling: https://docs.sqlalchemy.org/en/20/core/pooling.html
- PostgreSQL ``statement_timeout``: https://www.postgresql.org/docs/current/runtime-config-client.html
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dbaudit.analysis.program import Program
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import EngineCreation
from dbaudit.rules import _typescript as ts

CODE = "DBA201"
NAME = "engine-pool-settings"
CATEGORY = "connections"

# setting -> keywords that set it, per library
_SETTINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "sqlalchemy": {
        "pool size": ("pool_size",),
        "checkout timeout": ("pool_timeout",),
        "recycle": ("pool_recycle",),
        "pre-ping": ("pool_pre_ping",),
    },
    "asyncpg": {
        "pool size": ("max_size",),
        "checkout timeout": ("timeout",),
        "recycle": ("max_inactive_connection_lifetime", "max_queries"),
    },
    # node-postgres ``new Pool({...})`` and friends (TypeScript frontend)
    "pg": {
        "pool size": ("max",),
        "checkout timeout": ("connectionTimeoutMillis",),
        "recycle": ("idleTimeoutMillis", "maxLifetimeSeconds", "maxUses"),
    },
    "postgres": {
        "pool size": ("max",),
        "checkout timeout": ("connect_timeout",),
        "recycle": ("idle_timeout", "max_lifetime"),
    },
    "knex": {
        "pool size": ("pool",),
        "checkout timeout": ("acquireConnectionTimeout",),
    },
    "psycopg": {
        "pool size": ("max_size",),
        "checkout timeout": ("timeout",),
        "recycle": ("max_lifetime", "max_idle"),
        "pre-ping": ("check",),
    },
}
_STATEMENT_TIMEOUT = re.compile(
    r"statement_timeout|command_timeout|lock_timeout|query_timeout|statementTimeout|queryTimeout"
)
_NO_POOL = re.compile(r"NullPool|StaticPool|SingletonThreadPool|AssertionPool")


def missing_settings(engine: EngineCreation) -> list[str]:
    keywords = set(engine.keywords)
    missing = [
        setting
        for setting, names in _SETTINGS.get(engine.library, {}).items()
        if not keywords & set(names)
    ]
    settings_text = " ".join(v for _, v in engine.settings) + " " + engine.text
    if not _STATEMENT_TIMEOUT.search(settings_text) and "command_timeout" not in keywords:
        missing.append("statement timeout")
    return missing


def _fix_code(engine: EngineCreation) -> str:
    url = engine.url or "url"
    if engine.library == "asyncpg":
        return (
            f"pool = await {engine.api}(\n    {url},\n    min_size=2,\n    max_size=10,\n"
            "    timeout=10,  # connect timeout\n    command_timeout=5,  # per statement\n"
            "    max_inactive_connection_lifetime=300,\n)"
        )
    if engine.library in {"pg", "postgres", "knex"}:
        return (
            f"{engine.text.split('(')[0]}({{\n  connectionString: {url},\n  max: 10,\n"
            "  connectionTimeoutMillis: 10_000,\n  idleTimeoutMillis: 30_000,\n"
            "  statement_timeout: 5_000,\n})"
        )
    if engine.library == "psycopg":
        return (
            f"pool = {engine.api}(\n    {url},\n    min_size=2,\n    max_size=10,\n"
            "    timeout=10,\n    max_lifetime=1800,\n    check=ConnectionPool.check_connection,\n"
            '    kwargs={"options": "-c statement_timeout=5000"},\n)'
        )
    server_settings = (
        '{"server_settings": {"statement_timeout": "5000"}}'
        if "async" in engine.api
        else '{"options": "-c statement_timeout=5000"}'
    )
    return (
        f"engine = {engine.api}(\n    {url},\n    pool_size=10,\n    max_overflow=10,\n"
        "    pool_timeout=10,\n    pool_recycle=1800,\n    pool_pre_ping=True,\n"
        f"    connect_args={server_settings},\n)"
    )


def check(program: Program) -> Iterator[Finding]:
    for module in program.modules:
        for engine in module.engines:
            if engine.has_kwargs_splat or "sqlite" in (engine.url + engine.text).lower():
                continue
            if engine.library not in _SETTINGS:
                continue  # a library whose settings this rule does not know: no guess
            if _NO_POOL.search(dict(engine.settings).get("poolclass", "")):
                continue
            missing = missing_settings(engine)
            if not missing:
                continue
            ref = None
            if engine.function:
                ref = program.graph.functions.get(f"{module.path}::{engine.function}")
            severity = Severity.MEDIUM if len(missing) >= 3 else Severity.LOW
            message = f"`{engine.api}` leaves {', '.join(missing)} to library defaults"
            fix = Fix(
                "Set every pool limit explicitly and a server-side statement timeout.",
                _fix_code(engine),
                ts.module_language(module),
            )
            problem = (
                "Library defaults are tuned for nothing in particular: without a checkout "
                "timeout requests hang when the pool is exhausted, without recycle/pre-ping "
                "dead connections are handed out after a failover or a proxy timeout, and "
                "without a statement timeout one runaway query holds a connection forever."
            )
            if ref is not None:
                yield program.finding(
                    rule=CODE,
                    severity=severity,
                    message=message,
                    ref=ref,
                    span=engine.span,
                    query_cost="",
                    fixed_query_cost="",
                    fix=fix,
                    problem=problem,
                    confidence="high",
                )
            else:
                yield Finding(
                    rule=CODE,
                    severity=severity,
                    message=message,
                    path=module.path,
                    line=engine.span.line,
                    end_line=engine.span.end_line,
                    function="",
                    col=engine.span.col,
                    fix=fix,
                    confidence="high",
                    code=engine.text,
                    problem=problem,
                )
