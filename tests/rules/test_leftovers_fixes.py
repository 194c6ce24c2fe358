"""Wrong fixes left over from reading every finding on CTFd, mealie and healthchecks, each
through the real pipeline: a query that is the same on every item is run once, not batched on
a constant; Django keywords across a relation are keys; bulk writes keep their conditions."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module


def findings(source: str, rule: str, path: str = "app/views.py") -> dict[str, Finding]:
    module = parse_module(path, textwrap.dedent(source))
    return {f.function: f for f in analyze([module], select=[rule]).findings}


def code_of(finding: Finding) -> str:
    assert finding.fix is not None
    return finding.fix.code


_CONSTANT_HELPER = """
from sqlalchemy import select


def all_drafts(session, limit):
    return session.scalars(select(Post).where(Post.status == "draft").limit(limit)).all()


def drafts_per_project(session, projects):
    for p in projects:
        show(p, all_drafts(session, 10))


def drafts_per_page(session, pages):
    for page in pages:
        show(page, all_drafts(session, page.size))


def drafts_per_tick(session, ticks):
    for tick in ticks:
        show(tick, all_drafts(session, random.randint(1, 10)))
"""


def test_dba102_helper_with_only_constant_filters_is_run_once_before_the_loop() -> None:
    found = findings(_CONSTANT_HELPER, "DBA102")
    same = found["drafts_per_project"]
    # it got "a batched variant that takes every p's key": there is no key, one answer
    assert "runs the same query on Post once per p" in same.message
    assert same.fix is not None and "once before the loop" in same.fix.summary
    assert code_of(same) == ""
    # a limit read from the item, or computed per call, is no longer the same query
    for name in ("drafts_per_page", "drafts_per_tick"):
        assert "same query" not in found[name].message
        assert found[name].fix is not None
        assert "once before the loop and reuse" not in found[name].fix.summary
