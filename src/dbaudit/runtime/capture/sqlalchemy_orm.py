"""SQLAlchemy ORM: which relationship or column a statement lazily loaded.

The engine hooks (``capture/sqlalchemy.py``) see every statement but not why the ORM sent it.
The Session's ``do_orm_execute`` event does: a lazy load carries ``lazy_loaded_from`` (the parent
object) and a ``loader_strategy_path`` ending in the relationship, and a deferred or expired
column load carries ``is_column_load``. ``selectinload`` and ``subqueryload`` also report
``is_relationship_load`` but never ``lazy_loaded_from``: keying on the flag alone would report
the fix as the bug, so only lazy loads are labelled.

While such a statement runs, :data:`LOADING` holds its label, and the engine hook copies it into
``QueryEvent.relationship``. Labels:

- ``"Project.renders"``: a collection relationship (one-to-many, many-to-many);
- ``"Render.project (many-to-one)"``, ``"User.profile (one-to-one)"``: a scalar relationship;
- ``"Project.description (deferred)"``: deferred columns loaded on first access;
- ``"Project (expired)"``: attributes expired (by a commit, ``expire()``) reloaded on access.

When no unit is active the listener costs one ``ContextVar.get`` per ORM execution (next to the
hundreds of microseconds the ORM spends on it), and nothing at all before :func:`install`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dbaudit.runtime.unit import _STATE

if TYPE_CHECKING:
    from sqlalchemy.orm import ORMExecuteState

LOADING: ContextVar[str | None] = ContextVar("dbaudit_orm_loading", default=None)

_EVENT = "do_orm_execute"


def _on_orm_execute(orm_state: ORMExecuteState) -> Any:
    if _STATE.get() is None:
        return None  # no unit: the ORM goes on as if nobody listened
    try:
        label = load_label(orm_state)
    except Exception:  # a label is a nicety: never let it break the application's query
        label = None
    if label is None:
        return None
    token = LOADING.set(label)
    try:
        # Runs the statement now (and any listeners registered after this one), so the engine
        # hook sees it while the label is set; the loader consumes the returned result as usual.
        return orm_state.invoke_statement()
    finally:
        LOADING.reset(token)


def load_label(orm_state: ORMExecuteState) -> str | None:
    """The label of a lazy relationship load or a column load, None for any other statement."""
    if orm_state.lazy_loaded_from is not None:
        return relationship_label(orm_state.loader_strategy_path)
    if orm_state.is_column_load:
        return column_label(orm_state)
    return None


def relationship_label(path: Any) -> str | None:
    """``"Project.renders"`` from the loader path ``Project -> Project.renders``."""
    if path is None or not len(path):
        return None
    prop = path[-1]
    key = getattr(prop, "key", None)
    owner = getattr(getattr(prop, "parent", None), "class_", None)
    if key is None or owner is None:
        return None
    label = f"{owner.__name__}.{key}"
    if getattr(prop, "uselist", True):
        return label
    direction = getattr(getattr(prop, "direction", None), "name", "")
    return f"{label} ({'many-to-one' if direction == 'MANYTOONE' else 'one-to-one'})"


def column_label(orm_state: ORMExecuteState) -> str | None:
    """``"Project.description (deferred)"`` or ``"Project (expired)"``."""
    mapper = orm_state.bind_mapper
    if mapper is None:
        return None
    # Which attributes this load fetches: not public API, so read defensively; without it the
    # label names the class only.
    options = getattr(orm_state.statement, "_compile_options", None)
    return columns_label(mapper, getattr(options, "_only_load_props", None))


def orm_label(context: Any) -> str | None:
    """The label of the statement an engine hook is recording, read from its execution context
    (``None`` for anything but an ORM lazy load or column load).

    The ORM passes its load options to the engine in the execution options
    (``_sa_orm_load_options``, what ``ORMExecuteState.lazy_loaded_from`` reads), and the compiled
    statement carries the loader path and the refreshed attributes (what
    ``loader_strategy_path`` and ``is_column_load`` read). Reading them here needs no Session
    listener, so an application pays nothing for labels outside a unit: any ``do_orm_execute``
    listener makes SQLAlchemy prepare every ORM execution twice (about 4 µs each, measured
    with benchmarks/orm_lazy_load_labels.py). Called only while a unit is active; a Core
    statement costs one dictionary lookup, a plain ORM SELECT two attribute reads more.
    """
    try:
        options = context.execution_options.get("_sa_orm_load_options")
        if options is None:
            return None
        if options._lazy_loaded_from is not None:
            return relationship_label(_compile_options(context)._current_path)
        refreshed = options._refresh_state
        if refreshed is not None:
            only = getattr(_compile_options(context), "_only_load_props", None)
            return columns_label(refreshed.mapper, only)
    except Exception:  # a label is a nicety: an unexpected ORM must not cost the event
        return None
    return None


def _compile_options(context: Any) -> Any:
    return context.compiled.statement._compile_options


def columns_label(mapper: Any, keys: Any) -> str:
    """``"Project.description (deferred)"`` when only deferred columns load, else
    ``"Project (expired)"``."""
    owner = mapper.class_.__name__
    columns = [key for key in sorted(keys or ()) if key in mapper.column_attrs]
    if not columns or not all(mapper.column_attrs[key].deferred for key in columns):
        return f"{owner} (expired)"  # a refresh loads every expired attribute at once
    return ", ".join(f"{owner}.{key}" for key in columns) + " (deferred)"


def install() -> None:
    """Listen on the ``Session`` class: every session, sync or behind an ``AsyncSession``
    (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, _EVENT, _on_orm_execute):
        event.listen(Session, _EVENT, _on_orm_execute)


def uninstall() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if event.contains(Session, _EVENT, _on_orm_execute):
        event.remove(Session, _EVENT, _on_orm_execute)
