"""SQLAlchemy engines, sync and asyncio, through the three methods of the engine's dialect that
hand a statement to the driver.

Every statement an engine sends (ORM, Core, ``text()``, ``exec_driver_sql``, sequences and
defaults, each batch of an "insertmanyvalues" INSERT) reaches the DB-API cursor through
``do_execute``, ``do_executemany`` or ``do_execute_no_params`` of its dialect, with the exact
SQL and parameters the driver gets (nplusone and queryspy hook the ORM instead and miss Core
and text queries). :func:`instrument_engine` replaces those three on the engine's dialect object
(never on the class) with wrappers that read one ``ContextVar`` and, when no unit is active,
call straight through: one Python call per statement, nothing else.

Why not SQLAlchemy's ``before_cursor_execute`` / ``after_cursor_execute`` events, which see the
same statement: listening to any engine event switches on SQLAlchemy's event dispatch at every
dispatch point of every execution, for good (removing the listener leaves it on). Measured on
the sqlite ORM workload of ``benchmarks/runtime_overhead.py``: 2-5 µs per query for the dispatch
alone with no listener left, 2 µs more for the two listeners, with no unit active; the dialect
wrappers cost 0.1-0.2 µs there, and 2 µs less than the listeners with a unit active.

:func:`instrument_all_engines` (every engine, existing or future) cannot list the engines, so it
listens to the connection pool's ``checkout`` event (pool events leave the engine's dispatch
off; one call per connection checkout, not per statement) and hooks the dialect of each engine
the first time it hands out a connection. Statements on a connection that was already checked
out when it was called are not seen until that connection goes back to the pool.

On an engine's first connection the dialect asks the server for its version, schema and
settings. SQLAlchemy runs those statements on a Connection made for that alone (no autobegin,
engine events off): they are SQLAlchemy's, not the application's, and are not recorded.
"""

from __future__ import annotations

import dis
import threading
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.engine.interfaces import ExecuteStyle
from sqlalchemy.pool import Pool

from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.callsite import MAX_STACK, capture_stack, library_callers
from dbaudit.runtime.capture.sqlalchemy_orm import orm_label
from dbaudit.runtime.events import QueryEvent, Results
from dbaudit.runtime.unit import (
    _STATE,
    _fingerprint,
    _loops,
    _new_event,
    _note_failure,
    _sequence,
    _task_now,
    _task_of,
    _thread_id,
    _with_values,
    fingerprint_cache,
    hash_values,
    keep_rows,
    record_positional,
)

RESULT_ROWS_KEPT = 1000  # larger results are not kept (bounded memory): seen as unknown
# The call-site walk starts this many frames above ``record_positional``, past frames that are
# never a call site (``do_execute`` records inline and passes one less: its own frame is the
# wrapper's): capture_stack (0), record_positional (1), the wrapper (2), the Connection
# method that calls the dialect (3: ``_exec_single_context``, ``_exec_insertmany_context``,
# ``_cursor_execute``), its caller (4: ``_execute_context``, ``_execute_scalar``, a dialect's
# ``pre_exec``) and that one's caller (5: ``_execute_clauseelement``, ``_execute_ddl``,
# ``exec_driver_sql``, ``get_insert_default`` ...): SQLAlchemy 2's private call structure,
# where only frame 6 can be the application's (``exec_driver_sql``'s caller). Each frame
# skipped is a frame object never built and three attribute reads never made.
_SKIP = 5
# A compiled statement (anything but ``exec_driver_sql`` and a default executed on its own)
# came through ``_execute_clauseelement`` or ``_execute_ddl`` (5), an ``_execute_on_connection``
# or ``_execute_function`` (6) and ``Connection.execute`` or ``scalar`` or a function's
# ``_execute_on_connection`` (7); or, for a default or a dialect's pre/post-execution
# statement, through frames of the statement's execution deeper still. Frame 8 is the first
# that can be the application's. (tests/runtime/test_capture_sqlalchemy.py compares the chains
# of every execution path with a walk that reads every frame.)
_SKIP_COMPILED = 8
# A statement the Session's ORM sent carries this execution option (set by the ORM's
# ``orm_pre_session_exec``): frame 8 is an ``orm_execute_statement``, 9 is
# ``Session._execute_internal`` and 10 the Session method the application (or the ORM itself:
# a lazy load, ``Query``, ``get``) called, or ``ORMExecuteState.invoke_statement``; the bulk
# paths that carry it are deeper still. Frame 11 is the first that can be the application's.
_ORM_SESSION = "_result_disable_adapt_to_context"
_SKIP_SESSION = 11
_ORM_LOAD_OPTIONS = "_sa_orm_load_options"  # orm_label reads these first

_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql"}
_METHODS = ("do_execute", "do_executemany", "do_execute_no_params", "initialize")
_HOOK = "_dbaudit_hook"  # attribute of a hooked dialect object: its _Hook
_INSERTMANYVALUES = ExecuteStyle.INSERTMANYVALUES

Executor = Callable[..., Any]


class _Hook:
    """What was replaced on one dialect object, and who asked for it: an explicit
    :func:`instrument_engine` (``engines``) and/or :func:`instrument_all_engines`
    (``everywhere``). The methods come back when neither wants them any more."""

    __slots__ = ("engines", "everywhere", "originals")

    def __init__(self, originals: dict[str, Executor]) -> None:
        self.originals = originals
        self.engines = False
        self.everywhere = False


# Dialects hooked by instrument_all_engines, to unhook when it is undone; weak: an engine that
# is garbage collected takes its dialect along.
_hooked_everywhere: weakref.WeakSet[DefaultDialect] = weakref.WeakSet()
_hooking = threading.Lock()
_cursor_kinds: dict[type, int] = {}  # see _cursor_kind
_KEEPS_ROWS = 1
_READ_SLOTS = 2


def _register_library_callers() -> None:
    """SQLAlchemy 2's private call structure, for the call-site walk (see
    ``callsite.library_callers``): the frames between a statement and the application that
    are SQLAlchemy's whatever the application called. A function this version of SQLAlchemy
    does not have is left out (the walk then reads those frames, as for any library)."""
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.base import CompileState

    # called by an _execute_on_connection (or _execute_function), called by Connection.execute
    # or scalar (or a function's _execute_on_connection): two frames of SQLAlchemy's above it
    known = [(getattr(Connection, "_execute_clauseelement", None), 2)]
    # called by Session._execute_internal, called by Session.execute / scalar / scalars /
    # ORMExecuteState.invoke_statement (the ORM's statements, bulk DML's overrides included)
    states: list[type] = [CompileState]
    while states:
        state = states.pop()
        states.extend(state.__subclasses__())
        known.append((state.__dict__.get("orm_execute_statement"), 2))
    # called by Session.execute, scalar, scalars or ORMExecuteState.invoke_statement
    known.append((getattr(Session, "_execute_internal", None), 1))
    for function, levels in known:
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if code is not None:
            library_callers(code, levels)


def instrument_engine(engine: Any) -> Any:
    """Hook one ``Engine`` or ``AsyncEngine`` (idempotent); returns the engine unchanged.
    Engines made from it with ``execution_options()`` share its dialect, and so its hook."""
    if isinstance(engine, type):  # the ``Engine`` class, as ``instrument_engine(Engine)`` did
        instrument_all_engines()
        return engine
    _hook(_dialect_of(engine)).engines = True
    return engine


def uninstrument_engine(engine: Any) -> None:
    if isinstance(engine, type):
        uninstrument_all_engines()
        return
    dialect = _dialect_of(engine)
    hook: _Hook | None = dialect.__dict__.get(_HOOK)
    if hook is not None:
        hook.engines = False
        if not hook.everywhere:
            _unhook(dialect)


def instrument_all_engines() -> None:
    """Every engine, existing or future, sync or asyncio: hooked on its next connection checkout."""
    if not event.contains(Pool, "checkout", _on_checkout):
        event.listen(Pool, "checkout", _on_checkout)


def uninstrument_all_engines() -> None:
    if event.contains(Pool, "checkout", _on_checkout):
        event.remove(Pool, "checkout", _on_checkout)
    for dialect in list(_hooked_everywhere):
        hook: _Hook | None = dialect.__dict__.get(_HOOK)
        if hook is not None:
            hook.everywhere = False
            if not hook.engines:
                _unhook(dialect)
    _hooked_everywhere.clear()


_register_library_callers()


def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    try:
        dialect = proxy._pool._dialect  # the engine's dialect (create_engine sets it)
        hook = dialect.__dict__.get(_HOOK)
        if hook is not None and hook.everywhere:
            return  # every checkout after the first: one dict lookup
        if isinstance(dialect, DefaultDialect):  # not the stub of a pool made by hand
            _hook(dialect).everywhere = True
            _hooked_everywhere.add(dialect)
    except Exception:  # never fail a checkout: that engine just goes unprofiled
        return


def _dialect_of(engine: Any) -> DefaultDialect:
    dialect: DefaultDialect = getattr(engine, "sync_engine", engine).dialect
    return dialect


def _hook(dialect: DefaultDialect) -> _Hook:
    hook: _Hook | None = dialect.__dict__.get(_HOOK)
    if hook is not None:
        return hook
    with _hooking:  # two threads' first checkouts of one engine: one hook, not a hook's hook
        hook = dialect.__dict__.get(_HOOK)
        return hook if hook is not None else _new_hook(dialect)


def _new_hook(dialect: DefaultDialect) -> _Hook:
    originals = {name: getattr(dialect, name) for name in _METHODS}
    hook = _Hook(originals)
    name = _DIALECTS.get(dialect.name, "postgres")
    direct = _is_sqlalchemys(type(dialect).do_execute)
    # only the asyncio adapters' cursors buffer rows: a sync dialect's are never looked at
    buffering = bool(getattr(dialect, "is_async", False))
    replaced = dialect.__dict__
    replaced["do_execute"] = _single(originals["do_execute"], name, direct, buffering)
    replaced["do_executemany"] = _many(originals["do_executemany"], name)
    replaced["do_execute_no_params"] = _no_params(originals["do_execute_no_params"], name)
    replaced["initialize"] = _initialize(originals["initialize"])
    replaced[_HOOK] = hook
    return hook


def _unhook(dialect: DefaultDialect) -> None:
    hook: _Hook | None = dialect.__dict__.pop(_HOOK, None)
    if hook is None:
        return
    for name in hook.originals:
        dialect.__dict__.pop(name, None)  # the class's method shows through again


def _initialize(original: Executor) -> Executor:
    """While the dialect runs its checks on the engine's first connection, no unit is active
    in that context: SQLAlchemy's statements, not the application's (see the module
    docstring), and the hooks' one ``ContextVar`` read says so, with no test of their own per
    statement. (Other threads and tasks, in their own contexts, go on recording.)"""

    def initialize(connection: Any) -> Any:
        token = _STATE.set(None)
        try:
            return original(connection)
        finally:
            _STATE.reset(token)

    return initialize


def _is_sqlalchemys(method: Any) -> bool:
    """Whether ``method`` is DefaultDialect's own ``do_execute`` (not a dialect's override,
    not a patch), which is ``cursor.execute(statement, parameters)`` and nothing else."""
    code = getattr(method, "__code__", None)
    return (
        getattr(method, "__module__", None) == "sqlalchemy.engine.default"
        and getattr(method, "__qualname__", None) == "DefaultDialect.do_execute"
        and code is not None
        and code.co_names == ("execute",)
    )


def _single(
    original: Executor, dialect: str, direct: bool = False, buffering: bool = True
) -> Executor:
    """The wrapper of ``do_execute``. ``direct``: the dialect's own is SQLAlchemy's one-line
    ``cursor.execute(statement, parameters)``, which the wrapper then calls itself: one Python
    call less per statement than the hook adds (with no unit active, a hooked engine is a
    fraction of a microsecond faster than an unhooked one)."""

    fingerprints = fingerprint_cache(dialect)
    direct_cursor: Any = None  # the cursor class whose slots are read (see _cursor_kind)

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> Any:
        nonlocal direct_cursor
        state = _units._get_state()
        if state is None:
            if direct:
                cursor.execute(statement, parameters)
                return None  # as DefaultDialect.do_execute
            return original(cursor, statement, parameters, context)
        started = perf_counter()
        try:
            if direct:
                cursor.execute(statement, parameters)
                result = None
            else:
                result = original(cursor, statement, parameters, context)
        except BaseException as error:
            _failed(state, statement, parameters, started, dialect, context, error)
            raise
        duration = perf_counter() - started
        try:
            if not buffering:  # a sync dialect: a C cursor's rowcount, no rows kept
                rows = cursor.rowcount
                if rows is not None and rows < 0:
                    rows = None
                results = None
            elif type(cursor) is direct_cursor:
                # what its rowcount property and keep_rows would return, without the calls
                rows = cursor._rowcount
                if rows < 0:
                    rows = None
                kept = cursor._rows
                results = Results(kept) if len(kept) <= RESULT_ROWS_KEPT else None
            else:  # another asyncio adapter's cursor, or this one's first statement
                rows = cursor.rowcount
                if rows is not None and rows < 0:
                    rows = None
                kind = _cursor_kinds.get(type(cursor))
                if kind is None:
                    kind = _cursor_kind(type(cursor))
                if kind == _READ_SLOTS:
                    direct_cursor = type(cursor)  # from its next statement on
                results = keep_rows(cursor._rows, RESULT_ROWS_KEPT) if kind else None
            if context is None:
                many, relationship, skip = False, None, _SKIP
            else:
                # an "insertmanyvalues" batch of an executemany: many=True, as the events
                # said. (``context.executemany`` says the same through a property comparing
                # enums: 3,000 instructions per query, this identity test 200.)
                many = context.execute_style is _INSERTMANYVALUES
                options = context.execution_options
                # the relationship or column an ORM lazy load loaded (capture/sqlalchemy_orm.py,
                # which starts from the ORM's load options: without them, not worth a call)
                relationship = orm_label(context) if _ORM_LOAD_OPTIONS in options else None
                if context.compiled is None:
                    skip = _SKIP
                elif _ORM_SESSION in options:
                    skip = _SKIP_SESSION
                else:
                    skip = _SKIP_COMPILED
        except Exception:  # a profiler bug: the event goes without these, the query on
            many, rows, results, relationship, skip = False, None, None, None, _SKIP
        # What record_positional(state, statement, parameters, started, duration, rows,
        # "sqlalchemy", dialect, many, None, results, skip, relationship) does, inlined: the
        # same event, field by field, without a call of 13 arguments per statement. Keep the
        # two in step (tests/runtime/test_record_inline.py compares them).
        try:
            unit, ignored, request = state
            if many:
                hashes: tuple[int, ...] = ()
            elif type(parameters) is tuple:
                try:
                    if len(parameters) == 1:
                        hashes = (hash(parameters[0]),)
                    elif len(parameters) == 2:
                        hashes = (hash(parameters[0]), hash(parameters[1]))
                    else:
                        hashes = tuple(map(hash, parameters))
                except TypeError:
                    hashes = hash_values(parameters)
            else:
                hashes = hash_values(parameters)
            # a sync dialect's statement blocks whatever task it runs in: no task awaited it,
            # so no gather could overlap it (DBA105 judges awaited statements only)
            thread = _thread_id()
            task = (_task_of(_loops.get(thread)) or _task_now(thread)) if buffering else None
            event = _new_event(
                QueryEvent,
                (
                    next(_sequence),
                    fingerprints.get(statement) or _fingerprint(statement, dialect),
                    started,
                    duration,
                    rows,
                    # one frame less than under record_positional: the skips count it
                    capture_stack(skip - 1, MAX_STACK, unit.anchor),
                    thread,
                    id(task) if task is not None else None,
                    hashes,
                    results,
                    ignored,
                    "sqlalchemy",
                    many,
                    None,  # error
                    None,  # params and statement: below, when kept
                    None,
                    relationship,
                    request,
                ),
            )
            if duration >= unit.keep_s:  # slow, or a unit that keeps values: rare
                event = _with_values(event, parameters, statement)
            events = unit.events
            if len(events) < unit.direct:  # not nested, room left
                events.append(event)
            else:
                unit.add(event)
        except Exception as failure:
            _note_failure(failure)
        return result

    return do_execute


def _many(original: Executor, dialect: str) -> Executor:
    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> Any:
        state = _units._get_state()
        if state is None:
            return original(cursor, statement, parameters, context)
        started = perf_counter()
        try:
            result = original(cursor, statement, parameters, context)
        except BaseException as error:
            _failed(state, statement, parameters, started, dialect, context, error, True)
            raise
        ended = perf_counter()
        try:
            rows = cursor.rowcount
        except Exception:
            rows = None
        record_positional(
            state,
            statement,
            parameters,
            started,
            ended - started,
            rows,
            "sqlalchemy",
            dialect,
            True,
            None,
            None,
            _SKIP,
            None,  # executemany: never a lazy load
        )
        return result

    return do_executemany


def _no_params(original: Executor, dialect: str) -> Executor:
    """``do_execute_no_params``: the ``no_parameters=True`` execution option; recorded as a
    ``do_execute`` with no parameters."""
    single = _single(
        lambda cursor, statement, _, context: original(cursor, statement, context), dialect
    )

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> Any:
        if _units._get_state() is None:
            return original(cursor, statement, context)
        return single(cursor, statement, (), context)

    return do_execute_no_params


def _failed(
    state: Any,
    statement: str,
    parameters: Any,
    started: float,
    dialect: str,
    context: Any,
    error: BaseException,
    many: bool = False,
) -> None:
    duration = perf_counter() - started
    try:
        many = many or getattr(context, "execute_style", None) is _INSERTMANYVALUES
        relationship = orm_label(context) if context is not None else None
    except Exception:  # a profiler bug: the event goes without these, the error on
        relationship = None
    record_positional(
        state,
        statement,
        parameters,
        started,
        duration,
        None,
        "sqlalchemy",
        dialect,
        many,
        error,
        None,
        _SKIP + 1,  # one frame deeper: this function
        relationship,
    )


def _cursor_kind(cursor_type: type) -> int:
    """What the hook reads from an asyncio adapter's cursor, per class (not per statement: a
    failed getattr on a C cursor costs an exception): ``_KEEPS_ROWS`` when it buffers its rows
    in ``_rows`` (SQLAlchemy's adapters, a slot), ``_READ_SLOTS`` when besides its
    ``rowcount`` property is ``return self._rowcount`` of a slot (the asyncpg adapter): the
    hook then reads the two slots itself, one property call less per statement; else 0."""
    known = _cursor_kinds.get(cursor_type)
    if known is None:
        known = _cursor_kinds[cursor_type] = _kind_of(cursor_type)
    return known


def _kind_of(cursor_type: type) -> int:
    if not hasattr(cursor_type, "_rows"):  # a slot (a descriptor on the class)
        return 0
    count = getattr(cursor_type, "rowcount", None)
    code = getattr(getattr(count, "fget", None), "__code__", None)
    if type(count) is not property or code is None:
        return _KEEPS_ROWS
    steps = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname != "RESUME"]
    slot = getattr(cursor_type, "_rowcount", None)
    if (
        steps == [("LOAD_FAST", "self"), ("LOAD_ATTR", "_rowcount"), ("RETURN_VALUE", None)]
        and type(slot).__name__ == "member_descriptor"
    ):
        return _READ_SLOTS
    return _KEEPS_ROWS
