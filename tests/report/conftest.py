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
    CallSignature,
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
        signature=CallSignature(("session", "chain_id"), True, "RenderChainService", "method"),
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
        signature=CallSignature(
            ("session", "user_id"), True, "ProfileStatsService", "staticmethod"
        ),
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


def build_live_audit() -> Audit:
    """The sample audit after a live review (``--db``) and a measured before/after run: index
    advice with statement costs, index health, server settings and measured metrics."""
    from dbaudit.findings import (
        DatabaseReview,
        ExistingIndex,
        IndexNotRecommended,
        IndexRecommendation,
        OperationMetric,
        StatementCost,
    )

    audit = build_sample_audit()
    ddl = "CREATE INDEX CONCURRENTLY ON renders (chain_id) WHERE chain_id IS NOT NULL"
    medium_ddl = "CREATE INDEX CONCURRENTLY ON credit_transactions (user_id, created_at DESC)"
    review = DatabaseReview(
        database="postgresql://app@db.internal/shop",
        source="live",
        server_version="15.4",
        tables=10,
        planner="hypopg",
        workload_source="pg_stat_statements",
        workload_statements=12,
        workload_cost_before=48210.5,
        workload_cost_after=9120.25,
        recommendations=(
            IndexRecommendation(
                ddl=ddl,
                table="renders",
                priority="high",
                size_bytes=315_392,
                reason="saves 78% of the workload's cost; renders of a chain are read by chain",
                statements=(
                    StatementCost(
                        label="q1",
                        query="SELECT * FROM renders WHERE chain_id = $1 ORDER BY chain_position",
                        calls=1200,
                        cost_before=2310.0,
                        cost_after=8.45,
                        ms_before=12.4,
                        ms_after=0.31,
                    ),
                ),
            ),
            IndexRecommendation(
                ddl=medium_ddl,
                table="credit_transactions",
                priority="medium",
                size_bytes=1_310_720,
                reason="saves 6% of the workload's cost",
                statements=(
                    StatementCost(
                        label="q2",
                        query="SELECT * FROM credit_transactions WHERE user_id = $1 "
                        "ORDER BY created_at DESC LIMIT $2",
                        calls=40,
                        cost_before=1520.0,
                        cost_after=12.5,
                    ),
                ),
            ),
        ),
        not_recommended=(
            IndexNotRecommended(
                "CREATE INDEX ON users (email)", "users", "already served by users_email_key"
            ),
        ),
        existing_indexes=(
            ExistingIndex(
                "renders",
                "renders_pkey",
                "CREATE UNIQUE INDEX renders_pkey ON public.renders USING btree (id)",
                size_bytes=2_457_600,
                scans=91_204,
                backs_constraint="PRIMARY KEY (id)",
            ),
            ExistingIndex(
                "users",
                "users_email_key",
                "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)",
                size_bytes=65_536,
                scans=5_120,
                backs_constraint="UNIQUE (email)",
            ),
        ),
        settings=(
            ("max_connections", "100"),
            ("superuser_reserved_connections", "3"),
            ("statement_timeout", "0"),
            ("idle_in_transaction_session_timeout", "0"),
        ),
        connections_by_state=(("active", 3), ("idle", 12), ("idle in transaction", 1)),
        problems=("pg_stat_statements has no calls for 2 statements: they were weighed as 1",),
    )
    live = [
        Finding(
            rule="DBA401",
            severity=Severity.HIGH,
            message="missing index on renders: saves 78% of the workload's cost",
            path="db://shop/renders",
            line=0,
            end_line=0,
            fix=Fix("create the index (308.0 kB)", ddl, "sql"),
            confidence="high",
            source="live",
            problem="q1: cost 2310.0 -> 8.5 (x1200)",
        ),
        Finding(
            rule="DBA402",
            severity=Severity.MEDIUM,
            message="foreign key renders_project_id_fkey on renders (project_id) has no index",
            path="db://shop/renders",
            line=0,
            end_line=0,
            fix=Fix(
                "index the referencing column",
                "CREATE INDEX CONCURRENTLY ON renders (project_id);",
                "sql",
            ),
            confidence="high",
            source="live",
            problem="Deleting a project scans renders for each row.",
        ),
        Finding(
            rule="DBA501",
            severity=Severity.MEDIUM,
            message="statement_timeout is off for database shop",
            path="db://shop",
            line=0,
            end_line=0,
            fix=Fix(
                "set a statement timeout of 30s for the application",
                "ALTER DATABASE shop SET statement_timeout = '30s';",
                "sql",
            ),
            confidence="high",
            source="live",
            problem="Set it per role or database rather than server-wide.",
        ),
    ]
    audit.findings = [*audit.findings, *live]
    audit.database = review
    audit.metrics = (
        OperationMetric("delete_chain", 52, 1, 888.74, 14.57, measured=True, timed="call"),
        OperationMetric("get_user_projects", 51, 2, 247.22, 15.36, measured=True, timed="call"),
        OperationMetric("get_profile_stats", 5, 4, 43.47, 8.22, measured=True, timed="call"),
    )
    return audit


@pytest.fixture()
def live_audit() -> Audit:
    return build_live_audit()
