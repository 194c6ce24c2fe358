"""Capture adapters: each hooks one database API and only emits ``QueryEvent``s.

Every adapter follows the same shape: one ``ContextVar`` read (``unit.active()``) decides whether
anything happens at all; when a unit is active the statement is timed and handed to
``unit.record``, which never raises. Adapters never change the statement, its parameters or its
result.

SQLAlchemy takes two hooks installed together (:func:`instrument_sqlalchemy`): the engine's
cursor events record every statement, and the Session's ORM event labels the ones that lazily
load a relationship or a column (``capture/sqlalchemy_orm.py``).
"""

from __future__ import annotations

from typing import Any


def instrument_sqlalchemy(engine: Any = None) -> Any:
    """Hook ``engine`` (``None``: every engine, existing or future) and the ORM's lazy-load
    labels; returns the engine unchanged."""
    from dbaudit.runtime.capture import sqlalchemy, sqlalchemy_orm

    sqlalchemy_orm.install()
    if engine is None:
        sqlalchemy.instrument_all_engines()
        return None
    return sqlalchemy.instrument_engine(engine)


def uninstrument_sqlalchemy(engine: Any = None) -> None:
    """Remove the listeners of ``engine`` (``None``: the global ones, ORM labels included)."""
    from dbaudit.runtime.capture import sqlalchemy, sqlalchemy_orm

    if engine is None:
        sqlalchemy.uninstrument_all_engines()
        sqlalchemy_orm.uninstall()
    else:
        sqlalchemy.uninstrument_engine(engine)
