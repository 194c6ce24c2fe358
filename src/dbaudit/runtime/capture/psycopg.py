"""psycopg 3 connections, sync and async, in place: the connection's ``cursor_factory`` becomes a
subclass of the one it had, so ``conn.execute``, ``conn.cursor()`` and the caller's own cursor
subclass all keep working, and the connection object stays the one the application holds."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.unit import record_positional

_MARK = "__dbaudit_profiled__"


def _text(query: Any, cursor: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode(errors="replace")
    try:
        return str(query.as_string(cursor.connection))  # psycopg.sql.Composed
    except Exception:
        return str(query)


def _rowcount(cursor: Any) -> int | None:
    count = getattr(cursor, "rowcount", -1)
    return count if isinstance(count, int) and count >= 0 else None


def _record(
    state: Any,
    query: Any,
    cursor: Any,
    params: Any,
    started: float,
    *,
    rows: int | None,
    many: bool = False,
    error: BaseException | None = None,
) -> None:
    """The one event both cursor classes emit (the async twin differs only in ``await``)."""
    # the call-site walk starts at the cursor method's caller: capture_stack (0),
    # record_positional (1), this function (2), the cursor method (3)
    record_positional(
        state,
        _text(query, cursor),
        params,
        started,
        perf_counter() - started,
        rows,
        "psycopg",
        "postgres",
        many,
        error,
        None,
        4,
    )


def _sync_cursor_class(base: Any) -> type:
    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        state = _units._get_state()
        if state is None:
            return base.execute(self, query, params, **kwargs)
        started = perf_counter()
        try:
            result = base.execute(self, query, params, **kwargs)
        except BaseException as error:
            _record(state, query, self, params, started, rows=None, error=error)
            raise
        _record(state, query, self, params, started, rows=_rowcount(self))
        return result

    def executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        state = _units._get_state()
        if state is None:
            return base.executemany(self, query, params_seq, **kwargs)
        started = perf_counter()
        try:
            return base.executemany(self, query, params_seq, **kwargs)
        finally:
            _record(state, query, self, None, started, rows=_rowcount(self), many=True)

    namespace = {"__slots__": (), "execute": execute, "executemany": executemany, _MARK: True}
    return type(f"Profiled{base.__name__}", (base,), namespace)


def _async_cursor_class(base: Any) -> type:
    async def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        state = _units._get_state()
        if state is None:
            return await base.execute(self, query, params, **kwargs)
        started = perf_counter()
        try:
            result = await base.execute(self, query, params, **kwargs)
        except BaseException as error:
            _record(state, query, self, params, started, rows=None, error=error)
            raise
        _record(state, query, self, params, started, rows=_rowcount(self))
        return result

    async def executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        state = _units._get_state()
        if state is None:
            return await base.executemany(self, query, params_seq, **kwargs)
        started = perf_counter()
        try:
            return await base.executemany(self, query, params_seq, **kwargs)
        finally:
            _record(state, query, self, None, started, rows=_rowcount(self), many=True)

    namespace = {"__slots__": (), "execute": execute, "executemany": executemany, _MARK: True}
    return type(f"Profiled{base.__name__}", (base,), namespace)


_classes: dict[type, type] = {}


def instrument_connection(connection: Any) -> Any:
    """Profile a ``psycopg.Connection`` or ``psycopg.AsyncConnection`` in place (idempotent)."""
    import psycopg

    base = connection.cursor_factory
    if getattr(base, _MARK, False):
        return connection
    profiled = _classes.get(base)
    if profiled is None:
        is_async = isinstance(connection, psycopg.AsyncConnection)
        profiled = (_async_cursor_class if is_async else _sync_cursor_class)(base)
        _classes[base] = profiled
    connection.cursor_factory = profiled
    return connection
