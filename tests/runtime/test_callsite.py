"""Call sites: application frames only, innermost first, cached per call chain."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType

import dbaudit.runtime.unit as unit_module
from dbaudit.runtime import callsite
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
    assert anchor.frames and anchor.suffixes  # frames adopted, the walk above them kept ...
    assert with_anchor == again == without  # ... and changed no chain
    assert [len(chain) for chain in without] == [  # type: ignore[arg-type]
        min(MAX_STACK, depth + 3 + len(capture_stack(1))) for depth in depths
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
    assert anchor.frames  # the frames above were adopted, the generator's never
    assert all(not frame.f_code.co_flags & inspect.CO_GENERATOR for frame in anchor.frames)


def helper_query(anchor: StackAnchor | None) -> object:
    return capture_stack(1, MAX_STACK, anchor)  # a new frame per call: adopted, never reused


def middle(anchor: StackAnchor | None) -> object:
    return helper_query(anchor)  # two new frames per item below the loop


def loop_over_helper(anchor: StackAnchor | None, calls: int) -> list[object]:
    chains = [helper_query(anchor) for _ in range(calls)]
    for _ in range(calls):
        chains.append(helper_query(anchor))
        chains.append(middle(anchor))
        chains.append(capture_stack(1, MAX_STACK, anchor))  # from this (adopted) frame itself
    chains += list(capture_stack(1, MAX_STACK, anchor) for _ in range(2))  # a generator's frame
    return chains


def test_adopted_frames_give_the_same_chains_as_a_full_walk() -> None:
    """Frames a walk passes after the unit opened (a loop, a helper) are anchored from then on
    (bounded, generators never): the chains stay those of a walk that reads every frame."""
    anchor = StackAnchor.here(1)
    opened_with = set(anchor.frames)
    with_anchor, again, without = [loop_over_helper(a, 3) for a in (anchor, anchor, None)]
    assert with_anchor == again == without
    adopted = [frame for frame in anchor.frames if frame not in opened_with]
    assert adopted and anchor.kept  # the loop's frame, its queries' chains kept by instruction
    assert all(not frame.f_code.co_flags & inspect.CO_GENERATOR for frame in adopted)
    many, many_without = [loop_over_helper(a, 80) for a in (anchor, None)]
    assert many == many_without


def frames_of(depth: int, into: list[FrameType]) -> None:
    into.append(sys._getframe())
    if depth:
        frames_of(depth - 1, into)


def test_a_unit_adopts_a_bounded_number_of_frames() -> None:
    anchor = StackAnchor.here(1)
    opened_with = len(anchor.frames)
    frames: list[FrameType] = []
    frames_of(callsite._ADOPTED_LIMIT + 10, frames)
    for frame in frames:
        anchor.adopt(frame)
    assert len(anchor.frames) - opened_with == callsite._ADOPTED_LIMIT  # they keep their locals


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
