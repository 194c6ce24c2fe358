"""SQLAlchemy engines, sync and asyncio, through the engine's own cursor events.

``before_cursor_execute`` / ``after_cursor_execute`` see the exact SQL and parameters the driver
gets (nplusone and queryspy hook the ORM instead and miss Core and text queries). The start time
rides on the execution context, so nested or concurrent executions never mix their timings, and a
second set of listeners (engine-level and global both installed) records each statement once.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

from dbaudit.runtime.capture.sqlalchemy_orm import orm_label
from dbaudit.runtime.unit import _STATE, keep_rows, record, record_positional

_PENDING = "_dbaudit_pending"
RESULT_ROWS_KEPT = 1000  # larger results are not kept (bounded memory): seen as unknown

_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql"}


def _before(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> tuple[str, Any]:
    # Listened with ``retval=True``: without it SQLAlchemy wraps the listener in one more Python
    # function per query (paid even when no unit is active); the statement goes on unchanged.
    state = _STATE.get()
    if state is None or context is None:
        return statement, parameters
    try:
        setattr(context, _PENDING, (state, perf_counter()))
    except Exception:  # an execution context that refuses attributes: skip, never fail the query
        return statement, parameters
    return statement, parameters


def _after(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    pending = context.__dict__.pop(_PENDING, None) if context is not None else None
    if pending is None:
        return
    ended = perf_counter()
    state, started = pending
    try:
        rows = cursor.rowcount
        results = None
        buffers = _buffering.get(type(cursor))
        if buffers is None:
            buffers = _buffers_rows(type(cursor))
        if buffers:  # the asyncio adapters prefetch rows into a deque
            results = keep_rows(cursor._rows, RESULT_ROWS_KEPT)
        dialect = _DIALECTS.get(conn.dialect.name, "postgres")
    except Exception:
        rows, results, dialect = None, None, "postgres"
    # The walk for the call site starts at 5: capture_stack (0), record_positional (1), this
    # listener (2), SQLAlchemy's event dispatcher (3) and the Connection method that dispatches
    # (4) are never a call site; materialising their frames would cost a frame object each.
    record_positional(
        state,
        statement,
        parameters,
        started,
        ended - started,
        rows,
        "sqlalchemy",
        dialect,
        executemany,
        None,
        results,
        5,
        orm_label(context),  # the relationship or column the ORM is lazy-loading, if any
    )


_buffering: dict[type, bool] = {}


def _buffers_rows(cursor_type: type) -> bool:
    """Per cursor class, not per query: a failed getattr on a C cursor costs an exception."""
    known = _buffering.get(cursor_type)
    if known is None:
        # a slot (a descriptor on the class): true for SQLAlchemy's asyncio cursor adapters
        known = _buffering[cursor_type] = hasattr(cursor_type, "_rows")
    return known


def _error(context: ExceptionContext) -> None:
    execution = context.execution_context
    pending = execution.__dict__.pop(_PENDING, None) if execution is not None else None
    if pending is None or context.statement is None:
        return
    state, started = pending
    record(
        state,
        context.statement,
        context.parameters,
        started,
        perf_counter() - started,
        source="sqlalchemy",
        dialect=_DIALECTS.get(context.dialect.name, "postgres"),
        error=context.original_exception,
    )


_LISTENERS = (
    ("before_cursor_execute", _before),
    ("after_cursor_execute", _after),
    ("handle_error", _error),
)
_RETURNS_VALUES = frozenset({"before_cursor_execute"})


def instrument_engine(engine: Any) -> Any:
    """Listen on one ``Engine`` or ``AsyncEngine`` (idempotent); returns the engine unchanged."""
    target = getattr(engine, "sync_engine", engine)
    for name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener, retval=name in _RETURNS_VALUES)
    return engine


def uninstrument_engine(engine: Any) -> None:
    target = getattr(engine, "sync_engine", engine)
    for name, listener in _LISTENERS:
        if event.contains(target, name, listener):
            event.remove(target, name, listener)


def instrument_all_engines() -> None:
    """Listen on the ``Engine`` class: every engine, existing or future, sync or asyncio."""
    instrument_engine(Engine)


def uninstrument_all_engines() -> None:
    uninstrument_engine(Engine)
