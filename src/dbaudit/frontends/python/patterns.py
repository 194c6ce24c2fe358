"""Which Python calls reach a database: a table of API patterns per library.

Rules never decide what a database call is; this table does. A call ``<receiver>.<method>(...)``
is a database call when the method is listed for the receiver's *role* (a SQLAlchemy session,
a DB-API/asyncpg connection, a cursor, a pool, an engine) and the receiver is known to play
that role: by its inferred type (an annotation, ``Session(...)``, ``pool.acquire()``, ...),
by its name (``session``, ``conn``, ``cur``, ...), or because the statement passed to it is
SQL (``select(...)``, ``text(...)``, a string starting with ``SELECT``). Django querysets are
recognised by their ``<Model>.objects`` root instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dbaudit.model import DbOpKind

Role = str  # "session" | "connection" | "cursor" | "pool" | "engine"


@dataclass(frozen=True, slots=True)
class MethodPattern:
    library: str
    role: Role
    method: str
    kind: DbOpKind
    result_shape: str = "rows"
    batched: bool = False
    single_key: bool = False
    # the call is only a query when its first argument is a statement or SQL (``session.get``
    # and ``conn.execute`` are too common as names to trust the receiver's name alone)
    needs_statement: bool = False
    needs_model_arg: bool = False


def _methods(
    library: str, role: Role, kinds: dict[str, tuple[DbOpKind, str]], **flags: bool
) -> tuple[MethodPattern, ...]:
    return tuple(
        MethodPattern(library, role, method, kind, shape, **flags)
        for method, (kind, shape) in kinds.items()
    )


METHOD_PATTERNS: tuple[MethodPattern, ...] = (
    # SQLAlchemy ORM Session / AsyncSession (1.x and 2.0 style)
    *_methods(
        "sqlalchemy",
        "session",
        {
            "execute": ("raw", "rows"),
            "scalars": ("select", "rows"),
            "scalar": ("select", "scalar"),
            "stream": ("stream", "rows"),
            "stream_scalars": ("stream", "rows"),
            "refresh": ("refresh", "row"),
            "merge": ("select", "row"),
            "flush": ("flush", ""),
            "commit": ("flush", ""),
        },
    ),
    MethodPattern(
        "sqlalchemy", "session", "get", "select", "row", single_key=True, needs_model_arg=True
    ),
    MethodPattern(
        "sqlalchemy", "session", "get_one", "select", "row", single_key=True, needs_model_arg=True
    ),
    MethodPattern("sqlalchemy", "session", "bulk_save_objects", "insert", "", batched=True),
    MethodPattern("sqlalchemy", "session", "bulk_insert_mappings", "insert", "", batched=True),
    MethodPattern("sqlalchemy", "session", "bulk_update_mappings", "update", "", batched=True),
    # SQLAlchemy Connection / AsyncConnection, DB-API and sqlite3/psycopg connections
    *_methods(
        "dbapi",
        "connection",
        {
            "execute": ("raw", "rows"),
            "scalars": ("select", "rows"),
            "scalar": ("select", "scalar"),
            "exec_driver_sql": ("raw", "rows"),
            "commit": ("flush", ""),
        },
    ),
    MethodPattern("dbapi", "connection", "executemany", "raw", "", batched=True),
    MethodPattern("dbapi", "connection", "executescript", "raw", "", batched=True),
    # asyncpg connection and pool (the pool acquires a connection per call)
    *_methods(
        "asyncpg",
        "connection",
        {
            "fetch": ("select", "rows"),
            "fetchrow": ("select", "row"),
            "fetchval": ("select", "scalar"),
            "copy_records_to_table": ("insert", ""),
        },
    ),
    *_methods(
        "asyncpg",
        "pool",
        {
            "fetch": ("select", "rows"),
            "fetchrow": ("select", "row"),
            "fetchval": ("select", "scalar"),
            "execute": ("raw", ""),
        },
    ),
    MethodPattern("asyncpg", "pool", "executemany", "raw", "", batched=True),
    # DB-API cursors (psycopg, psycopg2, sqlite3, pymysql, ...)
    MethodPattern("dbapi", "cursor", "execute", "raw", "rows"),
    MethodPattern("dbapi", "cursor", "executemany", "raw", "", batched=True),
    MethodPattern("dbapi", "cursor", "callproc", "raw", "rows"),
    MethodPattern("dbapi", "cursor", "copy_expert", "raw", "", batched=True),
    # SQLAlchemy 1.x Engine.execute
    MethodPattern("sqlalchemy", "engine", "execute", "raw", "rows", needs_statement=True),
)

PATTERNS_BY_METHOD: dict[str, tuple[MethodPattern, ...]] = {}
for _p in METHOD_PATTERNS:
    PATTERNS_BY_METHOD[_p.method] = (*PATTERNS_BY_METHOD.get(_p.method, ()), _p)

# Methods that look like queries when their first argument is SQL text, whatever the receiver.
SQL_ARGUMENT_METHODS = frozenset(
    {"execute", "executemany", "fetch", "fetchrow", "fetchval", "exec_driver_sql"}
)

# The receiver's last name segment (leading underscores stripped) -> role.
RECEIVER_NAME_ROLES: tuple[tuple[re.Pattern[str], Role], ...] = (
    (re.compile(r"^(?:\w+_)?(?:session|sess|db_session|dbsession|db|database)$", re.I), "session"),
    (re.compile(r"^(?:\w+_)?(?:conn|connection|con|cnx|cx|tx|transaction)$", re.I), "connection"),
    (re.compile(r"^(?:\w+_)?(?:cur|cursor|curs)$", re.I), "cursor"),
    (re.compile(r"^(?:\w+_)?pool$", re.I), "pool"),
    (re.compile(r"^(?:\w+_)?engine$", re.I), "engine"),
)

# Annotations (last dotted segment) -> role.
ANNOTATION_ROLES: dict[str, Role] = {
    "AsyncSession": "session",
    "Session": "session",
    "scoped_session": "session",
    "async_scoped_session": "session",
    "Connection": "connection",
    "AsyncConnection": "connection",
    "PoolConnectionProxy": "connection",
    "Pool": "pool",
    "AsyncConnectionPool": "pool",
    "ConnectionPool": "pool",
    "Cursor": "cursor",
    "AsyncCursor": "cursor",
    "Engine": "engine",
    "AsyncEngine": "engine",
}

# ``x = <call>`` / ``with <call> as x``: the last segment of the called name -> role of x.
CONSTRUCTOR_ROLES: dict[str, Role] = {
    "Session": "session",
    "AsyncSession": "session",
    "session_factory": "session",
    "async_session": "session",
    "async_session_maker": "session",
    "SessionLocal": "session",
    "get_session": "session",
    "begin_nested": "session",
    "acquire": "connection",
    "connect": "connection",
    "begin": "connection",
    "raw_connection": "connection",
    "cursor": "cursor",
    "create_pool": "pool",
    "ConnectionPool": "pool",
    "AsyncConnectionPool": "pool",
    "create_engine": "engine",
    "create_async_engine": "engine",
}

# SQLAlchemy statement constructors (last segment of the called name) -> kind.
SA_STATEMENTS: dict[str, DbOpKind] = {
    "select": "select",
    "insert": "insert",
    "update": "update",
    "delete": "delete",
    "text": "raw",
    "union": "select",
    "union_all": "select",
    "exists": "select",
    # schema changes: per-table loops over these are migrations, not N+1s
    "CreateTable": "ddl",
    "CreateIndex": "ddl",
    "DropTable": "ddl",
    "DropIndex": "ddl",
    "CreateSchema": "ddl",
    "DropSchema": "ddl",
    "AddConstraint": "ddl",
    "DropConstraint": "ddl",
    "CreateSequence": "ddl",
    "DDL": "ddl",
}

# SQLAlchemy 1.x ``session.query(...)`` terminal methods -> (kind, result shape).
SA_QUERY_TERMINALS: dict[str, tuple[DbOpKind, str]] = {
    "all": ("select", "rows"),
    "first": ("select", "row"),
    "one": ("select", "row"),
    "one_or_none": ("select", "row"),
    "scalar": ("select", "scalar"),
    "get": ("select", "row"),
    "count": ("count", "count"),
    "delete": ("delete", ""),
    "update": ("update", ""),
    "exists": ("count", "scalar"),
    # Flask-SQLAlchemy
    "first_or_404": ("select", "row"),
    "get_or_404": ("select", "row"),
    "one_or_404": ("select", "row"),
    "paginate": ("select", "rows"),
}

# Django queryset methods -> (kind, result shape). Lazy ones evaluate when iterated.
DJANGO_TERMINALS: dict[str, tuple[DbOpKind, str]] = {
    "get": ("select", "row"),
    "first": ("select", "row"),
    "last": ("select", "row"),
    "earliest": ("select", "row"),
    "latest": ("select", "row"),
    "count": ("count", "count"),
    "exists": ("count", "scalar"),
    "aggregate": ("select", "scalar"),
    "create": ("insert", "row"),
    "get_or_create": ("insert", "row"),
    "update_or_create": ("insert", "row"),
    "update": ("update", ""),
    "delete": ("delete", ""),
    "bulk_create": ("insert", ""),
    "bulk_update": ("update", ""),
    "in_bulk": ("select", "rows"),
    "values": ("select", "queryset"),
    "values_list": ("select", "queryset"),
    "iterator": ("select", "rows"),
    "aget": ("select", "row"),
    "afirst": ("select", "row"),
    "alast": ("select", "row"),
    "acount": ("count", "count"),
    "aexists": ("count", "scalar"),
    "acreate": ("insert", "row"),
    "aupdate": ("update", ""),
    "adelete": ("delete", ""),
    "abulk_create": ("insert", ""),
    "aaggregate": ("select", "scalar"),
}
# A custom manager method (``LogEntry.objects.log_create(...)``, ``User.objects.create_user``)
# whose name says it writes: the verb as a word of its snake_case name.
_CUSTOM_WRITE: tuple[tuple[DbOpKind, re.Pattern[str]], ...] = (
    ("delete", re.compile(r"(?:^|_)(?:delete|remove|purge)(?:_|$)")),
    ("update", re.compile(r"(?:^|_)(?:update|set|save|increment|decrement)(?:_|$)")),
    ("insert", re.compile(r"(?:^|_)(?:create|insert|add|log)(?:_|$)")),
)


def django_terminal(name: str, before: Iterable[str] = ()) -> tuple[DbOpKind, str]:
    """(kind, result shape) of a Django manager or queryset method: a known one from
    DJANGO_TERMINALS; a custom one that names a write (``log_create``) that write; any other
    a lazy queryset (``for_user(...)``), run where it is evaluated. ``before``: the chain's
    earlier methods; past one that returns rows (``.get(pk=...).add_nested_tags(...)``) a
    method is the model instance's own, not the manager's: the chain stays that read."""
    known = DJANGO_TERMINALS.get(name)
    if known is not None:
        return known
    if not any(b in DJANGO_TERMINALS for b in before):
        for kind, verb in _CUSTOM_WRITE:
            if verb.search(name):
                return kind, ""
    return "select", "queryset"


# Manager/queryset methods that never run a query (an empty queryset, a cached lookup)
DJANGO_NO_QUERY = frozenset({"none", "get_for_model", "get_for_models", "get_for_id", "using"})
DJANGO_BATCHED = frozenset({"bulk_create", "bulk_update", "in_bulk", "abulk_create"})
DJANGO_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager", "all_objects"})
DJANGO_EAGER = frozenset({"select_related", "prefetch_related"})
SA_EAGER = frozenset(
    {"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager"}
)

# Calls whose work happens elsewhere (a task queue, a scheduled task): never a query here.
DEFERRED_METHODS = frozenset(
    {"delay", "apply_async", "send_task", "enqueue", "add_task", "s", "si", "signature"}
)
CONCURRENT_APIS = frozenset({"gather", "create_task", "as_completed", "wait", "start_soon"})

# Iterables that are batches of keys: ``for chunk in chunked(ids, 500)``.
CHUNK_FUNCTIONS = re.compile(
    r"(?:^|[._])(chunk|chunks|chunked|batch|batches|batched|grouper|"
    r"partition|paginate|pages|windowed|split_every|slices)$",
    re.I,
)

# Engine / pool creation and the settings DBA201 wants spelled out; only calls into these
# libraries count (a project's own ``create_async_engine`` wrapper is not one).
ENGINE_MODULES = frozenset({"sqlalchemy", "asyncpg", "psycopg_pool", "psycopg", "sqlmodel", "sa"})
ENGINE_APIS: dict[str, str] = {
    "create_engine": "sqlalchemy",
    "create_async_engine": "sqlalchemy",
    "create_pool": "asyncpg",
    "ConnectionPool": "psycopg",
    "AsyncConnectionPool": "psycopg",
}

# Tokens whose absence proves a file cannot reach a database by itself or through helpers
# we could resolve (see ``might_touch_database``).
PRECHECK = re.compile(
    r"sqlalchemy|asyncpg|psycopg|sqlite3|pymysql|MySQLdb|aiosqlite|peewee|tortoise|sqlmodel"
    r"|django\.db|\bmodels\b|\.objects\b|QuerySet|get_object_or_404|_related\("
    r"|\.execute\(|\.executemany\(|\.fetch|cursor|session|Session|\.query\("
    r"|\bawait\b|relationship\(|[a-z]DAL\b|\bDAL\b|_dal\b|Repository|repository|\bdao\b|DAO\b"
    r"|\bcrud\b|\brepo\b"
)

# The same test, fast: ``PRECHECK.search`` tries its ~35 alternatives at every position of the
# text (4.5 s CPU on a 1.9M-line tree, most of it on files that match nothing); a substring test
# per token runs at memchr speed. A token that needs a word boundary is checked with its own
# small pattern only when its letters occur. ``any`` over these equals ``PRECHECK.search``.
PRECHECK_LITERALS = (
    "session",
    "sqlalchemy",
    "Session",
    "cursor",
    ".execute(",
    ".fetch",
    ".query(",
    "django.db",
    "asyncpg",
    "psycopg",
    "sqlite3",
    "pymysql",
    "MySQLdb",
    "aiosqlite",
    "peewee",
    "tortoise",
    "sqlmodel",
    "QuerySet",
    "get_object_or_404",
    "_related(",
    ".executemany(",
    "relationship(",
    "Repository",
    "repository",
)
PRECHECK_BOUNDED = (
    ("await", re.compile(r"\bawait\b")),
    ("models", re.compile(r"\bmodels\b")),
    (".objects", re.compile(r"\.objects\b")),
    ("DAL", re.compile(r"[a-z]DAL\b|\bDAL\b")),
    ("_dal", re.compile(r"_dal\b")),
    ("dao", re.compile(r"\bdao\b")),
    ("DAO", re.compile(r"DAO\b")),
    ("crud", re.compile(r"\bcrud\b")),
    ("repo", re.compile(r"\brepo\b")),
)
