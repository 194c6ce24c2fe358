"""Find the application frames that issued a query, cheaply.

A query passes through many library frames (the ORM, the driver, asyncio, pytest) before it
reaches a capture hook. The call site is the innermost frame of application code, and the stack
is the chain of application frames above it. Both are cached: "is this file application code"
by file name (a set lookup per frame), and the resulting ``CallSite`` chain by the (code object,
instruction) pairs, so a query issued from a loop costs one frame walk and a dictionary lookup
after the first time. The walk itself (materialising each frame object) is most of the cost.

Inside a unit the walk stops early: at the first application frame the unit anchored (see
:class:`StackAnchor`), whose chains, and the walk above it, are kept while the unit is open.
A query's walk reads the library frames under its function, then the application frames up
to the nearest anchored one (usually one or two: the data access method, a helper called per
item), and their codes and instructions find the chain.

SQLAlchemy's asyncio layer runs the synchronous ORM inside a greenlet whose stack starts fresh;
the application's coroutine frames are in the parent greenlet, suspended in ``greenlet_spawn``.
The walk continues there when it runs off the bottom of such a greenlet.
"""

from __future__ import annotations

import asyncio
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
    own are not looked at), at most ``limit`` of them. ``anchor``: the open unit's, which keeps
    what the walks of its queries read (the frames they pass and the chains above them); with
    one, chains are MAX_STACK frames long whatever ``limit`` says (a unit's always are)."""
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
        return _chain(frame, hopped, limit)[0]  # type: ignore[arg-type]  # not None: returned
    # Inside a unit. A frame that is anchored (held by the unit) stays where it is for as long
    # as it runs, and so does everything above it: its chain is the same for every query it
    # issues from one instruction (a loop issuing queries: one dictionary lookup each).
    anchored = anchor.frames
    if frame in anchored:
        chain = anchored[frame].get((frame.f_lasti, hopped))
        if chain is not None:
            return chain
        return _from_anchored(frame, hopped, anchor)
    # The application frames in a row up to an anchored one (a data access method, the helper
    # called per item, the loop or handler that the unit runs in): their codes and
    # instructions, then the anchored frame's and what lies above it (walked once per unit),
    # are the key under which the full walk keeps the chain. The bottom of the stack or of a
    # task's ends the chain; a library frame on the way takes the full walk.
    key: tuple[int, ...] = (id(frame.f_code), frame.f_lasti)  # type: ignore[union-attr]
    caller: Any = frame.f_back  # type: ignore[union-attr]  # None: an AttributeError below
    try:
        for passed in _PREFIX:  # noqa: B007 (read after the loop)
            if caller in anchored:  # (anchored frames are application frames)
                break
            if caller.f_code.co_filename not in _user_files:
                return _past_prefix(frame, caller, key, hopped, anchor)  # type: ignore[arg-type]
            key += (id(caller.f_code), caller.f_lasti)
            caller = caller.f_back
        else:  # MAX_STACK application frames in a row, none anchored: the key is complete
            return _complete(frame, key, hopped, anchor, True)  # type: ignore[arg-type]
    except AttributeError:  # the bottom of this greenlet's stack
        if hopped or _parent_greenlet_frame() is None:  # and of the walk: the key is complete
            return _complete(frame, key, hopped, anchor, False)  # type: ignore[arg-type]
        return _walked(frame, hopped, anchor)  # type: ignore[arg-type]
    # The chains kept by the anchored frame, by the frames below it and its instruction: the
    # unit's next queries from this site.
    chain = anchored[caller].get(key + (caller.f_lasti, hopped))  # noqa: RUF005
    if chain is not None:
        return chain
    return _below_anchored(frame, caller, key, passed, hopped, anchor)  # type: ignore[arg-type]


def _below_anchored(
    first: FrameType,
    anchored: FrameType,
    key: tuple[int, ...],
    passed: int,
    hopped: bool,
    anchor: StackAnchor,
) -> tuple[CallSite, ...]:
    """The unit's first query from a site below an anchored frame: ``key`` holds the codes and
    instructions of the application frames from ``first`` up to it (``passed`` of them above
    ``first``); the anchored frame's suffix completes the chain's key. The chain is kept by the
    anchored frame; the frames between, when there are several, are adopted."""
    suffix = anchor.suffixes.get((anchored, hopped))
    if suffix is None:
        suffix = anchor.suffix(anchored, hopped)
    # (a suffix that is not known to its end ends with a negative number: no chain's key holds
    # one, but it is cut off with the rest when the frames below fill the chain)
    lasti = anchored.f_lasti
    full = key + (id(anchored.f_code), lasti) + suffix  # noqa: RUF005
    chain = _chains.get(full[_KEY_LENGTH])
    if chain is None:
        return _walked(first, hopped, anchor)
    if anchor.kept < _ANCHORED_CHAIN_LIMIT:
        anchor.kept += 1
        anchor.frames[anchored][key + (lasti, hopped)] = chain  # noqa: RUF005
    if passed > 1:  # see adopt_callers
        anchor.adopt_callers(first, passed, full, hopped, False)
    # The second query in a row from one frame (first seen here, or in _complete) anchors it:
    # a loop or a test function that issues its queries itself (its next ones are one lookup)
    if first is anchor.last:
        anchor.adopt(first, hopped, _derived(full, 0, False))
    else:
        anchor.last = first
    return chain


_ADOPTED_PER_WALK = 3  # callers adopted by a walk that met no anchored frame


def _complete(
    frame: FrameType, key: tuple[int, ...], hopped: bool, anchor: StackAnchor, cut: bool
) -> tuple[CallSite, ...]:
    """The chain under ``key``, every frame of it read from ``frame`` up with no anchored frame
    among them (``cut``: at MAX_STACK frames, more above): the unit's first query from here.
    Its first callers are adopted for the next ones, and ``frame`` too when it issued the last
    query (a loop or a test function that issues its queries itself)."""
    chain = _chains.get(key)
    if chain is None:
        return _walked(frame, hopped, anchor)
    if frame is anchor.last:
        anchor.adopt(frame, hopped, _derived(key, 0, cut))
    else:
        anchor.last = frame
    anchor.adopt_callers(frame, min(len(key) // 2 - 1, _ADOPTED_PER_WALK), key, hopped, cut)
    return chain


def _derived(key: tuple[int, ...], index: int, cut: bool) -> tuple[int, ...]:
    """The suffix of the frame at ``index`` of a chain's ``key`` (``cut``: the key ends at
    MAX_STACK frames, not where the chain does)."""
    suffix = key[2 * index + 2 : 2 * index + 2 + _SUFFIX_LENGTH]
    return suffix + _CUT if cut and len(suffix) < _SUFFIX_LENGTH else suffix


def _past_prefix(
    first: FrameType, frame: FrameType, key: tuple[int, ...], hopped: bool, anchor: StackAnchor
) -> tuple[CallSite, ...]:
    """A walk from ``first`` that met ``frame``, no application frame, before an anchored one.
    At the bottom of a task's stack (its coroutine run by the event loop: a task that the unit
    started, as under ``asyncio.gather``) the chain ends there: ``key`` is complete. Anything
    else: the full walk."""
    if frame.f_code is _BOUNDARY and (hopped or _parent_greenlet_frame() is None):
        return _complete(first, key, hopped, anchor, False)
    return _walked(first, hopped, anchor)


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


_PREFIX = range(MAX_STACK - 1)  # frames above the first one, read before giving up on anchors
_KEY_LENGTH = slice(2 * MAX_STACK)  # a key holds two integers per frame
_SUFFIX_LENGTH = 2 * (MAX_STACK - 1)  # the frames above one of a chain


def _from_anchored(frame: FrameType, hopped: bool, anchor: StackAnchor) -> tuple[CallSite, ...]:
    """The chain of a query from an anchored frame, kept for its next ones from there."""
    suffix = anchor.suffixes.get((frame, hopped))
    if suffix is None:
        suffix = anchor.suffix(frame, hopped)
    if suffix is _NOT_KEPT:  # the walk above goes into the parent greenlet: walked each time
        return _chain(frame, hopped, MAX_STACK)[0]
    # (a suffix derived from a cut key may end with _CUT: then this misses, and the chain is
    # walked once and kept by instruction)
    lasti = frame.f_lasti
    chain = _chains.get(((id(frame.f_code), lasti) + suffix)[_KEY_LENGTH])  # noqa: RUF005
    if chain is None:
        chain = _chain(frame, hopped, MAX_STACK)[0]
    if anchor.kept < _ANCHORED_CHAIN_LIMIT:
        anchor.kept += 1
        anchor.frames[frame][lasti, hopped] = chain
    return chain


def _walked(first: FrameType, hopped: bool, anchor: StackAnchor) -> tuple[CallSite, ...]:
    """The full walk from ``first``, for a query whose chain no anchor shortens (library frames
    between application frames, a task's own stack, a chain seen for the first time). The
    application frames it passes are adopted, so that the next walk stops at them."""
    walked: list[int] = []
    frames: list[FrameType] = []
    hopped_after = _walk_application(first, walked, frames, 0, hopped, MAX_STACK)
    key = tuple(walked)
    chain = _chains.get(key)
    if chain is None:
        chain = _new_chain(key, frames)
    # the suffixes of the frames adopted are known from the key when the walk stayed in one
    # greenlet (else each is walked when first needed)
    cut = len(frames) >= MAX_STACK
    kept = hopped_after == hopped
    if first is anchor.last:
        anchor.adopt(first, hopped, _derived(key, 0, cut) if kept else None)
    else:
        anchor.last = first
    anchored = anchor.frames
    for index in range(1, len(frames)):
        frame = frames[index]
        if frame not in anchored:
            anchor.adopt(frame, hopped, _derived(key, index, cut) if kept else None)
    return chain


def _chain(frame: FrameType, hopped: bool, limit: int) -> tuple[tuple[CallSite, ...], bool]:
    """The chain of application frames from ``frame`` (the first one) up, and whether the walk
    went into the parent greenlet on the way."""
    # id(code), instruction offset, ...: ``f_lasti`` is a plain read where ``f_lineno`` decodes
    # the line table; lines are computed only when a chain is seen for the first time.
    key: list[int] = []
    frames: list[FrameType] = []
    hopped_after = _walk_application(frame, key, frames, 0, hopped, limit)
    chain = _chains.get(tuple(key))
    if chain is None:
        chain = _new_chain(tuple(key), frames)
    return chain, hopped_after


def _walk_application(
    frame: FrameType | None,
    key: list[int],
    frames: list[FrameType],
    gap: int,
    hopped: bool,
    limit: int,
) -> bool:
    """Append the application frames from ``frame`` up (``gap``: library frames since the last
    one); returns whether the walk went into the parent greenlet."""
    library = _library_files
    user = _user_files
    add_key = key.append
    add_frame = frames.append
    while True:
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            if filename in user:
                add_key(id(code))
                add_key(frame.f_lasti)
                add_frame(frame)
                if len(frames) >= limit:
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


_CHANGING_CALLERS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
_ANCHORED_CHAIN_LIMIT = 256  # chains kept per open unit by anchored frame and instruction
_ADOPTED_LIMIT = 64  # application frames a unit holds (each keeps its locals alive till it closes)
# The suffix of an anchored frame whose walk above is not kept: code ids and instructions are
# never negative, so no chain is kept under a key that holds it. _CUT ends a suffix known only
# up to where a chain was cut at MAX_STACK frames.
_NOT_KEPT: tuple[int, ...] = (-1,)
_CUT: tuple[int, ...] = (-2,)


class StackAnchor:
    """What the walks of an open unit's queries learnt: frames that stay put, and the chains
    seen from them.

    A walk adopts (anchors) application frames it passes: the handler, the service function,
    the loop that issues the unit's queries. A frame that is on the stack stays there until it
    returns, every frame above it suspended at the same instruction all that time: the walk
    above it gives the same result for as long as it runs (its suffix, walked once, or known
    from the walk that adopted it), and the chains of the queries below it can be kept by it.
    Frames of generators are never adopted (a generator resumes under whichever frame calls it
    next), and a walk above that went into another greenlet is not kept (that one switches).
    The unit holds these frames (as keys, so they stay alive and their identities their own)
    until it closes: nothing is ever kept under the identity of a frame that is not held.
    """

    __slots__ = ("frames", "kept", "last", "room", "suffixes")

    def __init__(
        self, frames: dict[FrameType, dict[tuple[object, ...], tuple[CallSite, ...]]]
    ) -> None:
        # Anchored frames (a dict: ``in`` at C speed), each with the chains kept by it: as the
        # first application frame, by (instruction, hopped); as the nearest anchored frame
        # above the first one, by the frames below (codes and instructions), its instruction
        # and hopped. ``kept`` counts them all.
        self.frames = frames
        self.room = _ADOPTED_LIMIT  # application frames it may still adopt (see adopt)
        # (anchored frame, hopped) -> the key of the application frames above it, as the full
        # walk builds it (code ids and instructions), up to MAX_STACK - 1 frames
        self.suffixes: dict[tuple[FrameType, bool], tuple[int, ...]] = {}
        self.kept = 0
        # the first application frame of the last query that no anchor shortened: a query from
        # it again anchors it (a loop or a test function that issues its queries itself)
        self.last: FrameType | None = None

    @classmethod
    def here(cls, skip: int = 1) -> StackAnchor:
        """The anchor of a unit opening ``skip`` frames up. It starts empty: the frames above
        the opener that a query passes are adopted by the walk that meets them first (reading
        them all at every opening costs more than it saves in a unit of a few queries)."""
        return cls({})

    def adopt(
        self, frame: FrameType, hopped: bool = False, suffix: tuple[int, ...] | None = None
    ) -> None:
        """Anchor an application frame that a walk passed (a test function, a request handler,
        the function looping over a helper that queries): it runs until it returns, its callers
        suspended all that time, so the walk above it can be kept as for the frames the unit
        opened in; holding it keeps its id its own. ``suffix``: the walk above it, when the walk
        that passed it knows it. Generator frames are left out (a generator resumes under
        whichever frame calls it next), and so is any frame past the first
        ``_ADOPTED_LIMIT``: a frame held keeps its locals alive until the unit closes."""
        if self.room > 0 and not frame.f_code.co_flags & _CHANGING_CALLERS:
            self.frames[frame] = {}
            self.room -= 1
            if suffix is not None:
                self.suffixes[frame, hopped] = suffix

    def adopt_callers(
        self, frame: FrameType, count: int, key: tuple[int, ...], hopped: bool, cut: bool
    ) -> None:
        """Adopt the first ``count`` callers of ``frame`` (application frames in a row, none
        anchored, as in ``key``, the chain's key from ``frame`` up: their suffixes come from
        it): the frames between a query's function and an anchored frame far above, the
        service and handler frames that the unit's next queries will pass again."""
        frames = self.frames
        suffixes = self.suffixes
        room = self.room
        # past the first frame, a cut key holds less than a whole suffix: it says where it ends
        tail = _CUT if cut else ()
        caller: Any = frame.f_back  # (``key`` says that ``count`` frames are there)
        for start in range(4, 4 + 2 * min(count, room), 2):  # their suffixes in ``key``
            if not caller.f_code.co_flags & _CHANGING_CALLERS:
                frames[caller] = {}
                suffixes[caller, hopped] = key[start : start + _SUFFIX_LENGTH] + tail
                room -= 1
            caller = caller.f_back
        self.room = room

    def suffix(self, frame: FrameType, hopped: bool) -> tuple[int, ...]:
        """The key of the application frames above an anchored application frame, walked now
        and kept for the unit; ``_NOT_KEPT`` when the walk went into the parent greenlet (that
        one switches: the walk above is made for each query)."""
        key: list[int] = []
        frames: list[FrameType] = []
        if _walk_application(frame.f_back, key, frames, 0, hopped, MAX_STACK - 1) != hopped:
            suffix = _NOT_KEPT
        else:
            suffix = tuple(key)
        self.suffixes[frame, hopped] = suffix
        return suffix


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


def _new_chain(key: tuple[int, ...], frames: list[FrameType]) -> tuple[CallSite, ...]:
    if len(_chains) > _CACHE_LIMIT:
        _chains.clear()
    chain = tuple(
        CallSite(_display_path(frame.f_code.co_filename), frame.f_lineno, _qualname(frame.f_code))
        for frame in frames
    )
    _chains[key] = chain
    return chain


def _qualname(code: CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)


def _display_path(filename: str) -> str:
    """Relative to the working directory when inside it, so reports read like the static audit."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative
