"""Find the application frames that issued a query, cheaply.

A query passes through many library frames (the ORM, the driver, asyncio, pytest) before it
reaches a capture hook. The call site is the innermost frame of application code, and the stack
is the chain of application frames above it. Both are cached: "is this file application code"
by file name (a set lookup per frame), and the resulting ``CallSite`` chain by the (code object,
instruction) pairs, so a query issued from a loop costs one frame walk and a dictionary lookup
after the first time. The walk itself (materialising each frame object) is most of the cost.

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

_getcurrent: Callable[[], Any] | None
try:
    import greenlet  # type: ignore[import-untyped]

    _getcurrent = greenlet.getcurrent
except ImportError:  # pragma: no cover - greenlet ships with SQLAlchemy's asyncio extra
    _getcurrent = None


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
    own are not looked at). ``anchor``: the frames on the stack when the unit opened, whose
    part of the chain is walked once per unit rather than once per query."""
    frame: FrameType | None
    try:
        frame = _getframe(skip)
    except ValueError:  # a greenlet's stack shorter than ``skip``: go on in its parent
        frame = None
    depth = skip  # of ``frame`` below this one, while it is in this greenlet's stack
    hopped = False  # into the parent greenlet, at most once
    # The library frames under the first application frame: the ORM and the driver, ~7 of them.
    # Reading a frame costs three attribute reads (none of them specialisable in CPython 3.11:
    # frames and code objects expose them as getters), a set lookup, and building its frame
    # object (a malloc of the function's whole frame, then a free). ``sys._getframe(n)``
    # builds the object of frame n alone: the known callers of a registered function are
    # jumped over that way, never built. (Module globals, not local aliases: each alias is
    # one more bytecode per query, a specialised global read costs what a local one does.)
    while True:
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            if filename in _library_files:
                if filename in _known_caller_files and not hopped:
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
        if frame is not None or hopped or (frame := _parent_greenlet_frame()) is None:
            break
        hopped = True
    if frame is None:
        return ()
    if anchor is not None and limit == MAX_STACK:
        # The common case inside a unit: the first application frame is anchored (it was on
        # the stack when the unit opened, or a walk adopted it: a loop issuing queries). An
        # anchored frame stays where it is for as long as it runs (so does everything above
        # it), and the anchor holds it: its chain is the same for every query it issues from
        # one instruction. Keyed by the frame itself (hashed by identity, at C speed).
        lines = (anchor.hopped_lines if hopped else anchor.lines).get(frame)
        if lines is not None:
            chain = lines.get(frame.f_lasti)
            if chain is not None:
                return chain
        return _anchored_chain(frame, hopped, anchor)
    return _chain(frame, hopped, limit, anchor)[0]


def _anchored_chain(frame: FrameType, hopped: bool, anchor: StackAnchor) -> tuple[CallSite, ...]:
    """The chain from ``frame`` when the walk has an anchor, kept for the next query when an
    anchored frame is near: ``frame`` itself, or its caller, or a few frames up (a loop that
    calls a helper per item, which calls another: new frames each time, but the same code
    and instructions, up to the same instruction of the same anchored frame). The key is
    every frame's code and instruction up to the anchored one, and that one's identity: the
    walk from ``frame`` depends on nothing else."""
    anchored = anchor.frames
    key: list[object] = []
    current: FrameType | None = frame
    for _ in range(_KEYED_FRAMES):
        if current is None:
            break
        current_id = id(current)
        if anchored.get(current_id) is current:
            if not key:  # ``frame`` is anchored itself: kept by frame (see capture_stack)
                return _kept_by_frame(frame, hopped, anchor)
            key += (current_id, current.f_lasti, hopped)
            return _kept_by_key(tuple(key), frame, hopped, anchor)
        key += (id(current.f_code), current.f_lasti)
        current = current.f_back
    return _chain(frame, hopped, MAX_STACK, anchor)[0]  # no anchored frame near: not kept


def _kept_by_frame(frame: FrameType, hopped: bool, anchor: StackAnchor) -> tuple[CallSite, ...]:
    chain, hopped_after = _chain(frame, hopped, MAX_STACK, anchor)
    if _keep(anchor, hopped, hopped_after):
        by_frame = anchor.hopped_lines if hopped else anchor.lines
        by_frame.setdefault(frame, {})[frame.f_lasti] = chain
    return chain


def _kept_by_key(
    key: tuple[object, ...], frame: FrameType, hopped: bool, anchor: StackAnchor
) -> tuple[CallSite, ...]:
    chain = anchor.chains.get(key)
    if chain is None:
        chain, hopped_after = _chain(frame, hopped, MAX_STACK, anchor)
        if _keep(anchor, hopped, hopped_after):
            anchor.chains[key] = chain
    return chain


def _keep(anchor: StackAnchor, hopped: bool, hopped_after: bool) -> bool:
    """Whether a chain just walked may be kept: not one whose walk went into the parent
    greenlet (which switches), as for StackAnchor.extend; not past a bounded number."""
    if hopped_after != hopped or anchor.kept >= _ANCHORED_CHAIN_LIMIT:
        return False
    anchor.kept += 1
    return True


def _chain(
    frame: FrameType, hopped: bool, limit: int, anchor: StackAnchor | None
) -> tuple[tuple[CallSite, ...], bool]:
    """The chain of application frames from ``frame`` (the first one) up, and whether the walk
    went into the parent greenlet on the way."""
    # id(code), instruction offset, ...: ``f_lasti`` is a plain read where ``f_lineno`` decodes
    # the line table; lines are computed only when a chain is seen for the first time.
    key: list[int] = []
    frames: list[FrameType] = []
    hopped_after = _walk_application(frame, key, frames, 0, hopped, limit, anchor)
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
    anchor: StackAnchor | None,
) -> bool:
    """Append the application frames from ``frame`` up (``gap``: library frames since the last
    one); returns whether the walk went into the parent greenlet."""
    library = _library_files
    user = _user_files
    add_key = key.append
    add_frame = frames.append
    anchored = anchor.frames if anchor is not None else None
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
            if anchored is not None:
                frame_id = id(frame)
                if anchored.get(frame_id) is frame:
                    return anchor.extend(frame, key, frames, gap, hopped, limit)  # type: ignore[union-attr]
                if frames and frames[-1] is frame and anchor.room > 0:  # type: ignore[union-attr]
                    anchor.adopt(frame_id, frame)  # type: ignore[union-attr]  # an application frame
            frame = frame.f_back
        if hopped or (frame := _parent_greenlet_frame()) is None:
            return hopped
        hopped = True


_CHANGING_CALLERS = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
_SUFFIX_LIMIT = 64
_ANCHORED_CHAIN_LIMIT = 256  # chains kept per open unit (query lines x anchored frames)
_ADOPTED_LIMIT = 64  # application frames a unit holds besides those it opened in
_KEYED_FRAMES = 4  # frames a kept chain's key may span below its anchored frame


class StackAnchor:
    """The frames on the stack when a unit opened, and the chain above each of them once seen.

    A frame that was on the stack when the unit opened and is on it again at a query has stayed
    on it ever since, so every frame above it is still suspended at the same instruction: the
    walk above it gives the same result for the whole unit and is done once, not per query (the
    test runner, the server, the benchmark driver above a ``with dbaudit.profile():``). Frames
    of generators are left out (a generator resumes under whichever frame calls it next), and
    so is a walk above that went into another greenlet (that one switches). The unit holds these
    frames only while it is open; they are alive then anyway.
    """

    __slots__ = ("chains", "frames", "hopped_lines", "kept", "lines", "room", "suffixes")

    def __init__(self, frames: dict[int, FrameType]) -> None:
        self.frames = frames
        self.room = _ADOPTED_LIMIT  # application frames it may still adopt (see adopt)
        self.suffixes: dict[tuple[int, int, int, bool], tuple[list[int], list[FrameType]]] = {}
        # Whole chains (see capture_stack and _anchored_chain): by anchored first application
        # frame and its instruction (two tables: reached from this greenlet, or from a child
        # one), and by (code and instruction of each frame up to an anchored one, its id and
        # instruction, hopped). ``kept`` counts them all.
        self.lines: dict[FrameType, dict[int, tuple[CallSite, ...]]] = {}
        self.hopped_lines: dict[FrameType, dict[int, tuple[CallSite, ...]]] = {}
        self.chains: dict[tuple[object, ...], tuple[CallSite, ...]] = {}
        self.kept = 0

    @classmethod
    def here(cls, skip: int = 1) -> StackAnchor:
        frames: dict[int, FrameType] = {}
        frame: FrameType | None = sys._getframe(skip)
        while frame is not None and frame.f_code is not _BOUNDARY:
            if not frame.f_code.co_flags & _CHANGING_CALLERS:
                frames[id(frame)] = frame
            frame = frame.f_back
        return cls(frames)

    def adopt(self, frame_id: int, frame: FrameType) -> None:
        """Anchor an application frame that a walk passed (a test function, a request handler,
        the function looping over a helper that queries): it runs until it returns, its callers
        suspended all that time, so the walk above it can be kept as for the frames the unit
        opened in; holding it keeps its id its own. Generator frames are left out, as in
        :meth:`here`, and so is any frame past the first ``_ADOPTED_LIMIT``: a frame held
        keeps its locals alive until the unit closes."""
        if self.room > 0 and not frame.f_code.co_flags & _CHANGING_CALLERS:
            self.frames[frame_id] = frame
            self.room -= 1

    def extend(
        self,
        frame: FrameType,
        key: list[int],
        frames: list[FrameType],
        gap: int,
        hopped: bool,
        limit: int,
    ) -> bool:
        """Append what lies above ``frame`` (already walked itself) to ``key`` and ``frames``."""
        cache_key = (id(frame), len(frames), gap, hopped)
        known = self.suffixes.get(cache_key)
        if known is not None:
            key.extend(known[0])
            frames.extend(known[1])
            return hopped
        keys_before, frames_before = len(key), len(frames)
        hopped_after = _walk_application(frame.f_back, key, frames, gap, hopped, limit, None)
        if hopped_after == hopped and len(self.suffixes) < _SUFFIX_LIMIT:
            self.suffixes[cache_key] = (key[keys_before:], frames[frames_before:])
        return hopped_after


def _classify(filename: str) -> None:
    if len(_library_files) + len(_user_files) > _CACHE_LIMIT:
        _library_files.clear()
        _user_files.clear()
    (_user_files if is_user_file(filename) else _library_files).add(filename)


def _parent_greenlet_frame() -> FrameType | None:
    if _getcurrent is None:
        return None
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
