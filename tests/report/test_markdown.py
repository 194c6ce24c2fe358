from __future__ import annotations

from dataclasses import replace
from datetime import date

from dbaudit.findings import (
    Audit,
    FileSummary,
    Finding,
    Fix,
    GoodPractice,
    RuntimeEvidence,
    Severity,
)
from dbaudit.report import content, markdown

AUDIT_DATE = date(2026, 1, 15)


def test_markdown_report_matches_golden(sample_audit: Audit, golden) -> None:
    golden.check("sample.md", markdown.render(sample_audit, today=AUDIT_DATE))


def test_sections_follow_the_audit_layout(sample_audit: Audit) -> None:
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Executive Summary",
        "## Detailed Findings by File",
        "## Database Indexing Review",
        "## Connection Management Review",
        "## Performance Metrics Summary",
        "## Files Not Analyzed",
        "## Implementation Priority",
        "## Testing Strategy",
        "## Code Review Checklist",
        "## Conclusion",
    ]


def test_executive_summary_counts_files_by_layer_and_findings(sample_audit: Audit) -> None:
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    assert (
        "- **Total Files Audited:** 6 files (375 lines): 2 data access, 2 services, "
        "1 handlers/actions, 1 models" in report
    )
    assert "- **Findings:** 3 (1 high, 1 medium, 1 info)" in report
    assert "- **Already Optimized:** 2 operations (1 window function, 1 batched IN)" in report


def test_finding_block_has_lines_code_problem_fix_and_counts(sample_audit: Audit) -> None:
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    block = report[report.index("**Issue:** UPDATE per render") :]
    block = block[: block.index("\n---\n")]
    assert "**Severity:** HIGH" in block
    assert "**Lines 14-16:**" in block
    assert "for render in renders:" in block
    assert "**Problem:**" in block and "52 statements" in block
    assert "**Solution:**" in block and "update(Render).where(Render.id.in_(render_ids))" in block
    assert "- Before: 52 queries measured" in block
    assert "- After: 3 queries" in block
    assert (
        "*confirmed at runtime: 52 queries (412 ms in the database) in test_delete_chain*" in block
    )
    assert "1. `app/services/render_chain.py:15` `RenderChainService.delete_chain`" in block


def test_improvement_is_marked_as_estimate_without_measurements() -> None:
    finding = Finding(
        "DBA101",
        Severity.HIGH,
        "query in a loop",
        "a/dal.py",
        3,
        5,
        function="get_all",
        query_cost="1 + N",
        fixed_query_cost="2",
    )
    audit = Audit(
        roots=("a",), files=[FileSummary("a/dal.py", 10, "data access")], findings=[finding]
    )
    report = markdown.render(audit, today=AUDIT_DATE)
    assert "51 → 2 queries across the flagged operations (**96% fewer**)" in report
    assert "*estimate: no database was measured; loops assumed to run 50 times*" in report
    assert "### Before and After (Estimated)" in report
    assert "**96% fewer queries** (51 → 2, estimate at N = 50)" in report


def test_optimized_files_are_listed_without_findings(sample_audit: Audit) -> None:
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    optimized = report[report.index("### 🟢 OPTIMIZED") : report.index("### 🔴 HIGH")]
    assert "#### File: `app/dal/projects.py`" in optimized
    assert "app/services/render_chain.py" not in optimized  # it has a finding


def test_empty_audit_still_renders_every_mandatory_section() -> None:
    report = markdown.render(Audit(roots=("empty",)), today=AUDIT_DATE)
    assert "## Executive Summary" in report
    assert "- **Findings:** none" in report
    assert "## Code Review Checklist" in report
    assert "- [ ] No queries inside loops" in report


def test_files_skipped_by_design_are_summarised_below_the_errors(sample_audit: Audit) -> None:
    from dbaudit.findings import SkippedFile

    sample_audit.skipped += [SkippedFile(f"pkg{i}/__init__.py", "empty file") for i in range(3)]
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    section = report[report.index("## Files Not Analyzed") : report.index("## Implementation")]
    assert "| `app/legacy.py` | syntax error (line 3): invalid syntax |" in section
    assert "Skipped by design: empty file: 3." in section
    assert "- `pkg2/__init__.py`: empty file" in section
    assert section.index("app/legacy.py") < section.index("Skipped by design")


def test_typescript_code_is_fenced_and_commented_as_typescript() -> None:
    finding = Finding(
        "DBA105",
        Severity.MEDIUM,
        "sequential awaits",
        "lib/services/profile.ts",
        4,
        6,
        function="getProfileStats",
        code="const user = await getUser(id);\nconst credits = await getCredits(id);",
        fix=Fix(
            "run them together", "const [user, credits] = await Promise.all([...]);", "typescript"
        ),
    )
    practice = GoodPractice(
        "batched IN", "lib/dal/renders.mjs", 1, 2, "byIds", "one query", code="inArray(x, ids)"
    )
    audit = Audit(
        roots=("lib",),
        files=[FileSummary("lib/services/profile.ts", 10, "services", "typescript")],
        findings=[finding],
        good_practices=[practice],
    )
    report = markdown.render(audit, today=AUDIT_DATE)
    assert "```typescript\n// ❌ DBA105\nconst user" in report
    assert "```typescript\n// ✅ fixed\nconst [user, credits]" in report
    assert "```javascript\n// ✅ batched IN\ninArray(x, ids)" in report
    assert "```python" not in report


# --- the whole audit: database review, connections, metrics, plan, tests, checklist ----------


def _section(report: str, heading: str) -> str:
    start = report.index(f"## {heading}\n")
    end = report.find("\n## ", start + 1)
    return report[start : end if end >= 0 else len(report)]


def test_live_audit_matches_golden(live_audit: Audit, golden) -> None:
    golden.check("live.md", markdown.render(live_audit, today=AUDIT_DATE))


def test_live_indexing_review_has_ddl_costs_existing_rejected_and_problems(
    live_audit: Audit,
) -> None:
    section = _section(markdown.render(live_audit, today=AUDIT_DATE), "Database Indexing Review")
    assert (
        "**Database:** `postgresql://app@db.internal/shop` (PostgreSQL 15.4, 10 tables)" in section
    )
    assert "**Workload:** 12 statements from pg_stat_statements" in section
    assert "48,210.5 → 9,120.2" in section and "(**81% lower**)" in section
    high = section[section.index("#### High Priority") : section.index("#### Medium Priority")]
    assert (
        "```sql\nCREATE INDEX CONCURRENTLY ON renders (chain_id) WHERE chain_id IS NOT NULL;\n```"
        in high
    )
    assert "**Estimated size:** 308.0 kB" in high
    assert (
        "| `SELECT * FROM renders WHERE chain_id = $1 ORDER BY chain_position` | 1,200 "
        "| 2,310.0 → 8.4 | 12.4 ms → 0.31 ms |" in high
    )
    assert '<a id="finding-2"></a>' in high  # the DBA401 finding links here
    health = section[section.index("### Index Health") : section.index("### ✅ Already Indexed")]
    assert "**DBA402 foreign-key-without-index** (MEDIUM)" in health
    assert "CREATE INDEX CONCURRENTLY ON renders (project_id);" in health
    assert (
        "| `renders` | `renders_pkey` | `CREATE UNIQUE INDEX renders_pkey ON public.renders USING "
        "btree (id)` | PRIMARY KEY (id) | 2.3 MB | 91,204 |" in section
    )
    assert "<details><summary>1 candidate tried and not recommended" in section
    assert "| `CREATE INDEX ON users (email)` | already served by users_email_key |" in section
    assert "- pg_stat_statements has no calls for 2 statements" in section


def test_database_findings_are_in_the_reviews_not_under_a_file(live_audit: Audit) -> None:
    report = markdown.render(live_audit, today=AUDIT_DATE)
    by_file = _section(report, "Detailed Findings by File")
    assert "db://" not in by_file
    assert "*3 database findings (indexes, server settings) are in the reviews below.*" in by_file
    connections = _section(report, "Connection Management Review")
    assert (
        "| `statement_timeout` | 0 (off) | [set a statement timeout of 30s for the application]"
        "(#finding-4) |" in connections
    )
    assert "| idle in transaction | 1 |" in connections and "| **all** | **16** |" in connections
    assert "ALTER DATABASE shop SET statement_timeout = '30s';" in connections


def test_static_schema_review_lists_indexes_and_asks_for_a_database() -> None:
    from dbaudit.findings import DatabaseReview, ExistingIndex

    review = DatabaseReview(
        database="app/models.py",
        source="static",
        tables=3,
        existing_indexes=(
            ExistingIndex(
                "users", "users_pkey", "PRIMARY KEY (id)", backs_constraint="PRIMARY KEY"
            ),
        ),
    )
    fk = Finding(
        "DBA402",
        Severity.MEDIUM,
        "foreign key renders.chain_id has no index",
        "app/models.py",
        12,
        12,
        fix=Fix("index it", "CREATE INDEX ON renders (chain_id);", "sql"),
    )
    report = markdown.render(Audit(findings=[fk], database=review), today=AUDIT_DATE)
    section = _section(report, "Database Indexing Review")
    assert "**Schema:** read from the models in `app/models.py` (3 tables)" in section
    assert "Run with `--db postgresql://USER@HOST/DB` for planner-checked advice" in section
    assert "### Foreign Keys Without an Index" in section
    assert "**DBA402 foreign-key-without-index** (MEDIUM)" in section
    assert "| `users` | `users_pkey` | `PRIMARY KEY (id)` | PRIMARY KEY |" in section
    assert "Recommended Indexes" not in section  # no planner, no advice
    assert "The server was not reviewed" in _section(report, "Connection Management Review")


def test_without_a_review_the_section_says_how_to_get_one(sample_audit: Audit) -> None:
    section = _section(markdown.render(sample_audit, today=AUDIT_DATE), "Database Indexing Review")
    assert section.count("\n\n") == 1  # the heading and one paragraph
    assert "Run `dbaudit audit app --db postgresql://USER@HOST/DB`" in section


def test_measured_metrics_are_the_table_and_the_summary_says_measured(live_audit: Audit) -> None:
    report = markdown.render(live_audit, today=AUDIT_DATE)
    metrics = _section(report, "Performance Metrics Summary")
    assert "### Before and After (Measured)" in metrics
    assert "| Operation | Queries before | Queries after | Call time before | Call time after" in (
        metrics
    )
    assert "| `delete_chain` | 52 | 1 | 889 ms | 14.6 ms | **98% faster**, 98% fewer queries |" in (
        metrics
    )
    assert "| **all 3 operations** | **108** | **7** | **1,179 ms** | **38.1 ms** |" in metrics
    assert "Times are time per call, application code and network included." in metrics
    assert (
        "- **Expected Improvement:** 108 → 7 queries (**93% fewer**) and 1,179 ms → 38.1 ms "
        "(**97% faster**; time per call, application code and network included, summed) over "
        "3 operations, measured: both sides ran against the database" in report
    )


def test_modelled_metrics_say_so(sample_audit: Audit) -> None:
    from dbaudit.findings import OperationMetric

    sample_audit.metrics = (
        OperationMetric("delete_chain", 52, 3, 412.5, 23.8, measured=False, timed="database"),
    )
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    assert "### Before and After (Modelled from measured per-query latency)" in report
    assert "| DB time before | DB time after |" in report
    assert "*before measured, after modelled from the measured per-query latency*" in report
    assert "Times are time in the database." in report


def test_priority_phases_put_indexes_and_settings_where_they_belong(live_audit: Audit) -> None:
    section = _section(markdown.render(live_audit, today=AUDIT_DATE), "Implementation Priority")
    phases = section.split("\n### ")[1:]
    titles = [phase.split("\n", 1)[0] for phase in phases]
    assert titles == [
        "Phase 1: Critical Fixes (do immediately)",
        "Phase 2: Performance Enhancements (this week)",
        "Phase 3: Infrastructure and Minor Fixes (this sprint)",
        "Phase 4: Monitoring & Prevention (ongoing)",
    ]
    assert "delete_chain" in phases[0] and "saves ≈ 405 ms of database time per call" in phases[0]
    assert "**Create the high-priority index**" in phases[0]
    assert "CREATE INDEX CONCURRENTLY ON renders (chain_id)" in phases[0]
    assert "statement_timeout = '30s'" in phases[2]  # connection settings: infrastructure
    assert "**Create the medium-priority index**" in phases[2]
    assert "`dbaudit check app --baseline .dbaudit-baseline.json`" not in phases[3]
    assert "dbaudit check app --baseline .dbaudit-baseline.json" in phases[3]
    assert "pytest --dbaudit" in phases[3]


def test_priority_within_a_severity_follows_the_time_a_fix_saves() -> None:
    def loop(name: str, ms: float) -> Finding:
        return Finding(
            "DBA101",
            Severity.HIGH,
            "query in a loop",
            f"app/{name}.py",
            3,
            4,
            function=name,
            query_cost="1 + N",
            fixed_query_cost="2",
            evidence=RuntimeEvidence(queries=51, total_ms=ms),
        )

    audit = Audit(findings=[loop("a_small", 20.0), loop("b_big", 900.0)])
    section = _section(markdown.render(audit, today=AUDIT_DATE), "Implementation Priority")
    assert section.index("b_big") < section.index("a_small")


def test_every_finding_says_what_keeps_it_fixed_and_tests_import_the_real_module(
    sample_audit: Audit,
) -> None:
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    assert (
        "**Kept Fixed By:** [Test 1](#test-1) (`tests/query_budgets/"
        "test_render_chain_service_delete_chain.py`), which fails above 3 queries" in report
    )
    testing = _section(report, "Testing Strategy")
    assert '<a id="test-1"></a>\n#### Test 1: `RenderChainService.delete_chain` stays at 3' in (
        testing
    )
    assert "from app.services.profile_stats import ProfileStatsService" in testing
    assert "`session`, `chain_id`" in testing  # the fixtures to define, named
    assert (
        "| [3](#finding-3) DBA110 `list_projects` | `pytest --dbaudit`, which fails the test that "
        "runs it on DBA110 (no fixed query count to pin) |" in testing
    )


def test_checklist_ticks_what_passes_and_links_what_is_open(live_audit: Audit) -> None:
    section = _section(markdown.render(live_audit, today=AUDIT_DATE), "Code Review Checklist")
    assert (
        "- [x] No queries inside loops, directly or through helpers (batch with `IN`/`ANY`) — "
        "*no DBA101 or DBA102 finding in 6 files; 1 batched IN operation*" in section
    )
    assert "- [x] Top-N per group uses a window function" in section
    assert (
        "- [ ] Writes of many rows are one statement (`UPDATE ... WHERE id IN (...)`, a multi-row "
        "`INSERT`, `executemany`) — **open:** [DBA103 in `RenderChainService.delete_chain`]"
        "(#finding-1)" in section
    )
    assert "- [ ] Foreign keys have an index on their referencing columns — **open:**" in section
    assert "- [x] No duplicate, unused or invalid indexes — *no DBA403 or DBA404 or DBA405" in (
        section
    )
    assert "- [x] Connections stay well below `max_connections`" in section
    assert "- [ ] `dbaudit check` runs in CI with a baseline — *not verified:" in section


def test_conclusion_lists_immediate_actions_and_impact(live_audit: Audit) -> None:
    section = _section(markdown.render(live_audit, today=AUDIT_DATE), "Conclusion")
    actions = section[section.index("### Immediate Action Items") : section.index("### Expected")]
    assert actions.index("delete_chain") < actions.index("Create the high-priority index")
    assert "**Add the regression tests**" in actions
    assert "The live review of `postgresql://app@db.internal/shop` recommends 2 indexes" in section
    assert "**Workload planner cost:** 48,210.5 → 9,120.2 with 2 indexes (1.6 MB on disk)" in (
        section
    )


def test_partly_analyzed_files_are_counted_as_audited() -> None:
    from dbaudit.findings import SkippedFile

    audit = Audit(
        files=[FileSummary("lib/a.ts", 10, "services", "typescript")],
        skipped=[SkippedFile("lib/a.ts", "partly analyzed (syntax errors at line 3)")],
    )
    report = markdown.render(audit, today=AUDIT_DATE)
    assert "- **Files Not Analyzed:**" not in report
    assert "- **Partly Analyzed:** 1 file audited as far as their syntax allowed" in report
    skipped = _section(report, "Files Not Analyzed")
    assert "| File | Reason |" not in skipped
    assert "- `lib/a.ts`: partly analyzed (syntax errors at line 3)" in skipped


def test_many_findings_of_one_database_rule_are_one_table_and_one_block(live_audit: Audit) -> None:
    fk = next(f for f in live_audit.findings if f.rule == "DBA402")
    more = [
        replace(
            fk,
            path=f"db://shop/{table}",
            message=f"foreign key on {table} (user_id) has no index",
            fix=Fix("index it", f"CREATE INDEX CONCURRENTLY ON {table} (user_id);", "sql"),
        )
        for table in ("projects", "gallery_items")
    ]
    live_audit.findings += more
    report = markdown.render(live_audit, today=AUDIT_DATE)
    health = _section(report, "Database Indexing Review")
    health = health[health.index("### Index Health") : health.index("### ✅ Already Indexed")]
    assert "**DBA402 foreign-key-without-index** (3 findings, 3 medium)" in health
    assert "| Object | Finding |" in health
    assert (
        "CREATE INDEX CONCURRENTLY ON gallery_items (user_id);\n"
        "CREATE INDEX CONCURRENTLY ON projects (user_id);\n"
        "CREATE INDEX CONCURRENTLY ON renders (project_id);" in health  # in the order of rank
    )
    for finding in (fk, *more):
        number = content.anchors(content.rank(live_audit))[id(finding)]
        assert f'<a id="{number}"></a>' in health  # every finding still has its anchor
    priority = _section(report, "Implementation Priority")
    assert "**3 foreign-key-without-index findings** (DBA402): on `gallery_items`, `projects`" in (
        priority
    )


def test_the_summary_and_the_tables_give_many_foreign_keys_one_line(live_audit: Audit) -> None:
    tables = ("credit_transactions", "file_storage", "gallery_items", "projects")
    keys = [
        Finding(
            "DBA402",
            Severity.LOW,
            f"foreign key {t}_user_id_fkey {t}(user_id) -> users has no index",
            f"db://shop/{t}",
            0,
            0,
            fix=Fix(f"index {t}(user_id)", f"CREATE INDEX CONCURRENTLY ON {t} (user_id);", "sql"),
            confidence="high",
            source="live",
        )
        for t in tables
    ]
    report = markdown.render(
        replace(live_audit, findings=[*live_audit.findings, *keys]), today=date(2026, 1, 15)
    )
    summary = report[report.index("#### ⚠️ Issues Requiring Attention") :]
    summary = summary[: summary.index("\n---")]
    line = [row for row in summary.splitlines() if "foreign keys without an index" in row]
    assert len(line) == 1
    assert "4 foreign keys without an index (DBA402)" in line[0]
    assert all(f"`{t}`" in line[0] for t in tables)
    assert "credit_transactions_user_id_fkey" not in summary
    # the medium foreign key of the sample stays on its own line
    assert "renders_project_id_fkey" in summary
    kept = report[report.index("### What Keeps Each Finding Fixed") :]
    kept = kept[: kept.index("### In CI")]
    rows = [row for row in kept.splitlines() if "DBA402" in row]
    assert len(rows) == 1 and "5 foreign keys without an index (DBA402)" in rows[0]
    assert "--fail-on low" in rows[0]
    checklist = report[report.index("## Code Review Checklist") :]
    (item,) = [row for row in checklist.splitlines() if "Foreign keys have an index" in row]
    assert "5 foreign keys without an index (DBA402)" in item and "more" not in item
