"""Call-site chains inside units equal a walk that reads every frame, whatever the unit kept.

Each "query" records two chains from the same frame: the one the unit's anchor gives (its
caches: the opener, the walk above it, chains by the codes and instructions of the frames
below it) and a full walk's. Units open in a row from one frame, per-item helpers make new
frames at every call (often at the address of the last one's, freed), coroutines suspend and
resume, tasks run under ``asyncio.gather``, and SQLAlchemy's greenlet bridge sends the walk
into the parent greenlet.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import greenlet  # type: ignore[import-untyped]
import pytest
from sqlalchemy.util import await_only, greenlet_spawn

from dbaudit.runtime import callsite
from dbaudit.runtime.callsite import MAX_STACK, StackAnchor, capture_stack
from dbaudit.runtime.events import CallSite

Chain = tuple[CallSite, ...]
Pairs = list[tuple[Chain, Chain]]


def query(anchor: StackAnchor, pairs: Pairs, skip: int = 2) -> None:
    """A query of this function's caller (``skip`` 2), or of a frame further up."""
    pairs.append((capture_stack(skip, MAX_STACK, anchor), capture_stack(skip, MAX_STACK, None)))


def assert_same(pairs: Pairs) -> list[Chain]:
    assert pairs
    assert [anchored for anchored, _ in pairs] == [full for _, full in pairs]
    return [full for _, full in pairs]


def functions(chain: Chain) -> list[str]:
    return [site.function for site in chain]


# --------------------------------------------------------------------------- synchronous


def dal_load(anchor: StackAnchor, pairs: Pairs) -> None:
    query(anchor, pairs)
    query(anchor, pairs)  # two queries from one (new) frame


def per_item(anchor: StackAnchor, pairs: Pairs) -> None:
    dal_load(anchor, pairs)


def other_item(anchor: StackAnchor, pairs: Pairs) -> None:
    dal_load(anchor, pairs)  # the same code below, other frames (the last ones' memory)


class QueriesWhenCopied:
    """A query under ``copy.deepcopy``: a library frame between application frames."""

    def __init__(self, anchor: StackAnchor, pairs: Pairs, skip: int = 2) -> None:
        self.anchor, self.pairs, self.skip = anchor, pairs, skip

    def __deepcopy__(self, memo: object) -> QueriesWhenCopied:
        query(self.anchor, self.pairs, self.skip)
        return self


def deep(anchor: StackAnchor, pairs: Pairs, depth: int) -> None:
    if depth:
        deep(anchor, pairs, depth - 1)
    else:
        query(anchor, pairs)


def generated(anchor: StackAnchor, pairs: Pairs) -> Iterator[None]:
    for _ in range(3):
        query(anchor, pairs)
        yield


def service(anchor: StackAnchor, pairs: Pairs) -> None:
    for _ in range(4):
        per_item(anchor, pairs)
        other_item(anchor, pairs)
        query(anchor, pairs)  # from this frame itself
    copy.deepcopy(QueriesWhenCopied(anchor, pairs))
    for depth in (2, MAX_STACK + 3):  # the chain ends below this frame
        deep(anchor, pairs, depth)
    list(generated(anchor, pairs))


def test_units_in_a_row_from_one_frame_give_the_same_chains_as_a_full_walk() -> None:
    pairs: Pairs = []
    anchors = []
    for _ in range(4):  # four units opened from this frame, one after the other
        anchor = StackAnchor.here(1)
        service(anchor, pairs)
        anchors.append(anchor)
    chains = assert_same(pairs)
    assert {chain[0].function for chain in chains} >= {"dal_load", "service", "deep", "generated"}
    assert len({chain[0].line for chain in chains}) >= 6
    for anchor in anchors:  # each unit held this frame (its opener) and no other
        assert anchor.opener is inspect.currentframe()


def alternate(anchor: StackAnchor, pairs: Pairs, first: bool) -> None:
    query(anchor, pairs)  # a new frame per call, where the last one was


def test_frames_at_reused_addresses_are_told_apart() -> None:
    """Frames die and new ones take their memory (and their id): the frames below the opener
    are keyed by code and instruction, never by identity."""
    pairs: Pairs = []
    anchor = StackAnchor.here(1)
    for index in range(40):
        if index % 2:
            alternate(anchor, pairs, True)
        else:
            per_item(anchor, pairs)
    chains = assert_same(pairs)
    assert len({functions(chain)[0] for chain in chains}) == 2


# --------------------------------------------------------------------------- asyncio


async def dal_async(anchor: StackAnchor, pairs: Pairs) -> None:
    query(anchor, pairs)
    await asyncio.sleep(0)  # the task suspends: its frames wait, then resume where they were
    query(anchor, pairs)


async def helper_async(anchor: StackAnchor, pairs: Pairs) -> None:
    await dal_async(anchor, pairs)  # a new coroutine frame per item


async def in_task(anchor: StackAnchor, pairs: Pairs) -> None:
    await dal_async(anchor, pairs)  # a task's stack: it ends at the event loop


async def service_async(anchor: StackAnchor, pairs: Pairs) -> None:
    for _ in range(4):
        await helper_async(anchor, pairs)
        query(anchor, pairs)
    await asyncio.gather(*(in_task(anchor, pairs) for _ in range(3)))
    await helper_async(anchor, pairs)


def test_coroutines_and_tasks_give_the_same_chains_as_a_full_walk() -> None:
    async def main() -> Pairs:
        pairs: Pairs = []
        for _ in range(3):  # units in a row from this coroutine
            await service_async(StackAnchor.here(1), pairs)
        return pairs

    chains = assert_same(asyncio.run(main()))
    tasks = [chain for chain in chains if "in_task" in functions(chain)]
    assert tasks and all(functions(chain) == ["dal_async", "in_task"] for chain in tasks)
    assert any(
        functions(chain)[:3] == ["dal_async", "helper_async", "service_async"] for chain in chains
    )


# --------------------------------------------------------------------------- greenlet bridge


async def dal_bridged(anchor: StackAnchor, pairs: Pairs, skip: int) -> None:
    # SQLAlchemy's asyncio layer: the statement runs in a child greenlet, under library frames
    # only (skip 3: from copy.deepcopy; 6: past the child's stack, as the ORM's skips go) or
    # under an application frame of its own (skip 2: the __deepcopy__, as under run_sync)
    await greenlet_spawn(copy.deepcopy, QueriesWhenCopied(anchor, pairs, skip))


async def helper_bridged(anchor: StackAnchor, pairs: Pairs, skip: int) -> None:
    await dal_bridged(anchor, pairs, skip)


async def service_bridged(anchor: StackAnchor, pairs: Pairs) -> None:
    for skip in (3, 3, 6, 6, 2, 2):
        await dal_bridged(anchor, pairs, skip)
        await helper_bridged(anchor, pairs, skip)
    await asyncio.gather(*(dal_bridged(anchor, pairs, skip) for skip in (3, 6, 2)))


def test_walks_into_the_parent_greenlet_give_the_same_chains_as_a_full_walk() -> None:
    async def main() -> Pairs:
        pairs: Pairs = []
        for _ in range(3):
            await service_bridged(StackAnchor.here(1), pairs)
        return pairs

    chains = assert_same(asyncio.run(main()))
    firsts = {functions(chain)[0] for chain in chains}
    assert firsts == {"dal_bridged", "QueriesWhenCopied.__deepcopy__"}
    assert any(
        functions(chain)[:3] == ["dal_bridged", "helper_bridged", "service_bridged"]
        for chain in chains
    )
    # run_sync's case: the child's own application frame, then the parent's
    assert any(
        functions(chain)[:2] == ["QueriesWhenCopied.__deepcopy__", "dal_bridged"]
        for chain in chains
    )


def loop_in_child(anchor: StackAnchor, pairs: Pairs) -> None:
    """A function run in a greenlet of its own: its frame is the bottom of that stack."""
    for _ in range(4):
        query(anchor, pairs)


def test_a_loop_at_the_bottom_of_a_greenlet_gives_the_same_chains_as_a_full_walk() -> None:
    async def main() -> Pairs:
        pairs: Pairs = []
        for _ in range(2):
            # as under AsyncConnection.run_sync: the walk goes on into the parent greenlet,
            # which switches: nothing above the loop's frame is kept
            await greenlet_spawn(loop_in_child, StackAnchor.here(1), pairs)
        return pairs

    chains = assert_same(asyncio.run(main()))
    assert all(
        functions(chain)[:2]
        == [
            "loop_in_child",
            "test_a_loop_at_the_bottom_of_a_greenlet_gives_the_same_chains_as_a_full_walk.<locals>.main",
        ]
        for chain in chains
    )
    # another library's greenlet (a gevent hub's child): the walk ends with its stack
    pairs: Pairs = []
    greenlet.greenlet(loop_in_child).switch(StackAnchor.here(1), pairs)
    assert [functions(chain) for chain in assert_same(pairs)] == [["loop_in_child"]] * 4


def issue(anchor: StackAnchor, pairs: Pairs) -> None:
    from_below(anchor, pairs)  # first a query of a function it calls (the unit's first query)
    query(anchor, pairs)  # then its own, from the frame that query passed


def from_below(anchor: StackAnchor, pairs: Pairs) -> None:
    query(anchor, pairs)


def level(depth: int, anchor: StackAnchor, pairs: Pairs) -> None:
    if depth:
        level(depth - 1, anchor, pairs)
    else:
        issue(anchor, pairs)


def above_levels(anchor: StackAnchor, pairs: Pairs) -> None:
    level(MAX_STACK - 3, anchor, pairs)


def test_what_a_cut_chain_says_of_the_frames_above_is_not_taken_for_all_of_it() -> None:
    """The unit's first query comes from MAX_STACK frames with more above: the chain is cut
    there, and so is what it tells of the frames it passed. The same frames at the bottom of a
    stack (a greenlet of their own) make shorter chains: never the one given for them here."""
    shallow: Pairs = []
    greenlet.greenlet(level).switch(MAX_STACK - 3, StackAnchor.here(1), shallow)
    assert [len(chain) for chain in assert_same(shallow)] == [MAX_STACK, MAX_STACK - 1]
    pairs: Pairs = []
    above_levels(StackAnchor.here(1), pairs)
    chains = assert_same(pairs)
    assert [len(chain) for chain in chains] == [MAX_STACK, MAX_STACK]
    assert functions(chains[1])[-1] == "above_levels"


def test_a_library_frame_between_application_frames_does_not_end_the_chain() -> None:
    """Under ``copy.deepcopy``: the frames above it are the application's too (the same
    frame at the bottom of a stack of library frames makes a chain of one frame)."""
    alone: Pairs = []
    greenlet.greenlet(copy.deepcopy).switch(QueriesWhenCopied(StackAnchor.here(1), alone))
    assert [functions(chain) for chain in assert_same(alone)] == [
        ["QueriesWhenCopied.__deepcopy__"]
    ]
    pairs: Pairs = []
    anchor = StackAnchor.here(1)
    for _ in range(3):
        copy.deepcopy(QueriesWhenCopied(anchor, pairs))
    chains = assert_same(pairs)
    assert all(len(chain) > 1 for chain in chains)


async def service_of_the_orm(anchor: StackAnchor, pairs: Pairs) -> None:
    for skip in (3, 6, 3, 6):  # the ORM's statements: library frames only in the child greenlet
        await dal_bridged(anchor, pairs, skip)
        await helper_bridged(anchor, pairs, skip)
    await asyncio.gather(*(dal_bridged(anchor, pairs, 6) for _ in range(2)))


async def nested(depth: int, anchor: StackAnchor, pairs: Pairs) -> None:
    if depth:
        await nested(depth - 1, anchor, pairs)  # the chains longer than MAX_STACK frames
    else:
        await service_of_the_orm(anchor, pairs)


def test_a_units_queries_from_known_sites_take_no_full_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reference workload's shape: after the first unit, every query's chain comes from
    what the walk read up to the unit's opener and the chains seen before: no full walk but
    for the queries of the tasks the unit started (their stacks end at the event loop, not at
    the opener), and one walk above the opener per unit."""
    full_walks: list[str] = []

    def counted(name: str, walk: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            full_walks.append(name)
            return walk(*args)

        return run

    monkeypatch.setattr(callsite, "_chain", counted("full", callsite._chain))
    monkeypatch.setattr(StackAnchor, "tail", counted("above", StackAnchor.tail))

    async def main() -> tuple[Pairs, list[list[str]]]:
        pairs: Pairs = []
        walks = []
        for _ in range(3):
            full_walks.clear()
            await nested(MAX_STACK, StackAnchor.here(1), pairs)
            walks.append(list(full_walks))
        return pairs, walks

    pairs, walks = asyncio.run(main())
    assert_same(pairs)  # (its own full walks: made with no anchor, not counted below)
    # (the counts include the full walks of assert_same's own queries: one per query)
    assert [walk.count("full") - len(pairs) // 3 for walk in walks[1:]] == [2, 2]  # the tasks'
    assert [walk.count("above") for walk in walks] == [1, 1, 1]


class QueriesAfterAwaiting(QueriesWhenCopied):
    """Copied in a bridge greenlet: awaits (the parent greenlet runs other tasks), then queries
    under library frames only (skip 3: from copy.deepcopy)."""

    def __deepcopy__(self, memo: object) -> QueriesAfterAwaiting:
        await_only(asyncio.sleep(0))
        query(self.anchor, self.pairs, 3)
        return self


async def several_in_one_greenlet(anchor: StackAnchor, pairs: Pairs) -> None:
    # one greenlet_spawn, several statements in its greenlet (as an autoflush, eager loads)
    await greenlet_spawn(copy.deepcopy, [QueriesAfterAwaiting(anchor, pairs) for _ in range(3)])


async def several_below(anchor: StackAnchor, pairs: Pairs) -> None:
    await several_in_one_greenlet(anchor, pairs)


def test_statements_of_one_bridge_greenlet_give_the_same_chains_as_a_full_walk() -> None:
    """A bridge greenlet's statements (under library frames only) share a chain while it
    lives; greenlets of other tasks run in between, from other frames."""

    async def main() -> Pairs:
        pairs: Pairs = []
        for _ in range(3):
            anchor = StackAnchor.here(1)
            await several_in_one_greenlet(anchor, pairs)
            await asyncio.gather(
                several_in_one_greenlet(anchor, pairs),
                several_below(anchor, pairs),
                several_in_one_greenlet(anchor, pairs),
            )
            await several_below(anchor, pairs)
        return pairs

    chains = assert_same(asyncio.run(main()))
    assert {tuple(functions(chain)[:2]) for chain in chains} == {
        (
            "several_in_one_greenlet",
            "test_statements_of_one_bridge_greenlet_give_the_same_chains_as_a_full_walk.<locals>.main",
        ),
        ("several_in_one_greenlet", "several_below"),
        ("several_in_one_greenlet",),  # a task's (under gather): its stack ends at the loop
    }
