"""The key of a helper's query, in the loop's terms (``Program.key_in_caller``): the filter
whose value reads what the call passes, never the helper's first filter as written."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.analysis.program import Program
from dbaudit.frontends.python import parse_module

FIXTURES = Path(__file__).parent / "fixtures"


def fixes(name: str, rule: str) -> dict[str, str]:
    path = FIXTURES / name
    findings = analyze([parse_module(path.name, path.read_text())], select=[rule]).findings
    return {f.function: f.fix.code for f in findings if f.fix is not None}


def test_a_helper_query_is_batched_on_the_filter_that_reads_the_passed_key() -> None:
    found = fixes("DBA102_helper_key_among_filters.py", "DBA102")
    assert found["renders_per_project"] == (
        "keys = [p.id for p in projects]\n"
        # the helper's other filter is carried over by name, never dropped (batchfix)
        "# keep the query's other conditions: Render.tenant_id == TENANT"
        " (as the helper writes it)\n"
        "rows = session.scalars(select(Render).where(Render.project_id.in_(keys))).all()"
        "  # one query for all of them\n"
        "by_key: dict = {}\n"
        "for row in rows:\n"
        "    by_key.setdefault(row.project_id, []).append(row)\n"
        "for p in projects:\n"
        "    ...  # use by_key.get(p.id, [])"
    )
    for function in (
        "renders_per_project_by_keyword",
        "renders_per_project_of_tenant",
        "overviews",
    ):
        assert "keys = [p.id for p in projects]" in found[function], function
        assert "Render.project_id.in_(keys)" in found[function], function
    # the helper wraps its parameter: the fix computes each key as the helper does
    assert "keys = [int(ref.value) for ref in refs]" in found["renders_per_project_key"]
    # the tenant is never the key (it may only be named among the conditions to keep)
    code_lines = [
        line
        for code in found.values()
        for line in code.splitlines()
        if not line.startswith("# keep the query's other conditions:")
    ]
    assert not any("tenant" in line.lower() for line in code_lines)


def test_a_helper_write_is_batched_on_the_filter_that_reads_the_passed_key() -> None:
    found = fixes("DBA103_helper_key_among_filters.py", "DBA103")
    assert ".where(Render.id.in_([render.id for render in renders]))" in found["archive_drafts"]
    for function in ("remove_members", "remove_members_by_keyword"):
        assert ".where(Member.user_id.in_([user.id for user in users]))" in found[function]


def program(source: str) -> Program:
    return Program([parse_module("app.py", textwrap.dedent(source))])


def key_of_call(prog: Program, caller: str, loop_names: tuple[str, ...] = ()) -> str | None:
    ref = prog.graph.functions[f"app.py::{caller}"]
    ((call, target),) = list(prog.graph.callees(ref))
    key = prog.key_in_caller(call, target, loop_names)
    return None if key is None else f"{key.column} {key.op} {key.value}"


HELPERS = """
from sqlalchemy import select

def drafts(session, limit):
    return session.scalars(select(Render).where(Render.kind == "draft").limit(limit)).all()

def newer(session, since):
    return session.scalars(
        select(Render).where(Render.kind == "draft", Render.created_at > since)
    ).all()

def of_owner(session, owner):
    return session.scalars(select(Render).where(Render.owner_id == owner.id)).all()

def drafts_per_project(session, projects):
    for p in projects:
        drafts(session, 10)

def newer_per_project(session, projects):
    for p in projects:
        newer(session, p.created_at)

def of_owner_per_project(session, projects):
    for p in projects:
        of_owner(session, p.owner or p.creator)

def of_owner_elided(session, projects):
    for p in projects:
        of_owner(session, *p.owners)
"""


def test_no_key_when_no_equality_filter_reads_a_passed_parameter() -> None:
    prog = program(HELPERS)
    assert key_of_call(prog, "drafts_per_project", ("p",)) is None  # only a constant filter
    assert key_of_call(prog, "newer_per_project", ("p",)) is None  # a range, not a key
    assert key_of_call(prog, "of_owner_elided", ("p",)) is None  # position unknown


def test_an_expression_argument_keeps_its_parentheses_before_an_attribute() -> None:
    prog = program(HELPERS)
    assert (
        key_of_call(prog, "of_owner_per_project", ("p",)) == "owner_id == (p.owner or p.creator).id"
    )
