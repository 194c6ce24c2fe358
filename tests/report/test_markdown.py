from __future__ import annotations

from datetime import date

from dbaudit.findings import Audit, FileSummary, Finding, Fix, GoodPractice, Severity
from dbaudit.report import markdown

AUDIT_DATE = date(2026, 1, 15)


def test_markdown_report_matches_golden(sample_audit: Audit, golden) -> None:
    golden.check("sample.md", markdown.render(sample_audit, today=AUDIT_DATE))


def test_sections_follow_the_audit_layout(sample_audit: Audit) -> None:
    report = markdown.render(sample_audit, today=AUDIT_DATE)
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Executive Summary",
        "## Detailed Findings by File",
        "## Performance Metrics Summary",
        "## Files Not Analyzed",
        "## Implementation Priority",
        "## Code Review Checklist",
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
    assert "*confirmed at runtime: 52 queries, 412 ms in test_delete_chain*" in block
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
