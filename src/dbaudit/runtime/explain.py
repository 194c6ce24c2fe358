"""The plan of a recorded query, on demand: ``EXPLAIN`` on the same connection type it ran on.

Only events that kept their statement and parameters can be explained: slow queries always do
(``DetectConfig.slow_query_ms``), others when the unit was opened with ``keep_params=True``.
``ANALYZE`` executes the statement, so it is refused for anything but a SELECT (read-only by
default, STYLE.md rule 9); plain ``EXPLAIN`` never executes it.

    unit = ...  # a closed unit with a DBA302 finding
    slow = max(unit.events, key=lambda e: e.duration)
    plan = dbaudit.runtime.explain.explain(engine, slow)          # sync SQLAlchemy engine
    plan = await dbaudit.runtime.explain.explain_async(engine, slow)  # AsyncEngine
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dbaudit.runtime.events import QueryEvent


class CannotExplain(ValueError):
    """The event cannot be explained (no statement kept, or ANALYZE asked on a write)."""


def explain_statement(event: QueryEvent, dialect: str, analyze: bool = False) -> str:
    """The EXPLAIN statement for ``event`` (pure: no database is touched)."""
    if event.statement is None:
        raise CannotExplain(
            "this query kept no statement: only slow queries, or units opened with "
            "keep_params=True, can be explained"
        )
    if analyze and event.fingerprint.kind != "select":
        raise CannotExplain(f"EXPLAIN ANALYZE would execute a {event.fingerprint.kind}; refused")
    if dialect == "sqlite":
        return f"EXPLAIN QUERY PLAN {event.statement}"
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    return f"EXPLAIN ({options}) {event.statement}"


def read_plan(rows: Sequence[Any], dialect: str) -> Any:
    """What the EXPLAIN's rows say (pure): ``EXPLAIN QUERY PLAN``'s rows as tuples on sqlite,
    the decoded ``FORMAT JSON`` document otherwise (a string with some drivers, already
    decoded with others)."""
    if dialect == "sqlite":
        return [tuple(row) for row in rows]
    value = rows[0][0]
    return json.loads(value) if isinstance(value, str) else value


def driver_params(event: QueryEvent) -> Any:
    """The parameters ``event`` ran with, as its driver takes them back: a dict or a tuple;
    None when it ran with none (a DB-API cursor given None leaves a ``%`` in the statement
    alone, and SQLAlchemy's ``exec_driver_sql`` takes None as no parameters)."""
    params = event.params
    if params is None:
        return None
    return params if isinstance(params, dict) else tuple(params)


def explain(engine: Any, event: QueryEvent, analyze: bool = False) -> Any:
    """Plan of ``event`` through a sync SQLAlchemy ``Engine`` (JSON plan on PostgreSQL, the
    ``EXPLAIN QUERY PLAN`` rows on sqlite). The statement and parameters go to the driver as
    recorded, in a transaction that is rolled back."""
    dialect = engine.dialect.name
    statement = explain_statement(event, dialect, analyze)
    with engine.connect() as connection:
        try:
            rows = connection.exec_driver_sql(statement, driver_params(event)).all()
        finally:
            connection.rollback()
    return read_plan(rows, dialect)


async def explain_async(engine: Any, event: QueryEvent, analyze: bool = False) -> Any:
    """Same as :func:`explain` through a SQLAlchemy ``AsyncEngine``."""
    dialect = engine.dialect.name
    statement = explain_statement(event, dialect, analyze)
    async with engine.connect() as connection:
        try:
            result = await connection.exec_driver_sql(statement, driver_params(event))
            rows = result.all()
        finally:
            await connection.rollback()
    return read_plan(rows, dialect)
