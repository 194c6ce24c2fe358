"""The missing-index check of a profiled unit: each distinct SELECT, and each UPDATE and DELETE
with a WHERE, planned with sequential scans switched off, so a table still read by a ``Seq Scan``
with a ``Filter`` has no index that can serve that filter, however few rows the test database
holds (DBA401). An UPDATE or DELETE finds its rows as a SELECT does: ``DELETE FROM item WHERE
owner_id = $1`` reads all of ``item`` when no index leads with ``owner_id``.

A test database is small: a query that reads a whole table is as fast there as one that uses an
index, so timing never shows the problem. The planner does: with ``enable_seqscan = off`` a
sequential scan costs 10^10 more, and the planner still picks one only when no index applies.

Read-only by construction (STYLE.md rule 9): every statement is planned on a connection of its
own (never the application's), in a ``READ ONLY`` transaction that is always rolled back, with
``SET LOCAL`` settings only, plain ``EXPLAIN`` (never ``ANALYZE``: the statement is never run,
an UPDATE or DELETE no more than a SELECT), and a lock timeout, so a table locked by the test's
own open transaction makes the EXPLAIN fail (a note) instead of waiting for ever (planning an
UPDATE or DELETE takes the ROW EXCLUSIVE lock that running it would, until the rollback: it
waits on a test's open transaction that holds the table in SHARE mode or stronger, a CREATE
INDEX say). MariaDB and MySQL refuse to EXPLAIN an UPDATE or DELETE in a ``READ ONLY``
transaction: there the SELECT that finds the same rows is planned instead
(:func:`reading_select`), never the write.

PostgreSQL 16's ``EXPLAIN (GENERIC_PLAN)`` would plan a statement without its parameter values;
before 16 the statement is planned with the values it ran with, so the unit must keep them
(``keep_params=True``; the pytest plugin does so when the check is on).

    targets = find_targets([engine])                       # Engine, AsyncEngine, psycopg, URL
    outcome = check_unit(unit, targets)                    # findings (DBA401) and notes
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from dbaudit.findings import Finding, Fix, RuntimeEvidence, Severity
from dbaudit.indexes.candidates import index_name
from dbaudit.runtime.detect import plural
from dbaudit.runtime.events import QueryEvent
from dbaudit.runtime.explain import CannotExplain, driver_params, explain_statement, read_plan
from dbaudit.schema.model import quote_identifier
from dbaudit.sql.fingerprint import Fingerprint

RULE = "DBA401"
# run before every EXPLAIN, in the transaction that is rolled back after it
SETTINGS = (
    "SET TRANSACTION READ ONLY",
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL lock_timeout = '2s'",
    "SET LOCAL statement_timeout = '10s'",
)
# where an event came from -> the kinds of target that can plan it (same driver, same paramstyle)
SOURCES = {
    "sqlalchemy": ("sqlalchemy", "sqlalchemy-sqlite", "sqlalchemy-mysql"),
    "psycopg": ("psycopg",),
    "sqlite3": ("sqlite3",),
    "pymysql": ("pymysql",),
    "psycopg2": ("psycopg2",),
    "asyncpg": ("asyncpg",),
}
# The writes that are planned: an UPDATE or DELETE finds its rows as a SELECT does, and plain
# EXPLAIN plans it without running it (PostgreSQL, SQLite; MySQL/MariaDB plan the SELECT that
# finds the same rows, see _plan_mysql). Only one with a WHERE: with none it writes every row,
# so reading the table in full is what it asks for and no index could spare that. An INSERT is
# never planned, INSERT ... SELECT neither: it has no filter on the table it writes, and the
# SELECT feeding it is usually a bulk copy (a backfill, an archive) meant to read its source in
# full, so a full read there would be reported as a missing index that nobody should create.
PLANNED_WRITES = frozenset(("update", "delete"))


@dataclass(frozen=True, slots=True)
class SeqScanFilter:
    """One table a plan reads in full to apply a filter."""

    table: str
    columns: tuple[str, ...]  # the columns the filter reads, in the order it names them
    shape: str  # the filter with its literal values replaced by ``?``
    engine: str = "postgresql"  # "postgresql" (a filtered Seq Scan) | "sqlite" (a SCAN) | "mysql"


@dataclass(frozen=True, slots=True)
class Target:
    """A database the statements of one capture source can be planned on."""

    source: str  # "sqlalchemy" | "sqlalchemy-sqlite" | "psycopg" | "sqlite3"
    url: Any = None  # a SQLAlchemy URL (sqlalchemy targets), the engine or connection (sqlite)
    is_async: bool = False
    connect_kwargs: tuple[tuple[str, Any], ...] = ()  # psycopg targets

    def __repr__(self) -> str:  # never the password
        if self.source in ("sqlalchemy", "sqlalchemy-mysql"):
            where = self.url.render_as_string()
        else:
            where = f"{type(self.url).__name__ if self.url is not None else 'psycopg'} connection"
        return f"Target({self.source}, {where})"


@dataclass
class Outcome:
    """What checking one unit produced: findings, and notes on what could not be checked."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    explained: int = 0  # statements planned


# -- reading plans (pure) -----------------------------------------------------------------------


def filtered_seq_scans(plan: Any) -> list[SeqScanFilter]:
    """Every ``Seq Scan`` with a ``Filter`` in a ``EXPLAIN (FORMAT JSON)`` plan (pure).

    >>> plan = [{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders",
    ...     "Alias": "o", "Filter": "((o.customer_id = 42) AND (status = 'new'::text))"}}]
    >>> [(s.table, s.columns, s.shape) for s in filtered_seq_scans(plan)]
    [('orders', ('customer_id', 'status'), '((o.customer_id = ?) AND (status = ?))')]
    """
    found: list[SeqScanFilter] = []
    for node in _nodes(plan):
        if node.get("Node Type") != "Seq Scan" or not node.get("Filter"):
            continue
        table = str(node.get("Relation Name", ""))
        if not table or str(node.get("Schema", "")) in ("pg_catalog", "information_schema"):
            continue
        text = str(node["Filter"])
        columns = filter_columns(text)
        if columns:
            found.append(SeqScanFilter(table, columns, filter_shape(text)))
    return found


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, list):
        for item in plan:
            yield from _nodes(item)
    elif isinstance(plan, dict):
        node = plan.get("Plan", plan)
        yield node
        for child in node.get("Plans", ()):
            yield from _nodes(child)


_STRING = re.compile(r"'(?:[^']|'')*'")
_CAST = re.compile(r"::\s*(?:\"[^\"]+\"|[A-Za-z_][\w ]*(?:\[\])?)")
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?![\w.])")
_PARAM = re.compile(r"\$\d+")
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s")  # the format and pyformat paramstyles
_IDENT = re.compile(r"(?:\"[^\"]+\"|[A-Za-z_]\w*)(?:\.(?:\"[^\"]+\"|[A-Za-z_]\w*))?")
_WORDS = frozenset(
    (
        "and", "or", "not", "is", "null", "true", "false", "like", "ilike", "similar", "to",
        "any", "all", "in", "between", "distinct", "from", "case", "when", "then", "else",
        "end", "array", "some", "escape", "subplan", "hashed", "at", "time", "zone",
    )
)  # fmt: skip


def filter_shape(text: str) -> str:
    """The filter without its values: strings, numbers and their casts become ``?`` (pure).

    >>> filter_shape("((owner = '3'::smallint) AND (lower(name) = 'Bob'::text))")
    '((owner = ?) AND (lower(name) = ?))'
    """
    text = _CAST.sub("", _STRING.sub("?", text))
    return _PARAM.sub("?", _NUMBER.sub("?", text))


def filter_columns(text: str) -> tuple[str, ...]:
    """The column names a filter reads, qualifiers dropped, first mention first (pure).

    >>> filter_columns("((lower(u.email) = 'a'::text) OR (u.\\"Name\\" IS NULL))")
    ('email', 'Name')
    """
    shape = filter_shape(text)
    columns: list[str] = []
    for match in _IDENT.finditer(shape):
        word = match.group(0)
        after = shape[match.end() :].lstrip()
        if after.startswith("("):  # a function's name, not a column
            continue
        name = word.rsplit(".", 1)[-1].strip('"')
        if name.lower() in _WORDS or name in columns:
            continue
        columns.append(name)
    return tuple(columns)


# -- choosing what to plan (pure) ---------------------------------------------------------------


def statements_to_explain(
    events: Iterable[QueryEvent], ignore_sql: Sequence[str] = ()
) -> list[tuple[QueryEvent, list[QueryEvent]]]:
    """Each distinct SELECT, and UPDATE or DELETE with a WHERE, of a unit once: (the first
    execution that kept its statement, every execution of that fingerprint). Other writes,
    strings of several statements, failed statements, executemany batches, statements inside
    ``ignore()`` and those matching ``ignore_sql`` (fnmatch on the normalised SQL) are left out
    (pure)."""
    groups: dict[str, list[QueryEvent]] = {}
    for event in events:
        fp = event.fingerprint
        if not _plannable(fp) or event.ignored or event.error is not None or event.many:
            continue
        if fp.digest not in groups:
            text = fp.text.lower()
            if any(fnmatchcase(text, pattern.lower()) for pattern in ignore_sql):
                continue
            groups[fp.digest] = []
        groups[fp.digest].append(event)
    chosen = []
    for executions in groups.values():
        kept = next((e for e in executions if e.statement is not None), None)
        if kept is not None:
            chosen.append((kept, executions))
    return chosen


def _plannable(fp: Fingerprint) -> bool:
    if ";" in fp.text:  # literals are "?" there: a ";" separates statements
        # EXPLAIN covers the first statement only: the rest would run for real (a simple-query
        # driver, psycopg2, sends them all), and a COMMIT among them would end the read-only
        # transaction before a write that follows it
        return False
    return fp.kind == "select" or (fp.kind in PLANNED_WRITES and has_where(fp.text))


# a quoted identifier is skipped whole: a column named "where" is no WHERE
_WHERE = re.compile(r'"(?:[^"]|"")*"|`(?:[^`]|``)*`|\b(where)\b', re.IGNORECASE)


def has_where(text: str) -> bool:
    """Whether a normalised statement has a WHERE anywhere, a subquery's too (pure): an UPDATE
    whose only WHERE is in a subquery of its SET runs that subquery for each row it writes.

    >>> has_where("DELETE FROM item WHERE owner_id = ?"), has_where('UPDATE t SET "where" = ?')
    (True, False)
    >>> has_where("UPDATE t SET total = (SELECT sum(v) FROM u WHERE u.t_id = t.id)")
    True
    """
    return any(match.group(1) for match in _WHERE.finditer(text))


def finding(
    scan: SeqScanFilter,
    event: QueryEvent,
    executions: Sequence[QueryEvent],
    unit: Any,
    served: bool | None = None,
) -> Finding:
    """The DBA401 finding for one table a statement reads in full (pure). ``served``: what
    HypoPG said of an index on the filter's columns (None: not asked)."""
    site = event.call_site
    columns = ", ".join(scan.columns)
    create = create_index(scan)
    total_ms = sum(e.duration for e in executions) * 1000
    if served is None:
        verdict, summary = (
            "",
            f"index {scan.table} on the filtered columns (equality columns first)",
        )
    elif served:
        verdict = f"; HypoPG: the planner uses a hypothetical index on {scan.table} ({columns})"
        summary = f"index {scan.table} ({columns}): HypoPG shows the planner would use it"
    else:
        verdict = (
            f"; HypoPG: a plain index on {scan.table} ({columns}) would not be used: the filter "
            "needs an expression index, another operator class or a rewrite"
        )
        summary = f"a plain index on {scan.table} ({columns}) would not serve this filter"
    return Finding(
        rule=RULE,
        severity=Severity.MEDIUM,
        message=(
            f"missing index on {scan.table}: no index can serve the filter on {columns} "
            f"({_how(scan)}; {len(executions)} {plural('query', len(executions))})"
        ),
        path=site.path if site is not None else "<unknown>",
        line=site.line if site is not None else 0,
        end_line=site.line if site is not None else 0,
        function=site.function if site is not None else "",
        fix=Fix(summary, create, "sql"),
        confidence="high" if served is not False else "medium",
        source="runtime",
        code=event.fingerprint.text,
        problem=(
            f"{_evidence(scan)}; query: {event.fingerprint.text}; "
            f"with Alembic: {alembic_call(scan)}{verdict}"
        ),
        evidence=RuntimeEvidence(
            queries=len(executions),
            total_ms=round(total_ms, 3),
            unit=getattr(unit, "name", ""),
            fingerprint=event.fingerprint.digest,
            unit_queries=getattr(unit, "query_count", 0),
            unit_ms=round(getattr(unit, "db_time_ms", 0.0), 3),
        ),
    )


def create_index(scan: SeqScanFilter) -> str:
    """The ``CREATE INDEX`` of a finding, its names quoted as the engine needs (pure):
    PostgreSQL folds an unquoted name to lower case, so a Prisma/Drizzle table ``"UserProfile"``
    written bare is ``userprofile``, a table that does not exist; MySQL/MariaDB quote with
    backticks (double quotes are strings there); SQLite reads double quotes, and refuses more
    keywords as bare names than PostgreSQL does (``index``, ``values``, ``set``).

    >>> create_index(SeqScanFilter("UserProfile", ("createdAt", "kind"), ""))
    'CREATE INDEX "UserProfile_createdAt_kind_idx" ON "UserProfile" ("createdAt", kind);'
    >>> create_index(SeqScanFilter("orders", ("key",), "", "mysql"))
    'CREATE INDEX orders_key_idx ON orders (`key`);'
    >>> create_index(SeqScanFilter("orders", ("index",), "", "sqlite"))
    'CREATE INDEX orders_index_idx ON orders ("index");'
    """
    columns = ", ".join(_ddl_name(c, scan.engine) for c in scan.columns)
    name = _ddl_name(index_name(scan.table, scan.columns), scan.engine)
    return f"CREATE INDEX {name} ON {_ddl_name(scan.table, scan.engine)} ({columns});"


def _ddl_name(name: str, engine: str) -> str:
    if engine == "mysql":
        from sqlglot import exp

        return exp.to_identifier(name).sql(dialect="mysql")
    quoted = quote_identifier(name)
    if engine == "sqlite" and quoted == name and name.upper() in _SQLITE_KEYWORDS:
        return f'"{name}"'
    return quoted


# https://www.sqlite.org/lang_keywords.html
_SQLITE_KEYWORDS_TEXT = """
    ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN
    BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS
    CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED
    DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS
    EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING
    IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL
    JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL NULLS
    OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE
    RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT
    ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER
    UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH
    WITHOUT
"""
_SQLITE_KEYWORDS = frozenset(_SQLITE_KEYWORDS_TEXT.split())


def _how(scan: SeqScanFilter) -> str:
    if scan.engine == "sqlite":
        return "a full SCAN in SQLite's query plan"
    if scan.engine == "mysql":
        return "a full table scan in the plan, no index possible"
    return "a Seq Scan even with sequential scans disabled"


def _evidence(scan: SeqScanFilter) -> str:
    if scan.engine == "sqlite":
        return f"EXPLAIN QUERY PLAN reads {scan.table} in full: {scan.shape}"
    if scan.engine == "mysql":
        return f"EXPLAIN reads {scan.table} in full: {scan.shape}"
    return (
        f"EXPLAIN with enable_seqscan = off still reads {scan.table} in full: "
        f"Seq Scan, Filter: {scan.shape}"
    )


def alembic_call(scan: SeqScanFilter) -> str:
    """The migration line that creates the index, named as the index advisor names its
    suggestions (pure).

    >>> alembic_call(SeqScanFilter("orders", ("customer_id", "status"), ""))
    'op.create_index("orders_customer_id_status_idx", "orders", ["customer_id", "status"])'
    """
    name = index_name(scan.table, scan.columns)
    columns = ", ".join(f'"{c}"' for c in scan.columns)
    return f'op.create_index("{name}", "{scan.table}", [{columns}])'


# -- reaching a database ------------------------------------------------------------------------


def find_targets(values: Iterable[Any]) -> list[Target]:
    """The databases among ``values`` (a test's fixture values, or what the user's
    ``dbaudit_explain_target`` fixture returned) that statements can be planned on: SQLAlchemy
    engines, connections and sessions (sync or asyncio; PostgreSQL, SQLite, MySQL/MariaDB),
    psycopg, psycopg2, asyncpg, sqlite3 and PyMySQL connections, URLs (strings too), and lists
    of these. Anything else is passed over, also a value that fails to say what it is."""
    targets: list[Target] = []
    for value in values:
        try:
            found = list(_targets_of(value, depth=0))
        except Exception:  # a fixture value with properties that raise: not a database
            continue
        for target in found:
            if target not in targets:
                targets.append(target)
    return targets


def _targets_of(value: Any, depth: int) -> Iterator[Target]:
    if value is None or depth > 2:
        return
    # a SQLAlchemy URL is a NamedTuple: a database, not a list of them
    if isinstance(value, list | tuple | set | frozenset) and not _is_sqlalchemy(value):
        for item in value:
            yield from _targets_of(item, depth + 1)
        return
    module = type(value).__module__ or ""
    if isinstance(value, str) and value.startswith("postgres") and "://" in value:
        yield from _url_target(value)
        libpq = re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", value)
        yield Target("psycopg", connect_kwargs=(("conninfo", libpq),))
        yield Target("psycopg2", connect_kwargs=(("dsn", libpq),))
        yield Target("asyncpg", connect_kwargs=(("dsn", libpq),))
    elif isinstance(value, str) and value.startswith(("mysql", "mariadb")) and "://" in value:
        yield from _url_target(value)
    elif _is_sqlalchemy(value):
        engine = _engine_of(value)
        if engine is None:
            return
        if isinstance(engine, _UrlHolder) or engine.dialect.name != "sqlite":
            yield from _url_target(engine.url)
        elif not getattr(engine.dialect, "is_async", False):
            yield Target("sqlalchemy-sqlite", url=getattr(engine, "sync_engine", engine))
    elif _is_sqlite3(value):
        yield Target("sqlite3", url=value)
    elif type(getattr(value, "_connection", value)).__module__.startswith("pymysql"):
        raw = getattr(value, "_connection", value)
        password = raw.password.decode() if isinstance(raw.password, bytes) else raw.password
        db = raw.db.decode() if isinstance(raw.db, bytes) else raw.db
        kwargs = {"host": raw.host, "port": raw.port, "user": raw.user, "password": password}
        yield Target("pymysql", connect_kwargs=tuple(sorted({**kwargs, "database": db}.items())))
    elif module.startswith("psycopg") and not module.startswith("psycopg2"):
        if hasattr(value, "info"):
            info = value.info
            kwargs = dict(info.get_parameters())
            if info.password:
                kwargs["password"] = info.password
            yield Target("psycopg", connect_kwargs=tuple(sorted(kwargs.items())))
    elif _is_asyncpg(value) and hasattr(value, "_params") and hasattr(value, "_addr"):
        params, addr = value._params, value._addr  # asyncpg keeps what it connected with
        kwargs = {"user": params.user, "password": params.password, "database": params.database}
        if isinstance(addr, tuple):
            kwargs |= {"host": addr[0], "port": addr[1]}
        else:
            kwargs["host"] = addr  # a Unix socket's path
        yield Target("asyncpg", connect_kwargs=tuple(sorted(kwargs.items())))
    elif type(getattr(value, "_connection", value)).__module__.startswith("psycopg2"):
        raw = getattr(value, "_connection", value)
        kwargs = dict(raw.get_dsn_parameters())
        kwargs = {k: v for k, v in kwargs.items() if k in _LIBPQ_KEYS}
        if raw.info.password:
            kwargs["password"] = raw.info.password
        yield Target("psycopg2", connect_kwargs=tuple(sorted(kwargs.items())))


# what a psycopg2 connection reports of itself that psycopg2.connect takes back
_LIBPQ_KEYS = frozenset(("host", "port", "user", "dbname", "sslmode", "options", "hostaddr"))


def _is_sqlalchemy(value: Any) -> bool:
    """A SQLAlchemy engine, connection, session or URL, also of a library's subclass (SQLModel's
    ``Session`` lives in ``sqlmodel.orm.session``)."""
    return any(c.__module__.startswith("sqlalchemy") for c in type(value).__mro__)


def _is_asyncpg(value: Any) -> bool:
    """An asyncpg connection, also once ``instrument`` made its class a profiled subclass."""
    return any(c.__module__.startswith("asyncpg") for c in type(value).__mro__)


def _is_sqlite3(value: Any) -> bool:
    """A sqlite3 connection, or dbaudit's proxy of one (``instrument(sqlite3.connect(...))``)."""
    import sqlite3

    inner = getattr(value, "_connection", value)  # the DB-API proxy keeps the connection here
    return isinstance(value, sqlite3.Connection) or isinstance(inner, sqlite3.Connection)


def _engine_of(value: Any) -> Any:
    """The sync or async engine behind a SQLAlchemy engine, URL, connection or session."""
    from sqlalchemy.engine import URL, Connection, Engine

    if isinstance(value, URL):
        return _UrlHolder(value)
    try:
        from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
    except ImportError:  # pragma: no cover - sqlalchemy without its asyncio extension
        AsyncConnection = AsyncEngine = AsyncSession = ()  # type: ignore[assignment,misc]
    from sqlalchemy.orm import Session

    if isinstance(value, Engine | AsyncEngine):
        return value
    if isinstance(value, Connection | AsyncConnection):
        return value.engine
    if isinstance(value, AsyncSession):
        value = value.sync_session
    if isinstance(value, Session):
        try:
            bind = value.get_bind()
        except Exception:  # a session with no bind, or several binds: no single target
            return None
        return bind.engine if isinstance(bind, Connection) else bind
    return None


@dataclass(frozen=True, slots=True)
class _UrlHolder:
    url: Any


def _url_target(url: Any) -> Iterator[Target]:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "mysql", "mariadb"):
        return
    is_async = bool(getattr(parsed.get_dialect(), "is_async", False))
    if backend == "postgresql":
        yield Target("sqlalchemy", url=parsed, is_async=is_async)
    elif not is_async:
        yield Target("sqlalchemy-mysql", url=parsed)


def check_unit(
    unit: Any,
    targets: Sequence[Target],
    ignore_tables: Sequence[str] = (),
    ignore_sql: Sequence[str] = (),
) -> Outcome:
    """Plan each distinct SELECT, UPDATE and DELETE of ``unit`` that
    :func:`statements_to_explain` chooses once on the target of its source, and turn every
    table read by a filtered Seq Scan into a DBA401 finding. Never raises for a statement that
    cannot be planned: that is a note."""
    outcome = Outcome()
    chosen = statements_to_explain(unit.events, ignore_sql)
    by_source: dict[str, list[tuple[QueryEvent, list[QueryEvent]]]] = {}
    for pair in chosen:
        by_source.setdefault(pair[0].source, []).append(pair)
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    for source, pairs in by_source.items():
        candidates = [t for t in targets if t.source in SOURCES.get(source, ())]
        if not candidates:
            outcome.notes.append(_no_target_note(source))
            continue
        for (event, executions), planned in zip(pairs, _plan_on(candidates, pairs), strict=True):
            if isinstance(planned, BaseException):
                outcome.notes.append(f"could not EXPLAIN a statement: {_brief(planned)}")
                continue
            outcome.explained += 1
            for scan in planned.scans:
                if any(fnmatchcase(scan.table, p) for p in ignore_tables):
                    continue
                key = (scan.table, scan.columns, event.fingerprint.digest)
                if key not in seen:
                    seen.add(key)
                    served = planned.hypothetical.get((scan.table, scan.columns))
                    outcome.findings.append(finding(scan, event, executions, unit, served))
    return outcome


def _plan_on(
    candidates: Sequence[Target], pairs: Sequence[tuple[QueryEvent, list[QueryEvent]]]
) -> list[Any]:
    """Each statement planned on the first candidate that can (a test may use a PostgreSQL
    and a SQLite engine: the statement's own database plans it); the first failure stays
    when none can."""
    results: list[Any] = [None] * len(pairs)
    waiting = list(range(len(pairs)))
    for target in candidates:
        try:
            plans = plan_all(target, [pairs[i][0] for i in waiting])
        except Exception as error:  # cannot connect at all
            plans = [ConnectionFailed(f"could not connect: {_brief(error)}")] * len(waiting)
        for index, planned in zip(waiting, plans, strict=True):
            if results[index] is None or not isinstance(planned, BaseException):
                results[index] = planned
        waiting = [i for i in waiting if isinstance(results[i], BaseException)]
        if not waiting:
            break
    return results


class ConnectionFailed(Exception):
    """The target could not be reached at all."""


def _no_target_note(source: str) -> str:
    if source in SOURCES:
        return (
            f"{source} statements were not planned: no PostgreSQL or SQLite {source} engine or "
            "connection among the test's fixtures; return one from a "
            "dbaudit_explain_target fixture"
        )
    return (
        f"{source} statements are not planned (the missing-index check plans statements "
        "captured from SQLAlchemy engines, psycopg and sqlite3 connections)"
    )


def _brief(error: BaseException) -> str:
    """One line, no values: the error's class and its message's first line, literals masked."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {_STRING.sub('?', first)}"[:200]


@dataclass(frozen=True, slots=True)
class Planned:
    """One statement's plan, and what HypoPG said of each index the plan asks for: for each
    (table, columns) of a filtered Seq Scan, whether the planner uses a hypothetical index on
    those columns (absent when the database has no HypoPG extension)."""

    plan: Any
    hypothetical: dict[tuple[str, tuple[str, ...]], bool] = field(default_factory=dict)
    scans: tuple[SeqScanFilter, ...] = ()  # the tables read in full to apply a filter


# one statement to run: (SQL, parameters or None); the driver sends back the rows
Step = tuple[str, Any]
HYPOPG_SCHEMA_SQL = (
    "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'hypopg'"
)


def _procedure(event: QueryEvent) -> Generator[Step, list[Any], Planned]:
    """What planning one statement sends, in order, as a generator the drivers pump (the same
    steps on a sync and an async connection). Everything runs in one transaction that the
    driver rolls back; HypoPG's hypothetical indexes live in the session, not in the catalog,
    so they are reset explicitly."""
    for setting in SETTINGS:
        yield setting, None
    statement = explain_statement(event, "postgresql")
    plan = read_plan((yield statement, driver_params(event)), "postgresql")
    scans = filtered_seq_scans(plan)
    if not scans:
        return Planned(plan)
    rows = yield HYPOPG_SCHEMA_SQL, None
    if not rows:
        return Planned(plan, scans=tuple(scans))  # no HypoPG: never installed by dbaudit
    schema = _identifier(str(rows[0][0]))
    hypothetical: dict[tuple[str, tuple[str, ...]], bool] = {}
    reset = f"SELECT {schema}.hypopg_reset()"
    for scan in scans:
        columns = ", ".join(_identifier(c) for c in scan.columns)
        ddl = f"CREATE INDEX ON {_identifier(scan.table)} ({columns})"
        yield "SAVEPOINT dbaudit_hypopg", None
        try:
            yield f"SELECT 1 FROM {schema}.hypopg_create_index({_literal(ddl)})", None
            replanned = read_plan((yield statement, driver_params(event)), "postgresql")
            hypothetical[(scan.table, scan.columns)] = all(
                (s.table, s.columns) != (scan.table, scan.columns)
                for s in filtered_seq_scans(replanned)
            )
            yield reset, None
            yield "RELEASE SAVEPOINT dbaudit_hypopg", None
        except Exception:  # a column the filter reads of another table, say: not verified
            yield "ROLLBACK TO SAVEPOINT dbaudit_hypopg", None
            yield reset, None  # session memory: a rollback does not undo it
    return Planned(plan, hypothetical, tuple(scans))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def plan_all(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    """The :class:`Planned` of each event (or the exception that planning it raised), one
    read-only transaction per statement, always rolled back. Raises only when no connection
    is made."""
    if target.source in ("psycopg", "psycopg2"):
        return _plan_psycopg(target, events)
    if target.source == "asyncpg":
        plans: list[Any] = _in_own_thread(lambda: asyncio.run(_plan_asyncpg(target, events)))
        return plans
    if target.source in ("sqlite3", "sqlalchemy-sqlite"):
        return _plan_sqlite(target, events)
    if target.source in ("pymysql", "sqlalchemy-mysql"):
        return _plan_mysql(target, events)
    if target.is_async:
        plans = _in_own_thread(lambda: asyncio.run(_plan_async(target, events)))
        return plans
    return _plan_sync(target, events)


def _pump(procedure: Generator[Step, list[Any], Planned], run: Any) -> Planned:
    """Drive ``procedure`` with ``run(sql, params) -> rows`` (a sync connection); a failing
    statement is thrown into the procedure, which may recover (a savepoint) or give up."""
    try:
        step = next(procedure)
        while True:
            try:
                rows = run(*step)
            except Exception as error:
                step = procedure.throw(error)
            else:
                step = procedure.send(rows)
    except StopIteration as done:
        planned: Planned = done.value
        return planned


def _plan_sync(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(target.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:

            def run(sql: str, params: Any) -> list[Any]:
                result = connection.exec_driver_sql(sql, *(() if params is None else (params,)))
                return list(result.all()) if result.returns_rows else []

            return _plan_each(events, run, connection.rollback)
    finally:
        engine.dispose()


def _plan_each(
    events: Sequence[QueryEvent],
    run: Callable[[str, Any], list[Any]],
    rollback: Callable[[], object],
) -> list[Any]:
    """Each event's plan (or the exception that stopped it), on one blocking connection that
    ``rollback`` puts back after every statement, whatever happened."""
    plans: list[Any] = []
    for event in events:
        try:
            plans.append(_pump(_procedure(event), run))
        except Exception as error:
            plans.append(error)
        finally:
            rollback()
    return plans


async def _plan_async(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(target.url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:

            async def run(sql: str, params: Any) -> list[Any]:
                args = () if params is None else (params,)
                result = await connection.exec_driver_sql(sql, *args)
                return list(result.all()) if result.returns_rows else []

            return await _plan_each_async(events, run, None, connection.rollback)
    finally:
        await engine.dispose()


async def _pump_async(
    procedure: Generator[Step, list[Any], Planned],
    run: Callable[[str, Any], Awaitable[list[Any]]],
) -> Planned:
    """:func:`_pump` on an asyncio connection."""
    try:
        step = next(procedure)
        while True:
            try:
                rows = await run(*step)
            except Exception as error:
                step = procedure.throw(error)
            else:
                step = procedure.send(rows)
    except StopIteration as done:
        planned: Planned = done.value
        return planned


async def _plan_each_async(
    events: Sequence[QueryEvent],
    run: Callable[[str, Any], Awaitable[list[Any]]],
    begin: Callable[[], Awaitable[object]] | None,
    rollback: Callable[[], Awaitable[object]],
) -> list[Any]:
    """:func:`_plan_each` on an asyncio connection; ``begin`` (if any) opens each statement's
    transaction."""
    plans: list[Any] = []
    for event in events:
        if begin is not None:
            await begin()
        try:
            plans.append(await _pump_async(_procedure(event), run))
        except Exception as error:
            plans.append(error)
        finally:
            await rollback()
    return plans


def _plan_psycopg(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    """psycopg 3 or psycopg2 (same paramstyles as the statements they captured)."""
    if target.source == "psycopg2":
        import psycopg2  # type: ignore[import-untyped]

        connection = psycopg2.connect(**dict(target.connect_kwargs))
    else:
        import psycopg

        connection = psycopg.connect(**dict(target.connect_kwargs), autocommit=False)

    def run(sql: str, params: Any) -> list[Any]:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description is not None else []
        finally:
            cursor.close()

    try:
        return _plan_each(events, run, connection.rollback)
    finally:
        connection.close()


async def _plan_asyncpg(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    """asyncpg (``$1`` placeholders, as the statements it captured), in a loop of its own."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(**dict(target.connect_kwargs))

    async def run(sql: str, params: Any) -> list[Any]:
        return [tuple(row) for row in await connection.fetch(sql, *(params or ()))]

    try:
        return await _plan_each_async(
            events,
            run,
            lambda: connection.execute("BEGIN"),
            lambda: connection.execute("ROLLBACK"),
        )
    finally:
        await connection.close()


def _plan_sqlite(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    """``EXPLAIN QUERY PLAN`` on the test's own SQLite database (an in-memory one cannot be
    opened twice): it plans, never runs, and opens no transaction, for an UPDATE or DELETE too
    (Python's sqlite3 opens one before a statement that starts with INSERT, UPDATE, DELETE or
    REPLACE, and this one starts with EXPLAIN). A SQLAlchemy engine lends its DB-API
    connection (``raw_connection``), never rolled back by us: on a pool of one shared
    connection that would undo the test's own open transaction."""
    if target.source == "sqlite3":
        connection, release = target.url, None
    else:
        connection = target.url.raw_connection()
        release = connection.close
    plans: list[Any] = []
    try:
        for event in events:
            try:
                statement = explain_statement(event, "sqlite")
                cursor = connection.cursor()
                try:
                    params = driver_params(event)
                    cursor.execute(statement, () if params is None else params)
                    rows = read_plan(cursor.fetchall(), "sqlite")
                finally:
                    cursor.close()
                scans = sqlite_full_scans(rows, event.statement or "")
                plans.append(Planned(rows, scans=tuple(scans)))
            except Exception as error:
                plans.append(error)
    finally:
        if release is not None:
            release()
    return plans


def sqlite_full_scans(rows: Sequence[Sequence[Any]], sql: str) -> list[SeqScanFilter]:
    """The tables an ``EXPLAIN QUERY PLAN`` reads with a ``SCAN`` (no index serves any of its
    constraints) while the statement's WHERE filters them (pure). Columns a join compares are
    not counted: only a table's own filters, in the SELECT (UPDATE, DELETE) that reads it.

    >>> rows = [(2, 0, 0, "SCAN orders"), (5, 0, 0, "SEARCH c USING INTEGER PRIMARY KEY")]
    >>> [(s.table, s.columns) for s in sqlite_full_scans(
    ...     rows, "SELECT id FROM orders WHERE customer_id = ? AND status = 'new'")]
    [('orders', ('customer_id', 'status'))]
    """
    filters = _where_columns(sql)
    found: list[SeqScanFilter] = []
    for row in rows:
        detail = str(row[-1])
        match = re.match(r"SCAN (?:TABLE )?(\S+)", detail)
        if match is None:
            continue
        name = match.group(1)
        table, columns = filters.get(name, ("", ()))
        if table and columns:
            shape = " AND ".join(f"{c} ..." for c in columns)
            found.append(SeqScanFilter(table, columns, f"{detail} (WHERE on {shape})", "sqlite"))
    return found


def _plan_mysql(target: Target, events: Sequence[QueryEvent]) -> list[Any]:
    """``EXPLAIN`` on MySQL/MariaDB, on a connection of its own, in a ``READ ONLY`` transaction
    that is rolled back. MySQL has no switch that forbids full scans, so a table is reported
    only when the plan reads it in full (``type`` ALL) to apply a WHERE with no index even
    *possible* (``possible_keys`` empty): less than PostgreSQL tells, never a false alarm of a
    small table read in full although an index exists.

    MariaDB and MySQL refuse ``EXPLAIN UPDATE`` and ``EXPLAIN DELETE`` in a ``READ ONLY``
    transaction (error 1792), and the transaction stays read-only: a stored function that the
    optimizer evaluates while planning cannot write either. So an UPDATE or DELETE is planned
    as the SELECT that finds the same rows (:func:`reading_select`), with its values already in
    the text as the driver would send it (``mogrify``: PyMySQL and mysqlclient interpolate on
    the client, so no SET value's placeholder is left to drop from the parameters)."""
    if target.source == "pymysql":
        import pymysql  # type: ignore[import-untyped]

        connection = pymysql.connect(**dict(target.connect_kwargs))
        close = connection.close
    else:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(target.url, poolclass=NullPool)
        connection = engine.raw_connection()

        def close() -> None:
            connection.close()
            engine.dispose()

    plans: list[Any] = []
    try:
        for event in events:
            cursor = connection.cursor()
            try:
                if event.statement is None:
                    raise ValueError("no statement kept")
                cursor.execute("START TRANSACTION READ ONLY")
                statement, params = event.statement, driver_params(event)
                if event.fingerprint.kind in PLANNED_WRITES:
                    statement, params = reading_select(_mogrify(cursor, event), "mysql"), None
                cursor.execute(f"EXPLAIN {statement}", params)
                names = [d[0].lower() for d in cursor.description]
                rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                plans.append(Planned(rows, scans=tuple(mysql_full_scans(rows, statement))))
            except Exception as error:
                plans.append(error)
            finally:
                cursor.close()
                connection.rollback()
    finally:
        close()
    return plans


def _mogrify(cursor: Any, event: QueryEvent) -> str:
    """The statement with its values in, as the driver sends it (no round trip)."""
    mogrify = getattr(cursor, "mogrify", None)
    if mogrify is None:
        driver = type(cursor).__module__
        raise CannotExplain(
            f"an {event.fingerprint.kind.upper()} on MySQL is planned through a driver that "
            f"puts the values in on the client (PyMySQL, mysqlclient), not {driver}"
        )
    text: str = mogrify(event.statement, driver_params(event))
    return text


def reading_select(sql: str, dialect: str) -> str:
    """The SELECT that finds the rows an UPDATE or DELETE writes: its tables and joins, WHERE,
    ORDER BY and LIMIT; not its SET, which decides what is written, not which rows (pure).

    >>> reading_select("UPDATE item SET title = 'x' WHERE owner_id = 7 LIMIT 5", "mysql")
    'SELECT 1 FROM item WHERE owner_id = 7 LIMIT 5'
    >>> reading_select("DELETE i FROM item AS i JOIN owner AS o ON o.id = i.owner_id "
    ...                "WHERE o.name = 'a'", "mysql")
    "SELECT 1 FROM item AS i JOIN owner AS o ON o.id = i.owner_id WHERE o.name = 'a'"
    """
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.SqlglotError:  # its message quotes the statement, values and all
        raise CannotExplain("sqlglot cannot read this statement to plan its rows") from None
    if isinstance(tree, exp.Delete):
        # DELETE FROM t1 USING t1 JOIN t2 ...: the rows come from USING's tables
        sources = list(tree.args.get("using") or [tree.this])
    elif isinstance(tree, exp.Update):
        extra = tree.args.get("from_")
        sources = [tree.this, *([extra.this] if extra is not None else [])]
    else:
        raise CannotExplain("not an UPDATE or DELETE")
    select = exp.select("1").from_(sources[0].copy())
    for other in sources[1:]:
        select = select.join(other.copy(), join_type="cross")
    for part in ("with_", "where", "order", "limit"):
        value = tree.args.get(part)
        if value is not None:
            select.set(part, value.copy())
    return select.sql(dialect=dialect)


def mysql_full_scans(rows: Sequence[dict[str, Any]], sql: str) -> list[SeqScanFilter]:
    """The tables a MySQL/MariaDB ``EXPLAIN`` reads in full to apply a WHERE that no index
    could serve (pure).

    >>> rows = [{"table": "orders", "type": "ALL", "possible_keys": None,
    ...          "extra": "Using where"}]
    >>> [(s.table, s.columns) for s in mysql_full_scans(
    ...     rows, "SELECT id FROM orders WHERE customer_id = %s")]
    [('orders', ('customer_id',))]
    """
    filters = _where_columns(sql, "mysql")
    found: list[SeqScanFilter] = []
    for row in rows:
        extra = str(row.get("extra") or "")
        if row.get("type") != "ALL" or row.get("possible_keys") or "Using where" not in extra:
            continue
        table, columns = filters.get(str(row.get("table")), ("", ()))
        if table and columns:
            detail = f"type ALL, no possible key, {extra}"
            found.append(SeqScanFilter(table, columns, detail, "mysql"))
    return found


def _where_columns(sql: str, dialect: str = "sqlite") -> dict[str, tuple[str, tuple[str, ...]]]:
    """alias or table name -> (table, the columns the WHERE of its own SELECT, UPDATE or
    DELETE reads of it)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(_PLACEHOLDER.sub("?", sql), read=dialect)
    except Exception:
        return {}
    kinds = (exp.Select, exp.Update, exp.Delete)
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for statement in tree.find_all(*kinds):
        tables = [t for t in statement.find_all(exp.Table) if t.find_ancestor(*kinds) is statement]
        names = {(t.alias_or_name): t.name for t in tables}
        where = statement.args.get("where")
        if where is None or not names:
            continue
        columns: dict[str, list[str]] = {}
        for column in where.find_all(exp.Column):
            if column.find_ancestor(*kinds) is not statement:
                continue  # a subquery's own column
            owner = column.table or (next(iter(names)) if len(names) == 1 else "")
            if owner in names and column.name not in columns.setdefault(owner, []):
                columns[owner].append(column.name)
        for alias, cols in columns.items():
            if cols:
                found[alias] = (names[alias], tuple(cols))
    return found


def _in_own_thread(work: Any) -> Any:
    """Run ``work`` in a thread of its own: asyncio.run needs a thread with no running loop,
    and the test's own loop (pytest-asyncio) may still be set in this one."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as error:
            box.append(error)

    thread = threading.Thread(target=run, name="dbaudit-explain", daemon=True)
    thread.start()
    thread.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]
