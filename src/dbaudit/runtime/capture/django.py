"""Django database connections, through Django's own ``connection.execute_wrapper`` hook.

``instrument(connection)`` appends one wrapper to ``connection.execute_wrappers`` for good (the
documented hook is a context manager; keeping it installed is what ``execute_wrapper`` does
inside its ``with`` block). ``instrument_all()`` does it for every alias in
``django.db.connections`` and for connections created later through the
``connection_created`` signal.
"""

from __future__ import annotations

import importlib
from time import perf_counter
from typing import Any

from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.unit import record

_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql"}


def _wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    state = _units._get_state()
    if state is None:
        return execute(sql, params, many, context)
    started = perf_counter()
    try:
        result = execute(sql, params, many, context)
    except BaseException as error:
        record(
            state,
            sql,
            None if many else params,
            started,
            perf_counter() - started,
            source="django",
            dialect=_dialect(context),
            many=many,
            error=error,
        )
        raise
    cursor = context.get("cursor") if isinstance(context, dict) else None
    rows = getattr(cursor, "rowcount", None)
    record(
        state,
        sql,
        None if many else params,
        started,
        perf_counter() - started,
        rows=rows if isinstance(rows, int) else None,
        source="django",
        dialect=_dialect(context),
        many=many,
    )
    return result


def _dialect(context: Any) -> str:
    try:
        return _DIALECTS.get(context["connection"].vendor, "postgres")
    except Exception:
        return "postgres"


def instrument_connection(connection: Any) -> Any:
    if _wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_wrapper)
    return connection


def instrument_all() -> None:
    connections = importlib.import_module("django.db").connections
    connection_created = importlib.import_module("django.db.backends.signals").connection_created
    for connection in connections.all():
        instrument_connection(connection)
    connection_created.connect(_on_created, dispatch_uid="dbaudit.runtime")


def _on_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    instrument_connection(connection)
