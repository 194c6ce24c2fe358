"""The Markdown audit of the bundled reference app, naive and optimized (real analysis)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dbaudit.reference.render_platform as platform
from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.findings import Audit, Severity
from dbaudit.report import markdown

APP = Path(platform.__file__).parent


def _report(variant: str) -> tuple[str, int]:
    audit = run_static_audit([str(APP / variant)], AuditOptions(use_cache=False, jobs=1))
    flagged = len(audit.findings_at_or_above(Severity.LOW))
    return markdown.render(audit, today=date(2026, 1, 15)), flagged


def test_naive_report_shows_the_problems_with_code_fixes_and_counts() -> None:
    report, flagged = _report("naive")
    assert flagged >= 5
    assert "data access" in report and "services" in report
    assert "queries across the flagged operations" in report
    assert "*estimate: no database was measured" in report
    for heading in ("**Issue:**", "**Problem:**", "**Solution:**", "**Expected Improvement:**"):
        assert report.count(heading) >= flagged
    assert "```python\n# ❌ DBA102" in report
    assert "## Code Review Checklist" in report


def test_optimized_report_lists_good_practices_and_no_problem_at_low_or_above() -> None:
    report, flagged = _report("optimized")
    assert flagged == 0
    assert "### 🟢 OPTIMIZED - No Changes Needed" in report
    assert "#### ✅ Good Practices Already Implemented" in report
    assert "batched IN" in report
    assert "🔴" not in report and "🟠" not in report


def test_every_naive_finding_can_be_acted_on_from_the_report_alone() -> None:
    """File, lines, current query count, the fix, the fixed count and what keeps it fixed."""
    report, _ = _report("naive")
    by_file = report[report.index("## Detailed Findings by File") :]
    by_file = by_file[: by_file.index("\n## ")]
    blocks = by_file.split("**Issue:**")[1:]
    assert blocks
    for block in blocks:
        assert "**Location:** `" in block and ("line " in block or "lines " in block)
        assert "**Solution:**" in block
        assert "**Kept Fixed By:**" in block
        if "**Current Queries:**" in block:
            assert "**After the Fix:**" in block
    testing = report[report.index("## Testing Strategy") :]
    # the path the audit shows (src/dbaudit/...) names the module the test imports
    module = "dbaudit.reference.render_platform.naive.services.chains"
    assert f"from {module} import user_chains_with_renders" in testing
    assert "with assert_max_queries(3):" in testing


def _slug(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to -."""
    text = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def test_every_anchor_link_of_a_demo_like_report_resolves(live_audit: Audit) -> None:
    """The naive app's audit with a live review's findings (as ``dbaudit demo`` writes it):
    every ``(#anchor)`` link goes to an ``<a id>`` or a heading."""
    import re
    from dataclasses import replace

    audit = run_static_audit([str(APP / "naive")], AuditOptions(use_cache=False, jobs=1))
    live = live_audit
    database = [f for f in live.findings if f.path.startswith("db://")]
    demo_like = replace(audit, findings=[*audit.findings, *database], database=live.database)
    report = markdown.render(demo_like, today=date(2026, 1, 15))
    targets = set(re.findall(r'<a id="([^"]+)"></a>', report))
    targets |= {_slug(h) for h in re.findall(r"^#+ (.+)$", report, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", report)
    assert len(links) > 20
    assert sorted(set(links) - targets) == []
