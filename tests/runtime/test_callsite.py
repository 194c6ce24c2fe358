"""Call sites: application frames only, innermost first, cached per call chain."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import dbaudit.runtime.unit as unit_module
from dbaudit.runtime.callsite import MAX_STACK, StackAnchor, capture_stack, is_user_file
from dbaudit.runtime.events import CallSite


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
    # the unit opens in this frame; query_loop and anchored_query run later
    anchor = StackAnchor.here(1)
    depths = [0, 2, 0, 5, 9, 2]  # different numbers of frames below the anchor, some past the limit
    # one call line for all three, so this frame's line is the same in every chain; the second
    # anchored pass reads what the first one kept
    with_anchor, again, without = [query_loop(a, depths) for a in (anchor, anchor, None)]
    assert anchor.opener is sys._getframe() and anchor.above[False] is not None  # the walk
    assert with_anchor == again == without  # above the opener kept, and no chain changed
    # anchored_query's frames, query_loop (its comprehension's entry), then this function's
    # (its comprehension's) and what is above it: on every Python version
    assert [len(chain) for chain in without] == [  # type: ignore[arg-type]
        min(MAX_STACK, depth + 2 + len(capture_stack(1))) for depth in depths
    ]


def generator_queries(anchor: StackAnchor | None) -> Iterator[object]:
    while True:
        yield capture_stack(1, MAX_STACK, anchor)


def resume_here(queries: Iterator[object]) -> object:
    return next(queries)


def resume_there(queries: Iterator[object]) -> object:
    return next(queries)


def test_generator_frames_are_not_anchors() -> None:
    # a generator resumes under whichever frame calls next(): the frames above it change
    anchor = StackAnchor.here(1)
    with_anchor, without = [
        [resume(queries) for resume in (resume_here, resume_there) * 3]
        for queries in (generator_queries(anchor), generator_queries(None))
    ]
    assert with_anchor == without
    assert len({chain[1] for chain in without}) == 2  # type: ignore[index]


def helper_query(anchor: StackAnchor | None) -> object:
    return capture_stack(1, MAX_STACK, anchor)  # a new frame per call, never held


def middle(anchor: StackAnchor | None) -> object:
    return helper_query(anchor)  # two new frames per item below the loop


def loop_over_helper(anchor: StackAnchor | None, calls: int) -> list[object]:
    chains = [helper_query(anchor) for _ in range(calls)]
    for _ in range(calls):
        chains.append(helper_query(anchor))
        chains.append(middle(anchor))
        chains.append(capture_stack(1, MAX_STACK, anchor))  # from this frame itself
    chains += list(capture_stack(1, MAX_STACK, anchor) for _ in range(2))  # a generator's frame
    return chains


def test_frames_below_the_opener_give_the_same_chains_as_a_full_walk() -> None:
    """Frames a walk passes below the unit's opener (a loop, a helper, new frames per call)
    are read by code and instruction, never held: the chains stay those of a full walk."""
    anchor = StackAnchor.here(1)
    with_anchor, again, without = [loop_over_helper(a, 3) for a in (anchor, anchor, None)]
    assert with_anchor == again == without
    many, many_without = [loop_over_helper(a, 80) for a in (anchor, None)]
    assert many == many_without


def opened_in_a_generator() -> Iterator[StackAnchor]:
    yield StackAnchor.here(1)


def test_only_an_opener_that_outlives_the_unit_is_held() -> None:
    assert StackAnchor.here(1).opener is sys._getframe()
    # a generator may be resumed under other callers: no opener, its queries walk in full
    assert next(opened_in_a_generator()).opener is None
    # a context manager's __enter__ called by hand (not by a with statement): nothing held
    assert by_hand() is None
    with unit_module.profile("held") as unit:
        assert unit.anchor is not None and unit.anchor.opener is sys._getframe()
    assert unit.anchor is None  # released when the unit closes


def by_hand() -> FrameType | None:
    scope = unit_module.profile("by hand")
    unit = scope.__enter__()
    try:
        return unit.anchor.opener  # type: ignore[union-attr]
    finally:
        scope.__exit__(None, None, None)


def test_call_sites_hash_by_value_in_every_process() -> None:
    site = CallSite("app/dal.py", 10, "load")
    assert site == CallSite("app/dal.py", 10, "load") and hash(site) == hash(
        ("app/dal.py", 10, "load")
    )
    assert site != CallSite("app/dal.py", 11, "load")
    code = (
        "import pickle, sys; from dbaudit.runtime.events import CallSite; "
        "site = pickle.loads(sys.stdin.buffer.read()); "
        "print(hash(site) == hash(CallSite(site.path, site.line, site.function)))"
    )
    done = subprocess.run(  # another process: another string hash seed
        [sys.executable, "-c", code], input=pickle.dumps(site), capture_output=True, check=True
    )
    assert done.stdout.strip() == b"True"
