"""A query inside a list, dict or set comprehension has the chain it has on Python 3.12+.

Python 3.12 inlines these comprehensions into their function (PEP 709): the query's line is the
function's, under its name. Before 3.12 the comprehension runs in a frame of its own
(``owners.<locals>.<listcomp>``), called by the function's frame: the walk folds the two into
one entry. A generator expression stays a frame of its own on every version.
"""

from __future__ import annotations

import inspect
import sys

from dbaudit.runtime.callsite import MAX_STACK, StackAnchor, capture_stack
from dbaudit.runtime.events import CallSite

Chain = tuple[CallSite, ...]


def site(anchor: StackAnchor | None = None) -> Chain:
    return capture_stack(2, MAX_STACK, anchor)  # the caller's chain


def line() -> int:
    return sys._getframe(1).f_lineno  # type: ignore[no-any-return]


def owners(anchor: StackAnchor | None = None) -> dict[str, Chain]:
    here = line()
    return {
        "list": [site(anchor) for _ in range(1)][0],  # noqa: RUF015  # here + 2
        "dict": {0: site(anchor) for _ in range(1)}[0],  # noqa: B035  # here + 3
        "set": next(iter({site(anchor) for _ in range(1)})),  # here + 4
        "nested": [[site(anchor) for _ in range(1)] for _ in range(1)][0][0],  # noqa: RUF015  # here + 5
        "generator": next(site(anchor) for _ in range(1)),  # here + 6
        "line": here,  # type: ignore[dict-item]
    }


def caller(anchor: StackAnchor | None = None) -> dict[str, Chain]:
    return owners(anchor)


def test_comprehensions_are_folded_into_their_function() -> None:
    for anchor in (None, StackAnchor.here(1)):
        chains = caller(anchor)
        here: int = chains.pop("line")  # type: ignore[assignment]
        for kind, offset in (("list", 2), ("dict", 3), ("set", 4), ("nested", 5)):
            chain = chains[kind]
            assert chain[0].function == "owners", kind
            assert chain[0].line == here + offset, kind
            assert chain[1].function == "caller", kind  # no entry of its own for owners
            assert chain[2].function == "test_comprehensions_are_folded_into_their_function"
        generator = chains["generator"]
        assert [entry.function for entry in generator[:3]] == [
            "owners.<locals>.<genexpr>",
            "owners",
            "caller",
        ]
        assert generator[0].line == generator[1].line == here + 6


class Model:
    chain: Chain = [site() for _ in range(1)][0]  # noqa: RUF015  # a class body's comprehension


def test_a_class_bodys_comprehension_is_the_class_bodys_line() -> None:
    assert Model.chain[0].function == "Model"
    assert Model.chain[0].line == inspect.getsourcelines(Model)[1] + 1


def count_queries(n: int) -> list[Chain]:
    return [site() for _ in range(n)]


def test_a_chain_keeps_max_stack_entries_with_comprehensions_on_the_way() -> None:
    def deep(depth: int) -> list[Chain]:
        return [deep(depth - 1)[0] for _ in range(1)] if depth else count_queries(1)

    chain = deep(MAX_STACK)[0]
    assert len(chain) == MAX_STACK
    assert [entry.function for entry in chain] == ["count_queries"] + [
        "test_a_chain_keeps_max_stack_entries_with_comprehensions_on_the_way.<locals>.deep"
    ] * (MAX_STACK - 1)
