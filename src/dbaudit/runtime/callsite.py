"""Find the application frames that issued a query, cheaply.

A query passes through many library frames (the ORM, the driver, asyncio, pytest) before it
reaches a capture hook. The call site is the innermost frame of application code, and the stack
is the chain of application frames above it. Both are cached: "is this file application code"
by file name (a set lookup per frame), and the resulting ``CallSite`` chain by the (code object,
instruction) pairs, so a query issued from a loop costs one frame walk and a dictionary lookup
after the first time. The walk itself (materialising each frame object) is most of the cost.

Inside a unit the walk stops early, at the frame that opened the unit (see
:class:`StackAnchor`): it runs until the unit closes, and so do its callers, so the walk above
it is read once per unit. A query's walk reads the frames from its function up to the opener,
each as its code and instruction; the unit holds no other frame (a frame object held after its
function returned would keep the function's locals, the objects it loaded, alive).

Before Python 3.12 a list, dict or set comprehension runs in a frame of its own; PEP 709
inlines it into its function. A comprehension's frame is folded into its function's entry (the
function's name, the comprehension's line), so that chains read the same on every version.

SQLAlchemy's asyncio layer runs the synchronous ORM inside a greenlet whose stack starts fresh;
the application's coroutine frames are in the parent greenlet, suspended in ``greenlet_spawn``.
The walk continues there when it runs off the bottom of such a greenlet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dis
import inspect
import os
import sys
import sysconfig
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from dbaudit.runtime.events import CallSite

MAX_STACK = 8  # application frames kept per query: enough to tell loops apart, bounded memory
# Library frames in a row, after application frames, that end the walk: a decorator or wrapper
# from a library sits between application frames (1-3 frames), the test runner or server
# underneath them is dozens (pytest and pluggy ~40), and every frame walked costs a frame object.
MAX_LIBRARY_GAP = 8
_CACHE_LIMIT = 50_000


class _NoGreenlet:
    """What ``greenlet.getcurrent()`` stands for without greenlet: a stack with no parent."""

    parent = None


_getcurrent: Callable[[], Any]
try:
    import greenlet  # type: ignore[import-untyped]

    _getcurrent = greenlet.getcurrent
except ImportError:  # pragma: no cover - greenlet ships with SQLAlchemy's asyncio extra
    _getcurrent = _NoGreenlet


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")  # scripts: bin/pytest
    roots = {paths[key] for key in keys if key in paths}
    roots.update(
        os.path.join(prefix, "lib") for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}
    )
    here = os.path.dirname(os.path.abspath(__file__))  # dbaudit/runtime: our own hooks
    roots.add(here)
    roots.add(os.path.join(os.path.dirname(here), "sql"))
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots))


_LIBRARY_ROOTS = _library_roots()
_getframe = sys._getframe
# The bundled reference app lives inside the installed package but is application code.
_ALWAYS_USER = (os.sep + os.path.join("dbaudit", "reference") + os.sep,)

# Verdicts per source file, in three sets: ``in`` on a set is a bytecode (no call), and a
# filename string carries its hash, so a library frame costs one set lookup and one ``f_back``.
# (Keyed by file, not by code object: "is this application code" is a property of the file, and
# hashing a code object hashes its bytecode.)
_library_files: set[str] = set()
_user_files: set[str] = set()
# Where a task's own stack ends: below ``Handle._run`` is the event loop (run_once, run_forever,
# asyncio.run, the caller of asyncio.run), shared by every task and never where a query is from.
# Its file is in neither set, so only frames of that one file pay for the identity check.
_BOUNDARY = asyncio.events.Handle._run.__code__
_BOUNDARY_FILE = _BOUNDARY.co_filename
_chains: dict[tuple[int, ...], tuple[CallSite, ...]] = {}
# Library functions whose next callers are library code too, however they were reached (their
# library's private call structure: SQLAlchemy's ``Connection._execute_clauseelement`` is only
# ever called by an ``_execute_on_connection`` that ``Connection.execute`` called): id of the
# code object -> how far up the next frame worth reading is (its callers, which the walk
# passes over without building their frames, plus one). A registry (see
# :func:`library_callers`), filled by capture adapters; the files are kept apart so that a
# frame of any other file pays one set lookup for it.
_known_callers: dict[int, int] = {}
_known_caller_files: set[str] = set()
_known_codes: list[CodeType] = []  # keeps the registered code objects (and so their ids) alive


def library_callers(code: CodeType, levels: int) -> None:
    """Tell the walk that the ``levels`` callers of every frame running ``code`` are library
    frames: it passes over them without reading them. For a library's private functions only
    (whose callers that library controls); a public function can be called from anywhere."""
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    _known_codes.append(code)
    _known_callers[id(code)] = levels + 1  # the walk's step: past the callers, onto the next
    _known_caller_files.add(code.co_filename)


def is_user_file(filename: str) -> bool:
    """True for application source files: not the standard library, not site-packages, not
    dbaudit's own hooks, not generated code (``<string>``, ``<frozen ...>``)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    if any(marker in path for marker in _ALWAYS_USER):
        return True
    return not path.startswith(_LIBRARY_ROOTS)


def capture_stack(
    skip: int = 1, limit: int = MAX_STACK, anchor: StackAnchor | None = None
) -> tuple[CallSite, ...]:
    """Application frames of the current call, innermost first (``skip`` frames of the caller's
    own are not looked at), at most ``limit`` of them. ``anchor``: the open unit's, which holds
    the frame that opened it and keeps the walk above that frame; with one, chains are
    MAX_STACK frames long whatever ``limit`` says (a unit's always are)."""
    frame: FrameType | None
    try:
        frame = _getframe(skip)
    except ValueError:  # a greenlet's stack shorter than ``skip``: go on in its parent
        frame = None
    else:
        depth = skip  # of ``frame`` below this one, in this greenlet's stack
        # The library frames under the first application frame: the ORM and the driver, ~7 of
        # them. Reading a frame costs three attribute reads (none of them specialisable in
        # CPython 3.11: frames and code objects expose them as getters), a set lookup, and
        # building its frame object (a malloc of the function's whole frame, then a free).
        # ``sys._getframe(n)`` builds the object of frame n alone: the known callers of a
        # registered function are jumped over that way, never built. (Module globals, not
        # local aliases: each alias is one more bytecode per query, a specialised global read
        # costs what a local one does.)
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            if filename in _library_files:
                if filename in _known_caller_files:
                    depth += _known_callers.get(id(code), 1)
                    try:
                        frame = _getframe(depth)
                    except ValueError:  # the bottom of this greenlet's stack: as f_back's None
                        frame = None
                else:
                    frame = frame.f_back
                    depth += 1
            elif filename in _user_files:
                break
            elif code is _BOUNDARY:
                frame = None
            elif filename == _BOUNDARY_FILE:
                frame = frame.f_back
                depth += 1
            else:
                _classify(filename)  # and look at the same frame again
    if frame is not None:
        hopped = False
    else:
        # The bottom of this greenlet. SQLAlchemy's bridge greenlet (and only that one: a
        # gevent hub is no caller) runs a statement for a coroutine of its parent greenlet,
        # suspended in ``greenlet_spawn``: the walk goes on there, once. Spelled out here:
        # most statements of an asyncio application come this way.
        current = _getcurrent()
        try:
            if not current.__sqlalchemy_greenlet_provider__:
                return ()
            frame = current.parent.gr_frame
            # ``greenlet_spawn``, the asyncio extension's methods
            while frame.f_code.co_filename in _library_files:  # type: ignore[union-attr]
                frame = frame.f_back  # type: ignore[union-attr]
            if frame.f_code.co_filename not in _user_files:  # type: ignore[union-attr]
                # asyncio's own frames, a file not classified yet
                frame = _parent_application_frame(frame)
                if frame is None:
                    return ()
        except AttributeError:
            # the main greenlet, a child of another library's (a gevent hub), a parent stack
            # of library frames only
            return ()
        hopped = True
    if anchor is None:
        return _chain(frame, hopped, limit)  # type: ignore[arg-type]  # not None: returned
    # Inside a unit whose opener is known (see StackAnchor): every frame from this one up to
    # the opener, read as its code and instruction (holding no frame: each may return before
    # the unit closes), then the opener's instruction and the walk above it (read once per
    # unit: the opener and its callers stay where they are while the unit is open) make a key
    # that tells the chain. (Library frames on the way are in the key too: they say whether the
    # chain goes on past them. Reading every frame's file here would cost more than keying it.)
    # The bottom of a stack before the opener, or too many frames: the full walk.
    opener = anchor.opener
    if frame is opener:  # a query of the unit's own block: kept by its instruction
        # (instructions are even numbers)
        chain = anchor.own.get(frame.f_lasti + hopped)  # type: ignore[union-attr]
        if chain is not None:
            return chain
        return _from_opener(frame, hopped, anchor)  # type: ignore[arg-type]
    if not anchor.user:  # no opener, or one of library code
        return _below_library_opener(frame, hopped, anchor)  # type: ignore[arg-type]
    key: tuple[int, ...] = (id(frame.f_code), frame.f_lasti)  # type: ignore[union-attr]
    caller: Any = frame.f_back  # type: ignore[union-attr]  # None: an AttributeError below
    try:
        for _ in _PREFIX:
            if caller is opener:
                break
            key += (id(caller.f_code), caller.f_lasti)
            caller = caller.f_back
        else:  # far below the opener
            return _chain(frame, hopped, MAX_STACK)  # type: ignore[arg-type]
    except AttributeError:  # the bottom of this greenlet's stack, before the opener
        return _chain(frame, hopped, MAX_STACK)  # type: ignore[arg-type]
    tail = anchor.tails.get(caller.f_lasti + hopped)  # type: ignore[union-attr]
    if tail is None:
        tail = anchor.tail(caller.f_lasti, hopped)  # type: ignore[union-attr]
        if tail is None:  # the walk above the opener goes into the parent greenlet
            return _chain(frame, hopped, MAX_STACK)  # type: ignore[arg-type]
    key += tail
    chain = _chains.get(key)
    if chain is None:
        chain = _chain(frame, hopped, MAX_STACK, key)  # type: ignore[arg-type]
    return chain


def _from_opener(frame: FrameType, hopped: bool, anchor: StackAnchor) -> tuple[CallSite, ...]:
    """The unit's first query from an instruction of its opener's: its chain, kept."""
    lasti = frame.f_lasti
    tail = anchor.tails.get(lasti + hopped)
    if tail is None:
        tail = anchor.tail(lasti, hopped)
    if tail is None:  # the walk above the opener goes into the parent greenlet: each time
        return _chain(frame, hopped, MAX_STACK)
    chain = _chains.get(tail)
    if chain is None:
        chain = _chain(frame, hopped, MAX_STACK, tail)
    anchor.own[lasti + hopped] = chain
    return chain


def _below_library_opener(
    frame: FrameType, hopped: bool, anchor: StackAnchor
) -> tuple[CallSite, ...]:
    """A query under an opener of library code (the decorator's wrapper, a middleware): the
    application frames from ``frame`` up to it, in a row (then the walk above the opener goes
    on from one library frame: its own), and the walk above it make the key. With no opener:
    the full walk."""
    opener = anchor.opener
    if opener is None:
        return _chain(frame, hopped, MAX_STACK)
    key: tuple[int, ...] = (id(frame.f_code), frame.f_lasti)
    caller: Any = frame.f_back
    try:
        for _ in _PREFIX:
            if caller is opener:
                break
            code = caller.f_code
            if code.co_filename not in _user_files:
                return _chain(frame, hopped, MAX_STACK)
            key += (id(code), caller.f_lasti)
            caller = caller.f_back
        else:
            return _chain(frame, hopped, MAX_STACK)
    except AttributeError:
        return _chain(frame, hopped, MAX_STACK)
    tail = anchor.tails.get(hopped)  # (the opener's instruction is no part of the chain)
    if tail is None:
        tail = anchor.tail(0, hopped)
        if tail is None:
            return _chain(frame, hopped, MAX_STACK)
    key += tail
    chain = _chains.get(key)
    if chain is None:
        chain = _chain(frame, hopped, MAX_STACK, key)
    return chain


def _parent_application_frame(frame: FrameType | None) -> FrameType | None:
    """The first application frame from ``frame`` up, in the parent greenlet (the walk does not
    go on into another greenlet from there)."""
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if filename in _library_files:
            frame = frame.f_back
        elif filename in _user_files:
            return frame
        elif code is _BOUNDARY:
            return None
        elif filename == _BOUNDARY_FILE:
            frame = frame.f_back
        else:
            _classify(filename)
    return None


# Frames read below an opener before giving up on it (recursion, deep helpers): the full walk
# stops at MAX_STACK application frames, and comprehension frames (folded, before Python 3.12)
# may double that.
_PREFIX = range(2 * MAX_STACK)
# List, dict and set comprehensions run in frames of their own before Python 3.12 (PEP 709
# inlines them: their lines belong to the enclosing function's frame). The walk folds such a
# frame into its enclosing function's entry (the function's name, the comprehension's line),
# so that a chain reads the same on every version. Generator expressions stay frames.
_COMPREHENSIONS = (
    frozenset({"<listcomp>", "<dictcomp>", "<setcomp>"})
    if sys.version_info < (3, 12)
    else frozenset()
)


def _chain(
    frame: FrameType, hopped: bool, limit: int, key: tuple[int, ...] | None = None
) -> tuple[CallSite, ...]:
    """The chain of application frames from ``frame`` (the first one) up, kept under the key
    of the walk (and under ``key`` too: another key that gives the same chain)."""
    # id(code), instruction offset, ...: ``f_lasti`` is a plain read where ``f_lineno`` decodes
    # the line table; lines are computed only when a chain is seen for the first time.
    walked: list[int] = []
    sites: list[tuple[FrameType, CodeType]] = []
    _walk_application(frame, walked, sites, 0, hopped, limit)
    own = tuple(walked)
    chain = _chains.get(own)
    if chain is None:
        if len(_chains) > _CACHE_LIMIT:
            _chains.clear()
        chain = tuple(
            CallSite(
                _display_path(site.f_code.co_filename),
                site.f_lineno,
                _qualname(code),
                _position(site.f_code, site.f_lasti),
            )
            for site, code in sites
        )
        _chains[own] = chain
    if key is not None:
        _chains[key] = chain
    return chain


def _walk_application(
    frame: FrameType | None,
    key: list[int],
    sites: list[tuple[FrameType, CodeType]],
    gap: int,
    hopped: bool,
    limit: int,
) -> bool:
    """Append the application frames from ``frame`` up (``gap``: library frames since the last
    one), each as its frame and the code whose name it is given; returns whether the walk went
    into the parent greenlet."""
    library = _library_files
    user = _user_files
    add_key = key.append
    add_site = sites.append
    while True:
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            if filename in user:
                add_key(id(code))
                add_key(frame.f_lasti)
                if code.co_name in _COMPREHENSIONS:  # folded into its enclosing function's
                    site = frame
                    enclosing: Any = frame.f_back  # always there; never keyed
                    while enclosing.f_code.co_name in _COMPREHENSIONS:
                        enclosing = enclosing.f_back
                    frame = enclosing
                    add_site((site, enclosing.f_code))
                else:
                    add_site((frame, code))
                if len(sites) >= limit:
                    return hopped
                gap = 0
            elif filename in library or (filename == _BOUNDARY_FILE and code is not _BOUNDARY):
                gap += 1
                if gap >= MAX_LIBRARY_GAP:
                    return hopped
            elif code is _BOUNDARY:
                frame = None
                break
            else:
                _classify(filename)
                continue
            frame = frame.f_back
        if hopped or (frame := _parent_greenlet_frame()) is None:
            return hopped
        hopped = True


def _walk_keys(frame: FrameType | None, key: list[int], gap: int, hopped: bool, limit: int) -> bool:
    """What :func:`_walk_application` appends to ``key``, and returns, without the sites."""
    user = _user_files
    count = 0
    while True:
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            if filename in user:
                key += (id(code), frame.f_lasti)
                count += 1
                if count >= limit:
                    return hopped
                gap = 0
                if code.co_name in _COMPREHENSIONS:  # folded: the enclosing frames are not keyed
                    enclosing: Any = frame.f_back
                    while enclosing.f_code.co_name in _COMPREHENSIONS:
                        enclosing = enclosing.f_back
                    frame = enclosing
            elif filename in _library_files or (
                filename == _BOUNDARY_FILE and code is not _BOUNDARY
            ):
                gap += 1
                if gap >= MAX_LIBRARY_GAP:
                    return hopped
            elif code is _BOUNDARY:
                break
            else:
                _classify(filename)
                continue
            frame = frame.f_back
        if hopped or (frame := _parent_greenlet_frame()) is None:
            return hopped
        hopped = True


_CHANGING_CALLERS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
# A unit opened by a context manager: its __enter__ (or __aenter__) runs in a frame of its own,
# called by the ``with`` statement's frame. A @contextmanager generator's is called by
# contextlib's, called by the ``with`` statement's.
_ENTERS = frozenset({"__enter__", "__aenter__"})
_CONTEXTLIB_ENTERS = (
    contextlib._GeneratorContextManager.__enter__.__code__,
    contextlib._AsyncGeneratorContextManager.__aenter__.__code__,
)
_BEFORE_WITH = dis.opmap.get("BEFORE_WITH", -1)
_BEFORE_ASYNC_WITH = dis.opmap.get("BEFORE_ASYNC_WITH", -1)
_SEND = dis.opmap.get("SEND", -1)


class StackAnchor:
    """The frame that opened a unit, and what the walks of the unit's queries read above it.

    The unit's opener (the frame of the ``with profile():`` statement, the decorator's wrapper,
    a middleware's call) runs until the unit closes, and so do its callers, suspended at the
    same instructions all that time: the walk above it is the same for every query of the
    unit (walked once, kept as codes and instructions). A query's walk reads the application
    frames from its function up to the opener, and stops there. Only the opener is held:
    every frame below it may return before the unit closes, and a frame object held keeps the
    function's locals alive (the objects a data access function loaded would outlive it). A
    generator that opens a unit may be resumed under other callers: it has no opener (its
    queries take the full walk), unless it is a @contextmanager's (the ``with`` statement's
    frame is the opener then).
    """

    __slots__ = ("above", "code_id", "opener", "own", "tails", "user")

    def __init__(self, opener: FrameType | None) -> None:
        self.opener = opener
        # the key of the walk above the opener, by ``hopped`` (whether the query's walk came
        # from a child greenlet): None until a query needs it
        self.above: list[tuple[int, ...] | None] = [None, None]
        # the opener's part of a key, then the walk above: by its instruction plus ``hopped``
        self.tails: dict[int, tuple[int, ...]] = {}
        # the chains of the queries of the opener itself, by instruction plus ``hopped``
        self.own: dict[int, tuple[CallSite, ...]] = {}
        self.code_id = 0
        self.user = False  # the opener is application code: its own line is in the chains
        if opener is not None:
            code = opener.f_code
            self.code_id = id(code)
            filename = code.co_filename
            if filename in _user_files:
                self.user = True
            elif filename not in _library_files:
                _classify(filename)
                self.user = filename in _user_files

    @classmethod
    def here(cls, skip: int = 1) -> StackAnchor:
        """The anchor of a unit opening ``skip`` frames up (from the caller of this method):
        in a context manager's ``__enter__`` or ``__aenter__`` (its opener is the ``with``
        statement's frame), or in a frame that opens and closes the unit itself."""
        try:
            frame: FrameType | None = _getframe(skip)
        except ValueError:
            return cls(None)
        if frame.f_code.co_name in _ENTERS:  # type: ignore[union-attr]
            frame = frame.f_back  # type: ignore[union-attr]
            if frame is None or not _in_with(frame):  # a call of __enter__ by hand
                return cls(None)
        while frame.f_code.co_flags & _CHANGING_CALLERS:  # type: ignore[union-attr]
            caller = frame.f_back  # type: ignore[union-attr]
            if caller is None or caller.f_code not in _CONTEXTLIB_ENTERS:
                return cls(None)
            frame = caller.f_back
            if frame is None or not _in_with(frame):
                return cls(None)
        if frame.f_code.co_name in _COMPREHENSIONS:  # type: ignore[union-attr]
            return cls(None)  # folded into its enclosing frame's entry: no line of its own
        return cls(frame)

    def tail(self, lasti: int, hopped: bool) -> tuple[int, ...] | None:
        """The opener's part of a key (its code and instruction ``lasti``, when it is
        application code) and the key of the application frames above it, kept for the unit;
        None when the walk above goes into the parent greenlet (that one switches: the walk is
        made for each query)."""
        above = self.above[hopped]
        if above is None:
            key: list[int] = []
            opener: FrameType = self.opener  # type: ignore[assignment]  # not None: a query's
            gap = 0 if self.user else 1  # a library opener is one frame of a gap
            if _walk_keys(opener.f_back, key, gap, hopped, MAX_STACK - 1) != hopped:
                return None
            above = self.above[hopped] = tuple(key)
        if self.user:
            tail = (self.code_id, lasti) + above  # noqa: RUF005
            self.tails[lasti + hopped] = tail
        else:
            tail = self.tails[hopped] = above
        return tail


def _in_with(frame: FrameType) -> bool:
    """Whether ``frame`` is entering a ``with`` (or ``async with``) statement's block: calling
    its context manager's ``__enter__`` (``__aenter__``: awaiting it)."""
    ops = frame.f_code.co_code  # (cached by the code object)
    lasti = frame.f_lasti
    op = ops[lasti]
    if op == _BEFORE_WITH:
        return True
    if op != _SEND:  # 3.12: the instruction read last is SEND's inline cache entry
        lasti -= 2
        if lasti < 0 or ops[lasti] != _SEND:
            return False
    # BEFORE_ASYNC_WITH, GET_AWAITABLE, LOAD_CONST None, SEND
    return lasti >= 6 and ops[lasti - 6] == _BEFORE_ASYNC_WITH


def _classify(filename: str) -> None:
    if len(_library_files) + len(_user_files) > _CACHE_LIMIT:
        _library_files.clear()
        _user_files.clear()
    (_user_files if is_user_file(filename) else _library_files).add(filename)


def _parent_greenlet_frame() -> FrameType | None:
    current = _getcurrent()
    parent = current.parent
    if parent is None:  # the main greenlet: nothing above it (and no failed getattr below)
        return None
    # Only SQLAlchemy's bridge greenlets: other greenlet parents (a gevent hub) are not callers.
    if not getattr(current, "__sqlalchemy_greenlet_provider__", False):
        return None
    frame: FrameType | None = getattr(parent, "gr_frame", None)
    return frame


def _position(code: CodeType, lasti: int) -> tuple[int, int, int, int] | None:
    """The source span of the instruction at byte offset ``lasti`` of ``code``, or None where
    the interpreter keeps none (``-X no_debug_ranges``, generated code)."""
    positions = _positions.get(code)
    if positions is None:
        if len(_positions) > _CACHE_LIMIT:
            _positions.clear()
        positions = _positions[code] = tuple(code.co_positions())
    try:
        line, end_line, column, end_column = positions[lasti // 2]  # one entry per code unit
    except IndexError:
        return None
    if line is None or end_line is None or column is None or end_column is None:
        return None
    return line, end_line, column, end_column


# Instruction positions per code object, read when a chain is first built (never per query).
_positions: dict[CodeType, tuple[tuple[int | None, ...], ...]] = {}


def _qualname(code: CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)


def _display_path(filename: str) -> str:
    """Relative to the working directory when inside it, so reports read like the static audit."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative
