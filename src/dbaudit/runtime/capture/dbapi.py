"""Any DB-API 2 connection (sqlite3, psycopg2, PyMySQL, ...) through a thin proxy.

C-implemented connections such as ``sqlite3.Connection`` accept no new attributes and no
subclass swap, so :func:`wrap_connection` returns a proxy: ``cursor()``, ``execute()`` and
``executemany()`` are timed, everything else (``commit``, ``row_factory``, fetch methods,
iteration) goes straight to the real object.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter
from typing import Any

from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.unit import record_positional

_new_object = object.__new__


class ProfiledCursor:
    __slots__ = ("_cursor", "_dialect", "_source")

    def __init__(self, cursor: Any, source: str, dialect: str) -> None:
        self._cursor = cursor
        self._source = source
        self._dialect = dialect

    def execute(self, operation: Any, parameters: Any = None, *args: Any, **kwargs: Any) -> Any:
        if _units._get_state() is None and not args and not kwargs:  # no unit: straight through
            cursor = self._cursor
            if parameters is None:
                result = cursor.execute(operation)
            else:
                result = cursor.execute(operation, parameters)
            return self if result is cursor else result
        return self._run(self._cursor.execute, False, operation, parameters, args, kwargs)

    def executemany(self, operation: Any, seq_of_parameters: Any, *args: Any, **kw: Any) -> Any:
        return self._run(self._cursor.executemany, True, operation, seq_of_parameters, args, kw)

    def _run(
        self, method: Any, many: bool, operation: Any, params: Any, args: Any, kwargs: Any
    ) -> Any:
        call_args = (operation,) if params is None and not many else (operation, params)
        state = _units._get_state()
        if state is None:
            result = method(*call_args, *args, **kwargs)
            return self if result is self._cursor else result
        # The call-site walk starts past capture_stack (0), record_positional (1), this method
        # (2) and execute/executemany (3, or ProfiledConnection.execute): at their caller.
        started = perf_counter()
        try:
            result = method(*call_args, *args, **kwargs)
        except BaseException as error:
            duration = perf_counter() - started
            sql = _text(operation)
            source, dialect = self._source, self._dialect
            record_positional(
                state, sql, params, started, duration, None, source, dialect, many, error, None, 4
            )
            raise
        duration = perf_counter() - started
        record_positional(
            state,
            operation if type(operation) is str else _text(operation),
            params,
            started,
            duration,
            _rowcount(self._cursor),
            self._source,
            self._dialect,
            many,
            None,
            None,
            4,
        )
        return self if result is self._cursor else result

    # The fetch methods, spelled out: through __getattr__ each call would first fail the
    # normal lookup (an AttributeError raised and caught in C) before reaching the cursor.
    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> Any:
        return self._cursor.fetchall()

    def fetchmany(self, *args: Any, **kwargs: Any) -> Any:
        return self._cursor.fetchmany(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __enter__(self) -> ProfiledCursor:
        self._cursor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._cursor.__exit__(*exc)


class ProfiledConnection:
    __slots__ = ("_connection", "_dialect", "_source")

    def __init__(self, connection: Any, source: str = "dbapi", dialect: str = "postgres") -> None:
        self._connection = connection
        self._source = source
        self._dialect = dialect

    def cursor(self, *args: Any, **kwargs: Any) -> ProfiledCursor:
        return ProfiledCursor(self._connection.cursor(*args, **kwargs), self._source, self._dialect)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        # sqlite3's shortcut: a new cursor per call, returned to the caller (a proxy, so that
        # its later statements are seen too); ProfiledCursor.execute's work, one call less
        raw = self._connection.cursor()
        # ProfiledCursor(raw, self._source, self._dialect) without the Python __init__ call
        cursor = _new_object(ProfiledCursor)
        cursor._cursor = raw
        cursor._source = self._source
        cursor._dialect = self._dialect
        if _units._get_state() is None:  # no unit: straight through
            if parameters is None:
                result = raw.execute(operation)
            else:
                result = raw.execute(operation, parameters)
            return cursor if result is raw else result
        # the same frames under the walk's start as through cursor.execute (see _run)
        return cursor._run(raw.execute, False, operation, parameters, (), {})

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return self.cursor().executemany(operation, seq_of_parameters)

    @property
    def wrapped(self) -> Any:
        """The real connection, for APIs that insist on its exact type."""
        return self._connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ProfiledConnection.__slots__:
            object.__setattr__(self, name, value)
        else:  # row_factory, isolation_level, autocommit ... belong to the real connection
            setattr(self._connection, name, value)

    def __enter__(self) -> ProfiledConnection:
        self._connection.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._connection.__exit__(*exc)


def wrap_connection(connection: Any) -> ProfiledConnection:
    """A profiled proxy for a DB-API connection (returned as is if it is one already)."""
    if isinstance(connection, ProfiledConnection):
        return connection
    module = type(connection).__module__.split(".")[0]
    source = {"sqlite3": "sqlite3", "psycopg2": "psycopg2", "pymysql": "pymysql"}.get(
        module, "dbapi"
    )
    dialect = {"sqlite3": "sqlite", "pymysql": "mysql", "MySQLdb": "mysql"}.get(module, "postgres")
    return ProfiledConnection(connection, source, dialect)


def _text(operation: Any) -> str:
    if isinstance(operation, str):
        return operation
    if isinstance(operation, bytes):
        return operation.decode(errors="replace")
    return str(operation)


def _rowcount(cursor: Any) -> int | None:
    try:
        count = cursor.rowcount
    except Exception:
        return None
    return count if isinstance(count, int) and count >= 0 else None
