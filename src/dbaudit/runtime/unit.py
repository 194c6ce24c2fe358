"""Units of work: the scope in which queries are collected and judged.

A unit is a ``with dbaudit.profile():`` block, a decorated function call, one pytest test or one
HTTP request. The active unit lives in one ``ContextVar`` (the only runtime state, STYLE.md rule
3), so asyncio tasks and threads never see each other's units: a task started inside a unit
inherits it, a thread does not (unless it runs in a copied context, as ``asyncio.to_thread``
does). Units nest: an ``assert_max_queries`` block inside a profiled test records into both.

Threads: a unit opened with ``profile(threads=True)`` (the pytest plugin's unit of a test, the
budget fixtures' blocks) also takes, while it is open, the statements of every thread that has
no unit in its own context (a ``threading.Thread`` or executor worker the test started, a test
client's server thread): the process's one *fallback*, read by the capture hooks only when their
context holds no unit (the ``ContextVar``'s default, see :func:`_take_threads`). Units opened
with no flag keep strict context scoping: a request's unit (the middleware's) never collects
another thread's statements. Events from several threads arrive out of ``seq`` order; a unit
that took threads' statements puts its events (and its enclosing units') back in order when it
closes.

Capture adapters call :func:`active` first (one ``ContextVar.get``; nothing else happens when no
unit is active) and :func:`record` after the statement ran. ``record`` never raises: a failure
inside the profiler is counted (:func:`profiler_errors`) and logged once, and the application's
query goes on untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import itertools
import logging
import math
import operator
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from time import perf_counter as _perf_counter
from typing import Any, NamedTuple, ParamSpec, TypeVar

from dbaudit.findings import Finding
from dbaudit.runtime.callsite import MAX_STACK, StackAnchor, capture_stack
from dbaudit.runtime.detect import DetectConfig, Detection, _apply_allowlist, detect
from dbaudit.runtime.events import QueryEvent, Results
from dbaudit.runtime.loops import loop_frame
from dbaudit.sql import Fingerprint, fingerprint

log = logging.getLogger("dbaudit.runtime")

P = ParamSpec("P")
R = TypeVar("R")


class _State(NamedTuple):
    unit: Unit
    ignored: bool
    # the HTTP request being served inside ``unit`` (see request_started), None outside any
    request: int | None


_STATE: ContextVar[_State | None] = ContextVar("dbaudit_unit", default=None)
# The adapters' first read, bound once: ``_STATE.get()`` looks the method up (a new bound
# method object) at every call, with or without a unit. While a unit takes other threads'
# statements it is ``partial(_STATE.get, that unit's state)`` (see _take_threads): the adapters
# read it as ``unit._get_state`` (a module attribute, never a copy imported once).
_get_state: Callable[[], _State | None] = _STATE.get
# the state of the unit that takes the statements of threads with no unit of their own, if any
_threads_state: _State | None = None
_set_state = _STATE.set  # and per unit opened and closed
_reset_state = _STATE.reset
# tuple.__new__ straight away: a NamedTuple's generated __new__ is one more Python call per query
# (per event, and per unit for a _State)
_new_event = tuple.__new__
_sequence = itertools.count()  # process-wide order of events; next() is atomic in CPython
_SEQ = operator.itemgetter(0)  # an event's ``seq``
# Fingerprints by SQL text, one cache per dialect: the dialect is known per hook, so the key is
# the string itself (its hash is cached), not a new (sql, dialect) tuple hashed per query.
_fingerprints: defaultdict[str, dict[str, Fingerprint]] = defaultdict(dict)
_FINGERPRINT_CACHE_LIMIT = 20_000  # per dialect
_failures = 0
_failure_logged = False
# looked up once, not per query
_get_running_loop = asyncio._get_running_loop
_thread_id = threading.get_ident


def _current_task(loop: asyncio.AbstractEventLoop | None) -> asyncio.Task[Any] | None:
    return asyncio.current_task(loop) if loop is not None else None


def _task_lookup() -> Callable[[asyncio.AbstractEventLoop | None], Any]:
    """``_task_of(_get_running_loop())``: the current task, None outside a running loop, in one
    C call. CPython 3.11's ``asyncio.current_task`` is Python (8 bytecodes and a frame per
    query) returning ``_current_tasks.get(loop)``: that dict's ``get`` is used directly when
    it is the one ``current_task`` reads (``get(None)`` is None: no loop, no task)."""
    tasks = getattr(asyncio.tasks, "_current_tasks", None)
    if type(tasks) is dict and asyncio.current_task.__module__ == "asyncio.tasks":
        return tasks.get
    return _current_task  # current_task is C from 3.12, and may not read that dict


_task_of = _task_lookup()
# The event loop each thread ran last, by thread id. CPython 3.11's ``_get_running_loop`` makes a
# getpid() system call at every call (its check for a forked child), once per statement when
# the hooks called it. A thread runs one loop at a time: when the loop a thread ran last has a
# current task while that thread sends a statement, the loop is running that task in this
# thread (a loop moved to another thread aside), and the statement is the task's. The running
# loop is looked up only when it has none: another loop now, or no task at all (which a
# thread outside any loop pays at each statement, as before).
_loops: dict[int, Any] = {}
_LOOPS_LIMIT = 1_000  # threads that ran a loop; forgotten all at once past this


def _task_now(thread: int) -> Any:
    """The current task of the loop running in ``thread`` (this one), looked up afresh and
    that loop remembered for the thread's next statements (see ``_loops``); None outside a
    task."""
    loop = _get_running_loop()
    if loop is None:
        return None
    if len(_loops) >= _LOOPS_LIMIT:
        _loops.clear()
    _loops[thread] = loop
    return _task_of(loop)


def active() -> _State | None:
    """The state to pass to :func:`record`, or None when no unit is active (the fast path)."""
    return _get_state()


@functools.cache
def _default_config() -> DetectConfig:
    """One shared default (frozen): not a new, validated one per unit."""
    return DetectConfig()


def _take_threads(state: _State | None) -> None:
    """Make ``state`` the one the hooks get in a context that holds no unit (None: no such
    state). ``ContextVar.get(default)`` returns the default only when the variable was never
    set in that context (or was reset to that): a context that set it to None (SQLAlchemy's
    own statements on a first connection, ``capture/sqlalchemy.py``) keeps None. Nothing
    changes for a context that has a unit, nor per statement: one call either way."""
    global _get_state, _threads_state
    _threads_state = state
    _get_state = _STATE.get if state is None else functools.partial(_STATE.get, state)


def _release_threads(unit: Unit) -> None:
    """``unit`` closed: when it (or a unit opened inside it) takes threads' statements, the
    nearest enclosing unit still open that takes them takes them again (None when there is
    none: a statement of such a thread is then in no unit). Then ``unit``'s events, and its
    enclosing units', are put back in the order they ran (``seq``): threads append as they
    finish. (A sort of ints in C holds the GIL: atomic against a thread still appending.)"""
    taker = _threads_state
    inner = taker[0] if taker is not None else None
    while inner is not None and inner is not unit:
        inner = inner.parent
    if inner is not None:  # else another unit (not one of this one's) took over: left alone
        heir = unit.parent
        while heir is not None and not (heir.threads and heir.ended is None):
            heir = heir.parent
        _take_threads(_new_event(_State, (heir, False, None)) if heir is not None else None)
    scope: Unit | None = unit
    while scope is not None:
        scope.events.sort(key=_SEQ)
        scope = scope.parent


def current_unit() -> Unit | None:
    state = _get_state()
    return state[0] if state is not None else None


def profiler_errors() -> int:
    """How many times a capture hook failed internally (the query itself always went on)."""
    return _failures


class Unit:
    """The queries of one unit of work, and (once closed) what the detectors found in them."""

    __slots__ = (
        "_detection",
        "anchor",
        "config",
        "direct",
        "dropped",
        "ended",
        "events",
        "keep_params",
        "keep_s",
        "name",
        "parent",
        "started",
        "threads",
    )

    def __init__(
        self,
        name: str,
        config: DetectConfig | None = None,
        parent: Unit | None = None,
        keep_params: bool = False,
    ) -> None:
        self.name = name
        if config is None:
            config = _default_config()
        self.config = config
        self.parent = parent
        # record appends straight to ``events`` while fewer than this are kept (one test per
        # query); a nested unit has 0: its events go through add(), to every enclosing unit
        self.direct = config.max_events if parent is None else 0
        self.keep_params = keep_params
        # an event keeps its parameters and SQL when its duration is at least this (read per
        # query: precomputed): always with ``keep_params``, else when slow (EXPLAIN material)
        self.keep_s = -math.inf if keep_params else config.slow_query_ms / 1000
        self.events: list[QueryEvent] = []
        self.dropped = 0  # events over ``config.max_events``: counted, not kept
        self.started = _perf_counter()
        self.ended: float | None = None
        self._detection: Detection | None = None
        # the stack when the unit opened (see StackAnchor); released when it closes
        self.anchor: StackAnchor | None = None
        # it takes the statements of threads with no unit of their own while open (see
        # profile's ``threads``)
        self.threads = False

    def add(self, event: QueryEvent) -> None:
        unit: Unit | None = self
        while unit is not None:
            if len(unit.events) < unit.config.max_events:
                unit.events.append(event)
            else:
                unit.dropped += 1
            unit = unit.parent

    @property
    def query_count(self) -> int:
        return len(self.events) + self.dropped

    @property
    def judged_count(self) -> int:
        """Queries outside ``ignore()`` blocks (among the kept events)."""
        return sum(1 for event in self.events if not event.ignored)

    @property
    def db_time_ms(self) -> float:
        return sum(event.duration for event in self.events) * 1000

    def close(self) -> None:
        self.anchor = None
        if self.ended is None:
            self.ended = _perf_counter()

    @property
    def detection(self) -> Detection:
        """Detectors run once, on first access after the unit closed (or on demand while open)."""
        if self._detection is None or self.ended is None:
            detection = detect(self.events, self.config, unit=self.name, locate_loop=loop_frame)
            if self.ended is None:
                return detection
            self._detection = detection
        return self._detection

    @property
    def findings(self) -> list[Finding]:
        return list(self.detection.findings)

    def add_findings(self, findings: Iterable[Finding]) -> None:
        """Findings of a check other than the detectors (the pytest plugin's missing-index
        check) join the detectors' in :attr:`detection` and :attr:`findings`, the unit's
        ``allow`` patterns applied as the detectors apply them (a matching finding is
        suppressed, with the pattern as its reason). For a closed unit: an open one runs its
        detectors afresh at each read."""
        if self.ended is None:
            raise ValueError(f"add_findings on {self!r}, which is still open")
        detection = self.detection
        kept, suppressed = _apply_allowlist(list(findings), self.config.allow)
        self._detection = dataclasses.replace(
            detection,
            findings=(*detection.findings, *kept),
            suppressed=(*detection.suppressed, *suppressed),
        )

    def __repr__(self) -> str:
        return f"<Unit {self.name!r}: {self.query_count} queries>"


def record(
    state: _State,
    sql: str,
    params: Any,
    started: float,
    duration: float,
    *,
    rows: int | None = None,
    source: str,
    dialect: str = "postgres",
    many: bool = False,
    error: BaseException | None = None,
    result_hashes: frozenset[int] | Results | None = None,
    relationship: str | None = None,
) -> None:
    """Turn one executed statement into a ``QueryEvent`` in the active unit(s). Never raises."""
    record_positional(
        state,
        sql,
        params,
        started,
        duration,
        rows,
        source,
        dialect,
        many,
        error,
        result_hashes,
        3,
        relationship,
    )


def record_positional(
    state: _State,
    sql: str,
    params: Any,
    started: float,
    duration: float,
    rows: int | None,
    source: str,
    dialect: str,
    many: bool,
    error: BaseException | None,
    result_hashes: frozenset[int] | Results | None,
    skip: int,
    relationship: str | None = None,
) -> None:
    """:func:`record` without keyword parsing, for the hottest adapters. The call-site walk
    starts ``skip`` frames up from here (0 is this function's callee, 1 this function, 2 its
    caller): an adapter skips the frames of its own and of the library known to be no call site
    (:func:`record` passes 3, its caller's frame)."""
    try:
        # unpacked: a NamedTuple field is an unspecialisable attribute read
        unit, ignored, request = state
        fp = _fingerprints[dialect].get(sql)
        if fp is None:
            fp = _fingerprint(sql, dialect)
        if many:
            hashes: tuple[int, ...] = ()
        elif type(params) is tuple:  # what most drivers get: hashed at C speed, no call
            try:
                # one or two values, the usual lookup by key: spelled out, 4x cheaper than
                # building a map iterator (measured: 50 vs 230 ns)
                if len(params) == 1:
                    hashes = (hash(params[0]),)
                elif len(params) == 2:
                    hashes = (hash(params[0]), hash(params[1]))
                else:
                    hashes = tuple(map(hash, params))
            except TypeError:
                hashes = hash_values(params)
        else:
            hashes = hash_values(params)
        thread = _thread_id()
        task = _task_of(_loops.get(thread)) or _task_now(thread)
        event = _new_event(
            QueryEvent,
            (
                next(_sequence),
                fp,
                started,
                duration,
                rows if rows is None or rows >= 0 else None,
                capture_stack(skip, MAX_STACK, unit.anchor),
                thread,
                id(task) if task is not None else None,
                hashes,
                result_hashes,
                ignored,
                source,
                many,
                type(error).__name__ if error is not None else None,
                None,  # params and statement: below, when kept
                None,
                relationship,  # the ORM's lazy load (capture/sqlalchemy_orm.py), else None
                request,
            ),
        )
        if duration >= unit.keep_s:  # slow, or a unit that keeps values: rare
            event = _with_values(event, params, sql)
        events = unit.events
        if len(events) < unit.direct:  # not nested, room left
            events.append(event)
        else:
            unit.add(event)
    except Exception as failure:
        _note_failure(failure)


def fingerprint_cache(dialect: str) -> dict[str, Fingerprint]:
    """The fingerprints of ``dialect``'s statements by SQL text (a hook of one dialect holds
    its own: one dict lookup per query); misses go through :func:`_fingerprint`."""
    return _fingerprints[dialect]


assert QueryEvent._fields[-4:] == ("params", "statement", "relationship", "request"), (
    "see _with_values"
)


def _with_values(event: QueryEvent, params: Any, sql: str) -> QueryEvent:
    """``event`` with the parameters and SQL it was sent with (``params`` and ``statement``,
    the two fields before the last two): built with None in both, as most events are, then
    rebuilt for the few that keep them."""
    return _new_event(QueryEvent, (*event[:-4], params, sql, *event[-2:]))


def _fingerprint(sql: str, dialect: str) -> Fingerprint:
    cache = _fingerprints[dialect]
    if len(cache) > _FINGERPRINT_CACHE_LIMIT:
        cache.clear()  # cleared in place: the hooks hold this dict
    fp = fingerprint(sql, dialect)
    cache[sql] = fp
    return fp


def hash_values(params: Any) -> tuple[int, ...]:
    """``hash()`` of each parameter value, whatever the paramstyle (sequence or mapping)."""
    if params is None:
        return ()
    kind = type(params)
    try:  # the common cases, at C speed
        if kind is tuple or kind is list:
            return tuple(map(hash, params))
        if kind is dict:
            return tuple(map(hash, params.values()))
    except TypeError:
        pass
    if kind is dict:
        values = params.values()
    elif kind is tuple or kind is list:
        values = params
    elif isinstance(params, dict):
        values = params.values()
    elif isinstance(params, str | bytes):
        values = (params,)
    else:
        try:
            values = tuple(params)
        except TypeError:
            values = (params,)
    hashes = []
    for value in values:
        try:
            hashes.append(hash(value))
        except TypeError:  # lists for ``= ANY($1)``, dicts for JSON
            hashes.append(hash(repr(value)))
    return tuple(hashes)


def keep_rows(rows: Any, limit: int = 1000) -> Results | None:
    """The result rows, copied (pointers only) for the dependency check; None (not seen) when
    there are more than ``limit``: a partial view would make a dependent query look
    independent, and a bounded copy keeps a unit's memory bounded."""
    if len(rows) > limit:
        return None
    return Results(rows)


def _note_failure(failure: Exception) -> None:
    global _failures, _failure_logged
    _failures += 1
    if not _failure_logged:
        _failure_logged = True
        log.warning("dbaudit: a capture hook failed and was skipped: %r", failure)


def _caller_name() -> str:
    """``file:line`` of the ``with`` statement of a unit with no name (this function's caller's
    caller: ``__enter__`` or ``__aenter__``'s)."""
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class profile:  # lower case: it reads as a function, ``with dbaudit.profile():``
    """Open a unit of work: ``with dbaudit.profile() as unit:`` or ``@dbaudit.profile()``.

    ``raise_on`` names rules (``"DBA101"`` ...) that raise :class:`QueryProblem` when found
    at the end of the unit; ``on_finish(unit)`` is called with every closed unit (for a decorated
    function, the only way to see it). Events go to the engines and connections passed to
    ``dbaudit.runtime.instrument``.

    ``threads=True``: this unit also collects statements of threads that have no unit of their
    own while it is open (a worker thread or executor the block starts, a test client's server
    thread), each with its own thread's call site, as the pytest plugin's unit of a test does.
    One unit of the process at a time takes them: the innermost one opened (a unit opened with
    it inside another hands them back when it closes). For one thing at a time, as a test:
    two such units open at once in two threads would take each other's threads' statements.
    """

    def __init__(
        self,
        name: str = "",
        *,
        config: DetectConfig | None = None,
        keep_params: bool = False,
        raise_on: tuple[str, ...] = (),
        on_finish: Callable[[Unit], None] | None = None,
        threads: bool = False,
    ) -> None:
        self.name = name
        self.config = config
        self.keep_params = keep_params
        self.raise_on = raise_on
        self.on_finish = on_finish
        self.threads = threads
        self._open: list[tuple[Unit, Any]] = []

    def _enter(self, default_name: str, request: bool = False) -> Unit:
        """``request``: the unit is one HTTP request's (the middleware's), so the units
        enclosing it judge its statements apart from their others (see request_started);
        otherwise it is part of the enclosing request, if any."""
        # the enclosing unit's, if any: this context's, else (in a thread with none) the one
        # that takes threads' statements, which then gets this unit's too
        state = _get_state()
        parent = state[0] if state is not None else None
        unit = Unit(self.name or default_name, self.config, parent, self.keep_params)
        unit.anchor = StackAnchor.here(2)
        if request:
            index: int | None = next(_requests)
        else:
            index = state[2] if state is not None else None
        state = _new_event(_State, (unit, False, index))
        token = _set_state(state)
        self._open.append((unit, token))
        if self.threads:
            unit.threads = True
            _take_threads(state)
        return unit

    def _exit(self, failed: bool) -> None:
        unit, token = self._open.pop()
        _reset_state(token)
        unit.anchor = None  # unit.close(), without the call
        if unit.ended is None:
            unit.ended = _perf_counter()
        if unit.threads:
            _release_threads(unit)
        if self.on_finish is not None:
            self.on_finish(unit)
        if self.raise_on and not failed:
            problems = [f for f in unit.findings if f.rule in self.raise_on]
            if problems:
                raise QueryProblem(unit, problems)

    def __enter__(self) -> Unit:
        return self._enter(self.name or _caller_name())  # a name given: no frame to read

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._exit(kind is not None)

    async def __aenter__(self) -> Unit:
        return self._enter(self.name or _caller_name())

    async def __aexit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._exit(kind is not None)

    def _fresh(self, name: str) -> profile:
        return profile(
            self.name or name,
            config=self.config,
            keep_params=self.keep_params,
            raise_on=self.raise_on,
            on_finish=self.on_finish,
            threads=self.threads,
        )

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        name = getattr(function, "__qualname__", repr(function))
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self._fresh(name):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh(name):
                return function(*args, **kwargs)

        return run


_requests = itertools.count(1)  # numbers of requests served inside units, process-wide
# request number -> (the token of its state, the state it replaced): see request_finished
_open_requests: dict[int, tuple[Token[_State | None], _State | None]] = {}
_OPEN_REQUESTS_LIMIT = 1024  # requests whose end never came (a streamed body never read)


def request_started() -> None:
    """An HTTP request starts in this context (Django's ``request_started`` signal, which its
    handlers and its test clients send): when a unit is active, its statements until
    :func:`request_finished` carry a number of their own (``QueryEvent.request``), and the unit
    judges repetition within each request, never across requests (a test's loop of requests
    through a test client repeats the view's one query once per request: in production each
    is a unit of its own, and the test's loop is out of the call-site walk's reach, behind the
    client's and the framework's frames). No unit: nothing (one ``ContextVar`` read)."""
    state = _get_state()  # in a thread with no unit (a live server's): the threads' unit's
    if state is None:
        return
    index = next(_requests)
    previous = _STATE.get()
    token = _set_state(_new_event(_State, (state[0], state[1], index)))
    if len(_open_requests) >= _OPEN_REQUESTS_LIMIT:
        _open_requests.clear()  # their ends are not coming: bounded, not kept forever
    _open_requests[index] = (token, previous)


def request_finished() -> None:
    """The request :func:`request_started` marked in this context ended: the context gets back
    the state it had before (unset again in a thread that had none: it goes back to the
    threads' unit, if any, and to no unit after). Django's ``AsyncClient`` sends the two
    signals in other threads (``sync_to_async``), whose context changes asgiref copies back:
    there the token is of another context, and the previous state is set instead."""
    state = _STATE.get()
    if state is None or state[2] is None:
        return
    opened = _open_requests.pop(state[2], None)
    if opened is None:  # a middleware's unit, or a request started before a unit opened
        return
    token, previous = opened
    try:
        _reset_state(token)
    except (ValueError, RuntimeError):  # made in another context (see above), or used
        _set_state(previous)


@contextmanager
def ignore() -> Iterator[None]:
    """Queries inside still count (totals, budgets) but no detector judges them."""
    state = _get_state()  # in a thread with no unit: the one that takes threads' statements
    if state is None:
        yield
        return
    token = _STATE.set(_State(state.unit, True, state.request))
    try:
        yield
    finally:
        _STATE.reset(token)


class QueryProblem(AssertionError):
    """Raised at the end of a unit that found problems it was told to fail on."""

    def __init__(self, unit: Unit, findings: list[Finding]) -> None:
        self.unit = unit
        self.findings = findings
        lines = [f"{len(findings)} query problem(s) in {unit.name}:"]
        lines += [f"  {f.rule} {f.path}:{f.line} {f.message}" for f in findings]
        super().__init__("\n".join(lines))


class QueryBudgetExceeded(AssertionError):
    def __init__(self, unit: Unit, budget: int) -> None:
        self.unit = unit
        self.budget = budget
        lines = [f"expected at most {budget} queries, {unit.query_count} ran:"]
        for event in unit.events[:50]:
            site = f"  ({event.call_site})" if event.call_site else ""
            lines.append(f"  {event.fingerprint.text}{site}")
        if unit.query_count > 50:
            lines.append(f"  ... and {unit.query_count - 50} more")
        super().__init__("\n".join(lines))


@contextmanager
def budget_block(name: str, threads: bool | None = None) -> Iterator[Unit]:
    """The unit of a budget's block (``assert_max_queries``, ``assert_num_queries``,
    ``assert_max_db_time``): open for the block, closed when it ends (by an exception too,
    which goes on), judged by the caller after. ``threads``: whether it takes the statements of
    threads with no unit of their own (see ``profile``); None: when the unit enclosing it in
    this context does (a block in a test run by the pytest plugin sees the statements of the
    test's threads, as the test does)."""
    if threads is None:
        enclosing = _STATE.get()  # this context's own, never the threads' fallback
        threads = enclosing is not None and enclosing[0].threads
    scope = profile(name, threads=threads)
    unit = scope._enter(name)
    failed = True
    try:
        yield unit
        failed = False
    finally:
        scope._exit(failed)


@contextmanager
def assert_max_queries(
    budget: int, name: str = "", *, threads: bool | None = None
) -> Iterator[Unit]:
    """Fail with the list of queries when the block runs more than ``budget`` of them
    (queries inside ``ignore()`` count too: ignoring silences detectors, not budgets).
    ``threads``: see :func:`budget_block` (the pytest fixture passes True)."""
    if budget < 0:
        raise ValueError(f"query budget must be >= 0, got {budget}")
    with budget_block(name or f"assert_max_queries({budget})", threads) as unit:
        yield unit
    if unit.query_count > budget:
        raise QueryBudgetExceeded(unit, budget)


def no_n_plus_one(name: str = "", threshold: int = 3) -> profile:
    """A unit that raises :class:`QueryProblem` when it ran an N+1 (context manager or
    decorator): ``with no_n_plus_one(): render_page()``."""
    from dbaudit.runtime.detect import N_PLUS_ONE

    return profile(
        name, config=DetectConfig(n_plus_one_threshold=threshold), raise_on=(N_PLUS_ONE,)
    )
