import textwrap

from dbaudit.analysis.program import Program
from dbaudit.analysis.sequences import (
    combinable_pairs,
    dependent_lookups,
    exclusive,
    query_events,
    sequential_groups,
)
from dbaudit.frontends.python import parse_module


def setup(source: str, name: str) -> tuple[Program, object]:
    prog = Program([parse_module("app.py", textwrap.dedent(source))])
    return prog, prog.graph.functions[f"app.py::{name}"]


def test_exclusive_branches() -> None:
    assert exclusive(((1, 0),), ((1, 1),))
    assert not exclusive(((1, 0),), ((1, 0), (2, 1)))
    assert not exclusive((), ((1, 1),))
    # the earlier event's arm returns: what follows that arm never runs after it
    assert exclusive(((1, 0), (2, 0)), (), exiting=((2, 0),))
    assert not exclusive(((1, 0), (2, 0)), ((1, 0), (2, 0)), exiting=((2, 0),))


def test_events_and_independence() -> None:
    prog, ref = setup(
        """
        async def f(session, uid):
            user = await session.get(User, uid)
            if user is None:
                return None
            a = await session.scalar(select(A).where(A.user_id == uid))
            b = await session.scalar(select(B).where(B.user_id == uid))
            c = await session.scalar(select(C).where(C.a_id == a.id))
        """,
        "f",
    )
    events = query_events(prog, ref)  # type: ignore[arg-type]
    assert [e.targets for e in events] == [("user",), ("a",), ("b",), ("c",)]
    (group,) = sequential_groups(prog, ref)  # type: ignore[arg-type]
    assert [e.targets for e in group.events] == [("a",), ("b",)]
    assert group.shared_session == "session"


def test_dependent_lookups_need_two_foreign_keys() -> None:
    prog, ref = setup(
        """
        async def f(session, rid):
            r = await session.get(Render, rid)
            p = await session.get(Render, r.parent_render_id)
            c = await session.get(Chain, r.chain_id)
            return r, p, c
        """,
        "f",
    )
    (group,) = dependent_lookups(prog, ref)  # type: ignore[arg-type]
    assert group.attributes == ("parent_render_id", "chain_id")
    assert combinable_pairs(prog, ref) == []  # type: ignore[arg-type]
