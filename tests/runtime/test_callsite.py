"""Call sites: application frames only, innermost first, cached per call chain."""

from __future__ import annotations

import inspect
import json
import os
import sqlite3
import sys
from collections.abc import Iterator

import dbaudit.runtime.unit as unit_module
from dbaudit.runtime.callsite import MAX_STACK, StackAnchor, capture_stack, is_user_file


def test_library_and_generated_code_are_not_application_code() -> None:
    assert not is_user_file(json.__file__)  # standard library
    assert not is_user_file(sqlite3.__file__)
    assert not is_user_file(os.path.join(os.path.dirname(unit_module.__file__), "unit.py"))
    assert not is_user_file("<string>")
    assert is_user_file(__file__)


def test_reference_app_counts_as_application_code() -> None:
    from dbaudit.reference.render_platform.naive import dal

    assert is_user_file(dal.__file__)


def inner() -> object:
    return capture_stack(1)


def outer() -> object:
    return inner()


def test_innermost_first_and_cached() -> None:
    chains = [outer() for _ in range(3)]
    first = chains[0]
    functions = [site.function for site in first]  # type: ignore[attr-defined]
    assert functions[:2] == ["inner", "outer"]
    assert functions[2].startswith("test_innermost_first_and_cached")  # <listcomp> before 3.12
    assert all(chain is first for chain in chains)  # one shared tuple for one call chain
    assert first[0].path.endswith("test_callsite.py")  # type: ignore[index]


def recurse(depth: int) -> object:
    return capture_stack(1) if depth == 0 else recurse(depth - 1)


def test_depth_is_bounded() -> None:
    assert len(recurse(30)) == MAX_STACK  # type: ignore[arg-type]


def anchored_query(anchor: StackAnchor | None, depth: int) -> object:
    if depth:
        return anchored_query(anchor, depth - 1)
    return capture_stack(1, MAX_STACK, anchor)


def query_loop(anchor: StackAnchor | None, depths: list[int]) -> list[object]:
    return [anchored_query(anchor, depth) for depth in depths]


def test_anchor_gives_the_same_chains_as_a_full_walk() -> None:
    # the anchor is this frame (the unit's opener); query_loop and anchored_query run later
    anchor = StackAnchor.here(1)
    depths = [0, 2, 0, 5, 9, 2]  # different numbers of frames below the anchor, some past the limit
    # one call line for all three, so this frame's line is the same in every chain; the second
    # anchored pass reads the suffixes the first one kept
    with_anchor, again, without = [query_loop(a, depths) for a in (anchor, anchor, None)]
    assert anchor.suffixes  # the walk above the anchor was kept ...
    assert with_anchor == again == without  # ... and changed no chain
    assert [len(chain) for chain in without] == [  # type: ignore[arg-type]
        min(MAX_STACK, depth + 3 + len(capture_stack(1))) for depth in depths
    ]


def generator_opener() -> Iterator[StackAnchor]:
    yield StackAnchor.here(1)


def test_generator_frames_are_not_anchors() -> None:
    # a generator resumes under whichever frame calls next(): the frames above it change
    anchor = next(generator_opener())
    assert all(not frame.f_code.co_flags & inspect.CO_GENERATOR for frame in anchor.frames.values())
    assert sys._getframe() in anchor.frames.values()
