"""SQLAlchemy ORM: which relationship or column a statement lazily loaded.

The engine hook (``capture/sqlalchemy.py``) sees every statement but not why the ORM sent it.
The ORM says so in what it hands the engine: its load options ride in the execution options
(``_sa_orm_load_options``: what ``ORMExecuteState.lazy_loaded_from`` reads, set to the parent
object for a lazy load, ``_refresh_state`` for a deferred or expired column load), and the
compiled statement carries the loader path (``Project -> Project.renders``) and the attributes
a refresh loads (what ``loader_strategy_path`` and ``is_column_load`` read). :func:`orm_label`
reads them from the execution context the engine hook already has, and the hook stores the
label in ``QueryEvent.relationship``. ``selectinload`` and ``subqueryload`` are relationship
loads too but never carry ``lazy_loaded_from``: they are the fix, not the bug, and get no label.

Labels:

- ``"Project.renders"``: a collection relationship (one-to-many, many-to-many);
- ``"Render.project (many-to-one)"``, ``"User.profile (one-to-one)"``: a scalar relationship;
- ``"Project.description (deferred)"``: deferred columns loaded on first access;
- ``"Project (expired)"``: attributes expired (by a commit, ``expire()``) reloaded on access.

Why not the Session's ``do_orm_execute`` event, the documented way to see ``lazy_loaded_from``:
any listener on it makes SQLAlchemy prepare every ORM execution twice, about 4 µs per
``session.execute`` whether a unit is active or not (``benchmarks/orm_lazy_load_labels.py``).
Read from the execution context, labels cost nothing outside a unit and, inside one, a
dictionary lookup per statement (two attribute reads more for an ORM SELECT).
"""

from __future__ import annotations

from typing import Any


def orm_label(context: Any) -> str | None:
    """The label of the statement an engine hook is recording, from its execution context
    (None for anything but an ORM lazy load or column load). Called only while a unit is
    active; never raises."""
    try:
        options = context.execution_options.get("_sa_orm_load_options")
        if options is None:
            return None  # Core, text(), DML
        if options._lazy_loaded_from is not None:
            return relationship_label(_compile_options(context)._current_path)
        refreshed = options._refresh_state
        if refreshed is not None:
            loading = getattr(_compile_options(context), "_only_load_props", None)
            return columns_label(refreshed.mapper, loading)
    except Exception:  # a label is a nicety: an ORM of another shape must not cost the event
        return None
    return None


def _compile_options(context: Any) -> Any:
    return context.compiled.statement._compile_options


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


def columns_label(mapper: Any, keys: Any) -> str:
    """``"Project.description (deferred)"`` when only deferred columns load, else
    ``"Project (expired)"`` (a refresh loads every expired attribute at once)."""
    owner = mapper.class_.__name__
    columns = [key for key in sorted(keys or ()) if key in mapper.column_attrs]
    if not columns or not all(mapper.column_attrs[key].deferred for key in columns):
        return f"{owner} (expired)"
    return ", ".join(f"{owner}.{key}" for key in columns) + " (deferred)"
