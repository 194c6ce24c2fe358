"""Capture adapters: each hooks one database API and only emits ``QueryEvent``s.

Every adapter follows the same shape: one ``ContextVar`` read (``unit._get_state()``, read as a
module attribute: while a unit takes the statements of threads with no unit of their own it is
rebound to return that unit where the context has none) decides whether anything happens at
all; when a unit is active the statement is timed and handed to
``unit.record``, which never raises (SQLAlchemy's hook, the hottest, does ``record``'s work
inline: the same event, one call of 13 arguments less per statement). Adapters never change the
statement, its parameters or its result.

SQLAlchemy's engine hook also labels the statements the ORM sent to lazily load a relationship
or a column (``capture/sqlalchemy_orm.py``), from the execution context it already has: no
Session listener, so nothing more to install.
"""

from __future__ import annotations

from typing import Any


def instrument_sqlalchemy(engine: Any = None) -> Any:
    """Hook ``engine`` (``None``: every engine, existing or future); returns it unchanged."""
    from dbaudit.runtime.capture import sqlalchemy

    if engine is None:
        sqlalchemy.instrument_all_engines()
        return None
    return sqlalchemy.instrument_engine(engine)


def uninstrument_sqlalchemy(engine: Any = None) -> None:
    """Remove the hooks of ``engine`` (``None``: the global ones)."""
    from dbaudit.runtime.capture import sqlalchemy

    if engine is None:
        sqlalchemy.uninstrument_all_engines()
    else:
        sqlalchemy.uninstrument_engine(engine)


def put_back(owner: Any, name: str, ours: Any, original: Any) -> None:
    """``owner.name`` back to ``original`` where a hook had put ``ours`` (a wrapper on a
    library's class): when another library has wrapped it since, ours stays inside theirs."""
    if owner.__dict__.get(name) is ours:
        setattr(owner, name, original)
