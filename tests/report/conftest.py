"""Report tests: a realistic ``Audit`` built by hand, and golden files.

Golden files in ``tests/report/golden/`` change only on purpose:
``pytest tests/report --update-golden`` rewrites them; review the diff before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.findings import (
    Audit,
    CallHop,
    FileSummary,
    Finding,
    Fix,
    GoodPractice,
    RuntimeEvidence,
    Severity,
    SkippedFile,
)

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/report/golden/* from the current reporters",
    )


class Golden:
    def __init__(self, update: bool) -> None:
        self.update = update

    def check(self, name: str, actual: str) -> None:
        path = GOLDEN_DIR / name
        if self.update:
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"{path} missing; run pytest tests/report --update-golden"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{name} differs from the golden file"


@pytest.fixture()
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(bool(request.config.getoption("--update-golden", default=False)))


def build_sample_audit() -> Audit:
    """An audit of a small layered app: three findings, two good practices, two skipped files."""
    delete_chain = Finding(
        rule="DBA103",
        severity=Severity.HIGH,
        message="UPDATE per render inside a loop over renders (1 + N statements)",
        path="app/services/render_chain.py",
        line=14,
        end_line=16,
        col=8,
        function="RenderChainService.delete_chain",
        query_cost="2 + N",
        fixed_query_cost="3",
        call_chain=(
            CallHop(
                "app/services/render_chain.py",
                15,
                "RenderChainService.delete_chain",
                "calls RenderChainsDAL.remove_render",
            ),
            CallHop(
                "app/dal/render_chains.py",
                31,
                "RenderChainsDAL.remove_render",
                "session.execute(update(Render))",
            ),
        ),
        fix=Fix(
            summary="Clear the chain of all its renders with one UPDATE ... WHERE id IN (...)",
            code=(
                "await session.execute(\n"
                "    update(Render).where(Render.id.in_(render_ids)).values(chain_id=None)\n"
                ")"
            ),
        ),
        code=(
            "for render in renders:\n"
            "    await RenderChainsDAL.remove_render(session, chain_id, render.id)"
        ),
        problem="Each render costs one round trip; a chain of 50 renders issues 52 statements.",
        evidence=RuntimeEvidence(queries=52, total_ms=412.5, unit="test_delete_chain"),
        confidence="high",
    )
    stats = Finding(
        rule="DBA105",
        severity=Severity.MEDIUM,
        message="4 independent queries awaited one after another",
        path="app/services/profile_stats.py",
        line=9,
        end_line=12,
        function="ProfileStatsService.get_user_stats",
        query_cost="4 (sequential)",
        fixed_query_cost="4 (concurrent)",
        fix=Fix(summary="Run them with asyncio.gather, each on its own session"),
        code="user = await get_user(s, uid)\nprojects = await get_projects(s, uid)",
    )
    unbounded = Finding(
        rule="DBA110",
        severity=Severity.INFO,
        message="list query without LIMIT in a request handler",
        path="app/actions/projects.py",
        line=21,
        end_line=21,
        function="list_projects",
        query_cost="1",
        source="runtime",
    )
    practices = [
        GoodPractice(
            kind="window function",
            path="app/dal/projects.py",
            line=40,
            end_line=52,
            function="ProjectsDAL.get_latest_renders",
            description="latest renders per project with ROW_NUMBER() in one query",
            query_cost="1",
            code="select(Render, func.row_number().over(partition_by=Render.project_id))",
        ),
        GoodPractice(
            kind="batched IN",
            path="app/services/render_chain.py",
            line=30,
            end_line=33,
            function="RenderChainService.get_many",
            description="fetches renders by id with one IN query",
            query_cost="1",
        ),
    ]
    return Audit(
        roots=("app",),
        files=[
            FileSummary("app/actions/projects.py", 40, "handlers/actions"),
            FileSummary("app/dal/projects.py", 80, "data access"),
            FileSummary("app/dal/render_chains.py", 60, "data access"),
            FileSummary("app/models.py", 120, "models"),
            FileSummary("app/services/profile_stats.py", 30, "services"),
            FileSummary("app/services/render_chain.py", 45, "services"),
        ],
        findings=[delete_chain, stats, unbounded],
        good_practices=practices,
        skipped=[
            SkippedFile("app/legacy.py", "syntax error (line 3): invalid syntax"),
            SkippedFile("app/latin.py", "not valid UTF-8 (byte 17)"),
        ],
    )


@pytest.fixture()
def sample_audit() -> Audit:
    return build_sample_audit()
