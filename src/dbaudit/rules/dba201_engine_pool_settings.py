"""DBA201: engine or pool created without explicit limits and health checks.

## What it does
Finds ``create_engine``/``create_async_engine``, asyncpg ``create_pool`` and psycopg
``ConnectionPool``/``AsyncConnectionPool`` calls that leave any of these to the library's
default: the pool size, the checkout timeout, connection recycling, a liveness check
(``pool_pre_ping``), and a per-statement timeout (``statement_timeout`` through
``connect_args``/``server_settings``/``options``, or asyncpg ``command_timeout``).

Reported only for an engine or pool that lives as long as the process serving requests: one
created at module level and used by the module's functions or imported elsewhere, one returned
by a factory (``def get_engine(): return create_engine(...)``), or one kept in a global, on an
app object (``app.state.engine``) or on an instance that lives at module level.

Not reported: SQLite URLs, ``poolclass=NullPool``/``StaticPool`` (no pool to size), calls that
pass ``**settings`` (what they set cannot be known statically), node-postgres ``new Client()``
(one connection, not a pool), and short-lived engines, whose pool never matters: one created
and dropped inside a function (a health check, a backup, a migration step), one disposed where
it is created (``engine.dispose()``, ``await pool.end()``), one a script uses while its
top-level code runs (``ping.py``, a module that calls ``sys.exit``), and one held by an
instance of a class that no module-level object or long-lived class holds.

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
from dbaudit.model import EngineCreation, Function, ModuleModel
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
# single connections, not pools: nothing to size or recycle
_NOT_A_POOL = re.compile(r"(^|\.)Client$")
# closing an engine or a pool: ``engine.dispose()``, ``await pool.close()``, ``sql.end()``
_DISPOSE = frozenset({"dispose", "close", "end", "terminate", "$disconnect", "destroy"})
# top-level code that ends or parses the command line: the module is a script
_SCRIPT_CALL = re.compile(r"^(sys\.|os\.)?(exit|_exit|quit)$|(^|\.)parse_args$")


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


def short_lived(program: Program, module: ModuleModel, engine: EngineCreation) -> str:
    """Why the engine lives only for one call or one script run ("" when it is kept for the
    life of the process, or when that cannot be told)."""
    ref = program.graph.functions.get(f"{module.path}::{engine.function or '<module>'}")
    fn = ref.function if ref is not None else None
    targets = set(engine.targets)
    names = {t for t in targets if not t.startswith("<")}
    kept = _kept_in(fn, names) if fn is not None else names
    if fn is not None and _disposes(fn, kept):
        return "disposed where it is created"
    if "<return>" in targets or "<global>" in targets:
        return ""  # a factory's or a global's engine: kept by the caller
    if fn is not None and kept & _returned(fn):
        return ""
    attributes = {t for t in kept if "." in t}
    if attributes:
        return _held_briefly(program, module, fn, attributes)
    if engine.function:
        return "created and dropped inside one function"
    if fn is not None and any(_SCRIPT_CALL.search(call.callee) for call in fn.calls):
        return "created by a script (its top-level code exits or parses arguments)"
    if _used_after_import(program, module, kept):
        return ""
    return "used only while the module's top-level code runs (a script)"


def _kept_in(fn: Function, names: set[str]) -> set[str]:
    """``names`` and what is built from them (``Session = sessionmaker(bind=engine)``,
    ``self.sessions = ...``); a ``with engine.begin() as conn`` target ends with its block."""
    kept = set(names)
    for assign in fn.assigns:
        if assign.kind != "with-target" and assign.reads & kept:
            kept.update(assign.targets)
    return kept


def _returned(fn: Function) -> set[str]:
    """Names whose value the function returns (a connection of ``with engine.begin()`` used
    in the returned expression does not return the engine)."""
    names = set(fn.returns_reads)
    for assign in reversed(fn.assigns):
        if assign.kind != "with-target" and set(assign.targets) & names:
            names |= assign.reads
    return names


def _disposes(fn: Function, names: set[str]) -> bool:
    for call in fn.calls:
        owner, _, method = call.callee.rpartition(".")
        if method in _DISPOSE and owner in names:
            return True
    return False


def _held_briefly(
    program: Program, module: ModuleModel, fn: Function | None, attributes: set[str]
) -> str:
    """``self.engine = create_engine(...)``: as long-lived as the instance that holds it."""
    if fn is None or not fn.class_name or any(not a.startswith("self.") for a in attributes):
        return ""  # ``app.state.engine = ...``: an app object's engine
    owned = {a.split(".", 1)[1] for a in attributes}
    held = {f"self.{name}" for name in owned}
    for other in program.functions:
        same_class = other.module is module and other.function.class_name == fn.class_name
        if same_class and _disposes(other.function, held):
            return "disposed by the class that holds it"
    if _long_lived_class(program, fn.class_name, depth=0):
        return ""
    return f"held by `{fn.class_name}` objects, which no module-level object keeps"


def _long_lived_class(program: Program, class_name: str, depth: int) -> bool:
    """An instance of the class is a module-level object, or held by one (through the types of
    other classes' attributes). Instances made inside functions are not followed: the model
    does not keep them, so such a class counts as short-lived."""
    if depth > 4:
        return True
    for module in program.modules:
        if any(kind == class_name for _, kind in module.global_types):
            return True
        for info in module.classes:
            if info.name == class_name:
                continue
            holds = any(kind == class_name for _, kind in info.attribute_types)
            if holds and _long_lived_class(program, info.name, depth + 1):
                return True
    return False


def _used_after_import(program: Program, module: ModuleModel, names: set[str]) -> bool:
    """A module-level engine read by the module's functions, or a module others import."""
    plain = {n for n in names if "." not in n}
    for fn in module.functions:
        if fn.qualname != "<module>" and any(n in plain for n, _ in fn.name_loads):
            return True
    own = _dotted_module(module.path)
    for other in program.modules:
        if other is module:
            continue
        for imported in other.imports:
            base = imported.module.lstrip(".")
            for key in (base, f"{base}.{imported.name}" if imported.name else base):
                if key and (_ends_with(own, key) or _ends_with(key, own)):
                    return True
    return False


def _dotted_module(path: str) -> str:
    """``app/db.py`` -> ``app.db``; ``lib/db/index.ts`` and ``app/db/__init__.py`` -> the folder."""
    stem = path.replace("\\", "/").rsplit(".", 1)[0]
    for package_file in ("/__init__", "/index"):
        if stem.endswith(package_file):
            stem = stem[: -len(package_file)]
    return stem.strip("/").replace("/", ".")


def _ends_with(dotted: str, suffix: str) -> bool:
    return dotted == suffix or dotted.endswith("." + suffix)


def check(program: Program) -> Iterator[Finding]:
    for module in program.modules:
        for engine in module.engines:
            if engine.has_kwargs_splat or "sqlite" in (engine.url + engine.text).lower():
                continue
            if engine.library not in _SETTINGS or _NOT_A_POOL.search(engine.api):
                continue  # a library whose settings this rule does not know: no guess
            if _NO_POOL.search(dict(engine.settings).get("poolclass", "")):
                continue
            if short_lived(program, module, engine):
                continue  # its pool never serves a long-running process
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
