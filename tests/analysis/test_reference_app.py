"""Acceptance on the bundled reference app: naive is flagged for every problem it was built
with and nothing else at low or above; optimized gets no finding at low or above and its
good practices come with their query costs."""

from __future__ import annotations

from pathlib import Path

import pytest

import dbaudit.reference.render_platform as render_platform
from dbaudit.analysis import AnalysisResult, analyze
from dbaudit.findings import Severity
from dbaudit.frontends.python import might_touch_database, parse_module

ROOT = Path(render_platform.__file__).parent
SHARED = ("schema.py", "rows.py", "results.py")


def audit(variant: str) -> AnalysisResult:
    files = [*sorted((ROOT / variant).rglob("*.py")), *(ROOT / name for name in SHARED)]
    modules = []
    for path in files:
        source = path.read_text()
        if might_touch_database(source):
            modules.append(parse_module(path.relative_to(ROOT).as_posix(), source))
    return analyze(modules)


@pytest.fixture(scope="module")
def naive() -> AnalysisResult:
    return audit("naive")


@pytest.fixture(scope="module")
def optimized() -> AnalysisResult:
    return audit("optimized")


def test_naive_findings_are_exactly_the_planted_problems(naive: AnalysisResult) -> None:
    found = {
        (f.rule, f.path, f.function, f.query_cost)
        for f in naive.findings
        if f.severity >= Severity.LOW
    }
    assert found == {
        # get_user_projects / get_user_recent_projects: a render query per project
        ("DBA102", "naive/services/projects.py", "user_project_overviews", "1 + N"),
        ("DBA102", "naive/services/projects.py", "recent_project_overviews", "1 + N"),
        # get_user_chains_with_renders: projects -> chains -> renders
        ("DBA102", "naive/services/chains.py", "user_chains_with_renders", "1 + N + N·M"),
        # delete_chain: one UPDATE (and commit) per render, then the DELETE
        ("DBA103", "naive/services/chains.py", "delete_chain", "2 + N"),
        # get_profile_stats: independent awaits in sequence, total counted from fetched rows
        ("DBA105", "naive/services/profile.py", "profile_stats", "4 (sequential)"),
        ("DBA108", "naive/services/profile.py", "profile_stats", "1 (all rows transferred)"),
        # get_render_with_context: render, then parent, reference and chain one by one
        ("DBA106", "naive/services/renders.py", "render_with_context", "≤ 4 (sequential)"),
        # get_user_credits_with_reset: credits then subscription, both by user_id
        ("DBA107", "naive/services/credits.py", "credits_with_reset", "2 (sequential)"),
        # the engine with library defaults
        ("DBA201", "naive/engine.py", "create_engine", ""),
    }


def test_naive_nested_loop_is_critical_with_the_whole_chain(naive: AnalysisResult) -> None:
    (inner,) = [
        f for f in naive.findings if f.rule == "DBA102" and "RendersDAL.list_for_chain" in f.message
    ]
    assert inner.severity == Severity.CRITICAL
    assert inner.fixed_query_cost == "3"
    assert [(h.path, h.function) for h in inner.call_chain] == [
        ("naive/services/chains.py", "user_chains_with_renders"),
        ("naive/dal/renders.py", "RendersDAL.list_for_chain"),
    ]
    assert "Render.chain_id.in_(keys)" in inner.fix.code  # type: ignore[union-attr]
    assert "keys = [chain.id for chain in chains]" in inner.fix.code  # type: ignore[union-attr]


def test_naive_helper_chain_spans_three_hops(naive: AnalysisResult) -> None:
    finding = next(f for f in naive.findings if f.function == "user_project_overviews")
    assert [h.function for h in finding.call_chain] == [
        "user_project_overviews",
        "project_overview",
        "RendersDAL.list_for_project",
    ]
    assert all(h.line > 0 for h in finding.call_chain)


def test_naive_sequential_awaits_say_the_session_is_shared(naive: AnalysisResult) -> None:
    finding = next(f for f in naive.findings if f.rule == "DBA105")
    assert finding.fixed_query_cost == "4 (concurrent)"
    assert "`session`" in finding.fix.summary  # type: ignore[union-attr]
    assert "asyncio.gather" in finding.fix.code  # type: ignore[union-attr]


def test_optimized_has_no_finding_at_low_or_above(optimized: AnalysisResult) -> None:
    assert [f for f in optimized.findings if f.severity >= Severity.LOW] == []


def test_optimized_good_practices_with_costs(optimized: AnalysisResult) -> None:
    practices = {(p.kind, p.function, p.query_cost) for p in optimized.good_practices}
    expected = {
        ("window function", "RendersDAL.latest_per_project", "1 query for N groups"),
        ("aggregation", "ProjectsDAL.with_render_counts", "1 query for N groups"),
        ("batched IN", "ChainsDAL.for_projects", "1 query for N keys"),
        ("batched IN", "RendersDAL.for_chains", "1 query for N keys"),
        ("batched IN", "RendersDAL.by_ids", "1 query for N keys"),
        ("joined lookup", "RendersDAL.with_context", "1 query"),
        ("bulk write", "RendersDAL.update_status", "1 statement for N rows"),
        ("concurrent awaits", "profile_stats", "4 (concurrent)"),
    }
    assert expected <= practices
