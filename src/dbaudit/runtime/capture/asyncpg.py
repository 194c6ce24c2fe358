"""asyncpg connections and pools.

asyncpg's own ``add_query_logger`` calls back later through ``loop.call_soon``, after the caller's
frames and context are gone, so it cannot say which unit or line issued a query. Instead the
connection's class is swapped for a subclass (``__slots__ = ()``, so the layout is identical)
whose query methods time the call. For a pool, its connection class is swapped the same way so
connections opened later are profiled too. The results the caller gets back are also hashed
(bounded) so the sequential-query detector can tell dependent queries from independent ones.
"""

from __future__ import annotations

import os
import sys
from time import perf_counter
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from asyncpg.pool import Pool  # type: ignore[import-untyped]

from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.events import Results
from dbaudit.runtime.unit import keep_rows, record

RESULT_ROWS_KEPT = 1000  # larger results are not kept (bounded memory): seen as unknown
_ASYNCPG_DIR = os.path.dirname(asyncpg.__file__) + os.sep
_HOUSEKEEPING = frozenset({"reset"})  # Connection.reset runs the pool's reset query
_MARK = "__dbaudit_profiled__"


def _called_by_asyncpg() -> bool:
    """The pool's own housekeeping (``RESET ALL`` on release, ...) is not the application's."""
    caller = sys._getframe(2).f_code
    return caller.co_name in _HOUSEKEEPING and caller.co_filename.startswith(_ASYNCPG_DIR)


def _results(value: Any, kind: str) -> Results | None:
    try:
        if kind == "rows":
            return keep_rows(value, RESULT_ROWS_KEPT)
        if kind == "row":
            return Results([value] if value is not None else [])
        if kind == "value":
            return Results([(value,)])
    except Exception:
        return None
    return None


def _profiled(base_class: type, name: str, kind: str) -> Any:
    original = getattr(base_class, name)

    async def method(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        state = _units._get_state()
        if state is None or _called_by_asyncpg():
            return await original(self, query, *args, **kwargs)
        started = perf_counter()
        try:
            result = await original(self, query, *args, **kwargs)
        except BaseException as error:
            record(
                state, query, args, started, perf_counter() - started, source="asyncpg", error=error
            )
            raise
        duration = perf_counter() - started
        rows = len(result) if kind == "rows" else None
        record(
            state,
            query,
            args,
            started,
            duration,
            rows=rows,
            source="asyncpg",
            result_hashes=_results(result, kind),
        )
        return result

    method.__name__ = name
    return method


def _profiled_executemany(base_class: type) -> Any:
    original = base_class.executemany  # type: ignore[attr-defined]

    async def executemany(self: Any, command: str, args: Any, **kwargs: Any) -> Any:
        state = _units._get_state()
        if state is None or _called_by_asyncpg():
            return await original(self, command, args, **kwargs)
        started = perf_counter()
        try:
            return await original(self, command, args, **kwargs)
        finally:
            record(
                state, command, None, started, perf_counter() - started, source="asyncpg", many=True
            )

    return executemany


_classes: dict[type, type] = {}


def profiled_class(base: type) -> type:
    """A subclass of an asyncpg ``Connection`` class whose query methods are timed."""
    if getattr(base, _MARK, False):
        return base
    profiled = _classes.get(base)
    if profiled is None:
        namespace: dict[str, Any] = {
            "__slots__": (),
            _MARK: True,
            "execute": _profiled(base, "execute", "status"),
            "fetch": _profiled(base, "fetch", "rows"),
            "fetchrow": _profiled(base, "fetchrow", "row"),
            "fetchval": _profiled(base, "fetchval", "value"),
            "executemany": _profiled_executemany(base),
        }
        profiled = type(f"Profiled{base.__name__}", (base,), namespace)
        _classes[base] = profiled
    return profiled


def instrument_connection(connection: asyncpg.Connection) -> asyncpg.Connection:
    connection.__class__ = profiled_class(type(connection))
    return connection


def instrument_pool(pool: Pool) -> Pool:
    """Profile the pool's current connections and every connection it opens later."""
    pool._connection_class = profiled_class(pool._connection_class)
    for holder in pool._holders:
        if holder._con is not None:
            instrument_connection(holder._con)
    return pool
