"""Chains inside real units equal a full walk's, whatever frame opened the unit.

The unit's anchor holds its opener (the ``with`` statement's frame, the decorator's wrapper)
and keys the frames below it by code and instruction. Each "query" here records the chain the
open unit's anchor gives and a full walk's, from the same frame: under ``with profile()``, a
@contextmanager of the application's that opens the unit (one in another), the decorator (a
library frame opens the unit), ``async with`` and the async decorator, and a unit opened by a
call of ``__enter__`` by hand (no opener: the full walk).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator

from dbaudit.runtime import profile
from dbaudit.runtime.callsite import MAX_STACK, capture_stack
from dbaudit.runtime.events import CallSite
from dbaudit.runtime.unit import Unit, current_unit

Chain = tuple[CallSite, ...]
# query()'s skip from inside a list comprehension: PEP 709 (3.12) runs it in its function's frame
COMPREHENSION_SKIP = 3 if sys.version_info < (3, 12) else 2
Pairs = list[tuple[Chain, Chain]]


def query(pairs: Pairs, skip: int = 2) -> None:
    unit = current_unit()
    assert unit is not None and unit.anchor is not None
    anchored = capture_stack(skip, MAX_STACK, unit.anchor)
    pairs.append((anchored, capture_stack(skip, MAX_STACK, None)))


def assert_same(pairs: Pairs) -> list[Chain]:
    assert pairs
    assert [anchored for anchored, _ in pairs] == [full for _, full in pairs]
    return [full for _, full in pairs]


def functions(chain: Chain) -> list[str]:
    return [site.function for site in chain]


def dal(pairs: Pairs) -> None:
    query(pairs)
    query(pairs)


def helper(pairs: Pairs, depth: int) -> None:
    if depth:
        helper(pairs, depth - 1)
    else:
        dal(pairs)


def work(pairs: Pairs) -> None:
    for depth in (0, 1, 3, MAX_STACK, 2 * MAX_STACK + 2):  # the last ones: past the opener's reach
        helper(pairs, depth)
    [dal(pairs) for _ in range(2)]  # a comprehension's frame (before Python 3.12)
    list(dal(pairs) for _ in range(2))  # a generator expression's: a frame on every version
    query(pairs)


def test_with_statement() -> None:
    pairs: Pairs = []
    for _ in range(3):
        with profile("with") as unit:
            assert unit.anchor is not None and unit.anchor.opener is not None
            work(pairs)
            query(pairs)  # the opener's own queries
            # from a comprehension in the opener's block (a frame of its own before 3.12)
            [query(pairs, COMPREHENSION_SKIP) for _ in range(2)]
    chains = assert_same(pairs)
    assert {functions(chain)[0] for chain in chains} == {"dal", "work", "test_with_statement"}


@contextlib.contextmanager
def audited() -> Iterator[Unit]:
    with profile("audited") as unit:
        yield unit


@contextlib.contextmanager
def outer() -> Iterator[Unit]:
    with audited() as unit:
        yield unit


def test_context_managers_of_the_application() -> None:
    pairs: Pairs = []
    for manager in (audited, outer, audited):
        with manager() as unit:
            assert unit.anchor is not None
            assert unit.anchor.opener is not None  # this frame: the with statement's
            work(pairs)
            query(pairs)
    assert_same(pairs)


@profile("decorated")
def decorated(pairs: Pairs) -> None:
    unit = current_unit()
    assert unit is not None and unit.anchor is not None and unit.anchor.opener is not None
    assert not unit.anchor.user  # the decorator's wrapper: library code
    work(pairs)
    query(pairs)


def test_decorator() -> None:
    pairs: Pairs = []
    for _ in range(3):
        decorated(pairs)
    chains = assert_same(pairs)
    assert "test_decorator" in functions(chains[0])  # above the wrapper


def test_enter_called_by_hand() -> None:
    pairs: Pairs = []
    scope = profile("by hand")
    unit = scope.__enter__()
    try:
        assert unit.anchor is not None and unit.anchor.opener is None
        work(pairs)
    finally:
        scope.__exit__(None, None, None)
    assert_same(pairs)


async def dal_async(pairs: Pairs) -> None:
    query(pairs)
    await asyncio.sleep(0)
    query(pairs)


async def work_async(pairs: Pairs) -> None:
    for _ in range(2):
        await dal_async(pairs)
    await asyncio.gather(dal_async(pairs), dal_async(pairs))
    [query(pairs, 3) for _ in range(2)]


@contextlib.asynccontextmanager
async def audited_async() -> AsyncIterator[Unit]:
    async with profile("audited async") as unit:
        yield unit


@profile("decorated async")
async def decorated_async(pairs: Pairs) -> None:
    await work_async(pairs)


def test_async_with_and_the_async_decorator() -> None:
    async def main() -> Pairs:
        pairs: Pairs = []
        for _ in range(2):
            async with profile("async with") as unit:
                assert unit.anchor is not None and unit.anchor.opener is not None
                await work_async(pairs)
                query(pairs)
            async with audited_async() as unit:
                assert unit.anchor is not None and unit.anchor.opener is not None
                await work_async(pairs)
            await decorated_async(pairs)
        return pairs

    chains = assert_same(asyncio.run(main()))
    assert any(functions(chain)[:2] == ["dal_async", "work_async"] for chain in chains)
