"""The workload an index advisor judges: fingerprinted statements with how often each runs.

Sources: ``pg_stat_statements`` (calls since its last reset), a SQL file (``-- calls: N`` in a
statement's leading comment gives its weight, default 1), or a list of statements handed over by
another stage (the static audit, a runtime profile). Statements with the same fingerprint merge
and their calls add up; the first text seen is kept as the sample the advisor extracts from.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pglast
import psycopg

from dbaudit.sql.fingerprint import fingerprint

_CALLS_COMMENT = re.compile(r"--\s*calls\s*[:=]\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


class WorkloadError(ValueError):
    """The workload could not be read; one line."""


@dataclass(frozen=True, slots=True)
class WorkloadQuery:
    sql: str
    calls: float = 1.0
    fingerprint: str = ""
    source: str = "list"  # "pg_stat_statements" | "file" | "profile" | "static" | "list"
    params: tuple[Any, ...] | None = None  # sample values for $n, used only by --verify
    label: str = ""  # where it came from, for reports ("get_user_projects", "file.sql:3")

    def short(self, width: int = 100) -> str:
        text = " ".join(self.sql.split())
        return text if len(text) <= width else text[: width - 3] + "..."


def _with_fingerprint(query: WorkloadQuery) -> WorkloadQuery:
    if query.fingerprint:
        return query
    return replace(query, fingerprint=fingerprint(query.sql).digest)


def merge(queries: Iterable[WorkloadQuery]) -> tuple[WorkloadQuery, ...]:
    """One entry per fingerprint, calls summed, first sample (and its params) kept."""
    merged: dict[str, WorkloadQuery] = {}
    for query in map(_with_fingerprint, queries):
        seen = merged.get(query.fingerprint)
        if seen is None:
            merged[query.fingerprint] = query
        else:
            params = seen.params if seen.params is not None else query.params
            merged[query.fingerprint] = replace(seen, calls=seen.calls + query.calls, params=params)
    return tuple(merged.values())


def from_statements(
    statements: Sequence[str | tuple[str, float]], source: str = "list"
) -> tuple[WorkloadQuery, ...]:
    """From SQL texts, optionally paired with a call count."""
    queries = []
    for item in statements:
        sql, calls = (item, 1.0) if isinstance(item, str) else item
        queries.append(WorkloadQuery(sql=sql, calls=float(calls), source=source))
    return merge(queries)


def from_sql_text(text: str, label: str = "workload") -> tuple[WorkloadQuery, ...]:
    try:
        statements = pglast.split(text, with_parser=False)
    except Exception as error:
        raise WorkloadError(f"{label}: cannot split into statements: {error}") from None
    queries = []
    for number, statement in enumerate(statements, start=1):
        match = _CALLS_COMMENT.search(statement)
        calls = float(match.group(1)) if match else 1.0
        body = "\n".join(
            line for line in statement.splitlines() if not line.strip().startswith("--")
        ).strip()
        if body:
            queries.append(
                WorkloadQuery(sql=body, calls=calls, source="file", label=f"{label}#{number}")
            )
    return merge(queries)


def from_file(path: str | Path) -> tuple[WorkloadQuery, ...]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise WorkloadError(f"cannot read workload file {file}: {error.strerror}") from None
    return from_sql_text(text, label=file.name)


PG_STAT_STATEMENTS_INSTALLED_SQL = """
SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements'
"""

# Top statements of the current database by total time; utility statements (and our own
# EXPLAINs) are left out by the advisor when it extracts them.
PG_STAT_STATEMENTS_SQL = """
SELECT queryid, query, calls, total_exec_time
FROM {schema}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND calls > 0
ORDER BY total_exec_time DESC
LIMIT %(limit)s
"""


def from_pg_stat_statements(
    conn: psycopg.Connection[Any], limit: int = 500
) -> tuple[WorkloadQuery, ...]:
    """Statements of this database from pg_stat_statements; one-line error when unavailable."""
    from dbaudit.errors import first_line

    row = conn.execute(PG_STAT_STATEMENTS_INSTALLED_SQL).fetchone()
    if row is None:
        raise WorkloadError(
            "pg_stat_statements is not installed in this database "
            "(add it to shared_preload_libraries, then CREATE EXTENSION pg_stat_statements)"
        )
    schema = psycopg.sql.Identifier(row[0]).as_string(conn)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            rows = conn.execute(
                PG_STAT_STATEMENTS_SQL.format(schema=schema),
                {"limit": limit},
            ).fetchall()
    except psycopg.Error as error:
        raise WorkloadError(f"cannot read pg_stat_statements: {first_line(error)}") from None
    return merge(
        WorkloadQuery(
            sql=query,
            calls=float(calls),
            fingerprint=f"queryid:{queryid}",
            source="pg_stat_statements",
            label=f"queryid {queryid}",
        )
        for queryid, query, calls, _total in rows
        if query
    )


@contextlib.contextmanager
def recording(engine: Any) -> Iterator[list[WorkloadQuery]]:
    """Record every statement a SQLAlchemy engine (sync or async) sends, with its parameters,
    as a runtime-profile workload; ``merge`` the list to weigh statements by repetition."""
    from sqlalchemy import event

    sync_engine = getattr(engine, "sync_engine", engine)
    captured: list[WorkloadQuery] = []

    def listener(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        params = None
        if not many and isinstance(parameters, list | tuple):
            params = tuple(parameters)
        captured.append(WorkloadQuery(sql=statement, source="profile", params=params))

    event.listen(sync_engine, "before_cursor_execute", listener)
    try:
        yield captured
    finally:
        event.remove(sync_engine, "before_cursor_execute", listener)


def numbered_placeholders(sql: str) -> str:
    """``?`` placeholders of a normalised statement as ``$1, $2, ...`` (outside string literals),
    so that the planner can make a generic plan of it.

    >>> numbered_placeholders("SELECT * FROM t WHERE a IN (?) AND b = ? AND c = '?'")
    "SELECT * FROM t WHERE a IN ($1) AND b = $2 AND c = '?'"
    """
    out: list[str] = []
    number = 0
    in_string = False
    for char in sql:
        if char == "'":
            in_string = not in_string
        if char == "?" and not in_string:
            number += 1
            out.append(f"${number}")
        else:
            out.append(char)
    return "".join(out)


def from_events_file(path: str | Path) -> tuple[WorkloadQuery, ...]:
    """A runtime profile (``pytest --dbaudit-json``, ``dbaudit report`` events file): every
    statement the units sent, weighed by how often it was sent. Values are not kept there, so
    these statements are planned generically and ``--verify`` does not run them."""
    from dbaudit.runtime.export import EventsFileError, load

    try:
        units = load(path)
    except EventsFileError as error:
        raise WorkloadError(str(error)) from None
    queries = []
    for unit in units:
        for event in unit.events:
            sql = event.get("sql")
            if event.get("ignored") or event.get("error") or not isinstance(sql, str) or not sql:
                continue
            queries.append(
                WorkloadQuery(
                    sql=numbered_placeholders(sql),
                    fingerprint=str(event.get("fingerprint") or ""),
                    source="profile",
                    label=unit.name,
                )
            )
    return merge(queries)
