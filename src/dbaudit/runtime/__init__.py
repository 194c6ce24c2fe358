"""The runtime profiler: watch real queries as an app or a test suite runs, and judge them.

>>> import sqlite3, dbaudit.runtime as rt
>>> connection = rt.instrument(sqlite3.connect(":memory:"))
>>> with rt.profile("example") as unit:
...     for key in range(3):
...         _ = connection.execute("SELECT ? + 1", (key,)).fetchone()
>>> unit.query_count, [f.rule for f in unit.findings]
(3, ['DBA101'])

``instrument(target)`` hooks an engine or a connection and returns what the application should
use from then on (the same object, except for DB-API connections such as ``sqlite3`` whose class
cannot be extended: those come back wrapped in a proxy). ``instrument()`` with no argument hooks
every SQLAlchemy engine, existing or future.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbaudit.runtime.budgets import (
        DbTimeBudgetExceeded,
        QueryCountMismatch,
        assert_max_db_time,
        assert_num_queries,
    )
    from dbaudit.runtime.detect import DetectConfig, Detection, Suppressed, detect
    from dbaudit.runtime.events import CallSite, QueryEvent
    from dbaudit.runtime.unit import (
        QueryBudgetExceeded,
        QueryProblem,
        Unit,
        assert_max_queries,
        current_unit,
        ignore,
        no_n_plus_one,
        profile,
        profiler_errors,
    )

# Exported lazily: the pytest plugin imports this package in every test run, and a run that does
# not use dbaudit must not pay for importing sqlglot.
_EXPORTS = {
    "DbTimeBudgetExceeded": "budgets",
    "assert_max_db_time": "budgets",
    "QueryCountMismatch": "budgets",
    "assert_num_queries": "budgets",
    "DetectConfig": "detect",
    "Detection": "detect",
    "Suppressed": "detect",
    "detect": "detect",
    "CallSite": "events",
    "QueryEvent": "events",
    "QueryBudgetExceeded": "unit",
    "QueryProblem": "unit",
    "Unit": "unit",
    "assert_max_queries": "unit",
    "current_unit": "unit",
    "ignore": "unit",
    "no_n_plus_one": "unit",
    "profile": "unit",
    "profiler_errors": "unit",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dbaudit.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dbaudit.runtime.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CallSite",
    "DbTimeBudgetExceeded",
    "DetectConfig",
    "Detection",
    "QueryBudgetExceeded",
    "QueryCountMismatch",
    "QueryEvent",
    "QueryProblem",
    "Suppressed",
    "Unit",
    "assert_max_db_time",
    "assert_max_queries",
    "assert_num_queries",
    "current_unit",
    "detect",
    "ignore",
    "instrument",
    "no_n_plus_one",
    "profile",
    "profiler_errors",
    "uninstrument",
]


def instrument(target: Any = None) -> Any:
    """Hook ``target`` so its queries reach the active unit; returns the object to use."""
    module = type(target).__module__
    if target is None or module.startswith("sqlalchemy"):
        from dbaudit.runtime.capture import instrument_sqlalchemy

        return instrument_sqlalchemy(target)
    if module.startswith("asyncpg"):
        from dbaudit.runtime.capture import asyncpg as asyncpg_capture

        if module.startswith("asyncpg.pool") and hasattr(target, "_holders"):
            return asyncpg_capture.instrument_pool(target)
        return asyncpg_capture.instrument_connection(target)
    if module.startswith("psycopg.") or module == "psycopg":
        from dbaudit.runtime.capture.psycopg import instrument_connection

        return instrument_connection(target)
    if hasattr(target, "execute_wrappers") and module.startswith("django"):
        from dbaudit.runtime.capture.django import instrument_connection as django_connection

        return django_connection(target)
    if callable(getattr(target, "cursor", None)):
        from dbaudit.runtime.capture.dbapi import wrap_connection

        return wrap_connection(target)
    raise TypeError(
        f"dbaudit cannot instrument {type(target).__qualname__}: expected a SQLAlchemy engine, "
        "an asyncpg connection or pool, a psycopg or Django connection, or a DB-API connection"
    )


def uninstrument(target: Any = None) -> None:
    """Remove SQLAlchemy listeners (``None``: the global ones). Connections need no undoing:
    their hooks cost one ContextVar read when no unit is active."""
    from dbaudit.runtime.capture import uninstrument_sqlalchemy

    uninstrument_sqlalchemy(target)
