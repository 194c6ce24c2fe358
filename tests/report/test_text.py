from __future__ import annotations

from dbaudit.findings import Audit
from dbaudit.report import render
from dbaudit.report import text as text_report


def test_text_report_matches_golden(sample_audit: Audit, golden) -> None:
    golden.check("sample.txt", text_report.render(sample_audit))


def test_each_finding_starts_with_path_line_col_and_code(sample_audit: Audit) -> None:
    lines = render(sample_audit, "text").splitlines()
    assert "app/services/render_chain.py:14:9: DBA103 UPDATE per render" in "\n".join(lines)
    heads = [line for line in lines if line.startswith("app/") and ": DBA" in line]
    assert [h.split(":")[0] for h in heads] == [
        "app/actions/projects.py",
        "app/services/profile_stats.py",
        "app/services/render_chain.py",
    ]


def test_call_chain_and_runtime_evidence_are_printed(sample_audit: Audit) -> None:
    output = render(sample_audit, "text")
    assert (
        "via RenderChainService.delete_chain (app/services/render_chain.py:15)"
        " -> RenderChainsDAL.remove_render (app/dal/render_chains.py:31)" in output
    )
    confirmed = "confirmed at runtime: 52 queries (412 ms in the database) in test_delete_chain"
    assert confirmed in output
    assert "source: runtime" in output


def test_summary_line_counts_by_severity(sample_audit: Audit) -> None:
    last = render(sample_audit, "text").splitlines()[-1]
    assert last == (
        "Found 3 findings (1 high, 1 medium, 1 info) in 3 files; audited 6 files (375 lines); "
        "2 operations already optimized; 2 files not analyzed."
    )


def test_plain_render_has_no_escape_codes_and_rich_build_has_styles(sample_audit: Audit) -> None:
    assert "\x1b[" not in render(sample_audit, "text")
    built = text_report.build(sample_audit)
    assert any("red" in str(span.style) for span in built.spans)


def test_empty_audit_says_no_findings() -> None:
    assert render(Audit(), "text").strip() == (
        "No findings; audited 0 files (0 lines); 0 operations already optimized."
    )


def test_long_lists_are_cut_with_a_pointer_to_json(sample_audit: Audit) -> None:
    from dbaudit.findings import SkippedFile

    broken = [SkippedFile(f"bad{i:02d}.py", "syntax error (line 1): x") for i in range(22)]
    empty = [SkippedFile(f"e{i}.py", "empty file") for i in range(25)]
    sample_audit.skipped = empty + broken
    output = render(sample_audit, "text")
    assert "bad19.py: syntax error" in output
    assert "bad20.py" not in output
    assert "... and 2 more (all are listed by --format json)" in output
    assert "skipped by design: empty file: 25 (listed by --format json)" in output
    assert "e1.py" not in output


def test_a_few_files_skipped_by_design_are_listed_after_the_errors(sample_audit: Audit) -> None:
    from dbaudit.findings import SkippedFile

    sample_audit.skipped = [SkippedFile("e.py", "empty file"), SkippedFile("b.py", "syntax error")]
    lines = render(sample_audit, "text").splitlines()
    start = lines.index("Not analyzed:")
    assert lines[start + 1 : start + 3] == ["  b.py: syntax error", "  e.py: empty file"]


def test_a_file_analyzed_in_part_is_counted_once_as_audited() -> None:
    """TypeScript syntax errors in one region: the file is audited (in ``files``) and listed with
    the reason (in ``skipped``); the summary must not count it twice."""
    from dbaudit.findings import FileSummary, SkippedFile

    audit = Audit(
        files=[
            FileSummary("lib/a.ts", 40, language="typescript"),
            FileSummary("lib/b.ts", 60, language="typescript"),
        ],
        skipped=[
            SkippedFile("lib/b.ts", "partly analyzed (syntax errors at lines 12, 30)"),
            SkippedFile("lib/c.ts", "syntax error (line 1): unexpected token"),
        ],
    )
    output = render(audit, "text")
    assert output.splitlines()[-1] == (
        "No findings; audited 2 files (100 lines); 0 operations already optimized; "
        "1 file not analyzed; 1 file partly analyzed."
    )
    assert "Not analyzed:\n  lib/c.ts: syntax error (line 1): unexpected token\n" in output
    assert (
        "Partly analyzed (audited as far as the parser recovered):\n"
        "  lib/b.ts: partly analyzed (syntax errors at lines 12, 30)\n" in output
    )


def test_many_files_analyzed_in_part_are_one_line() -> None:
    from dbaudit.findings import FileSummary, SkippedFile

    names = [f"lib/f{i}.ts" for i in range(8)]
    audit = Audit(
        files=[FileSummary(name, 10) for name in names],
        skipped=[SkippedFile(name, "partly analyzed (syntax errors at line 1)") for name in names],
    )
    output = render(audit, "text")
    assert "  8 files (listed by --format json)\n" in output
    assert "lib/f0.ts" not in output
    assert "Not analyzed" not in output
    assert output.splitlines()[-1].endswith(
        "audited 8 files (80 lines); 0 operations already optimized; 8 files partly analyzed."
    )


def test_a_one_line_sql_fix_is_printed_under_its_summary(sample_audit: Audit) -> None:
    """A missing index's fix is its DDL: the line to run, printed as the summary's next line."""
    from dataclasses import replace

    from dbaudit.findings import Fix

    finding = replace(
        sample_audit.findings[0],
        fix=Fix("Index the filter.", "CREATE INDEX ON item (owner_id);", "sql"),
    )
    output = text_report.render(replace(sample_audit, findings=[finding]))
    assert "    fix: Index the filter.\n    CREATE INDEX ON item (owner_id);\n" in output
    python_fix = replace(finding, fix=Fix("Batch it.", "rows = load(ids)", "python"))
    output = text_report.render(replace(sample_audit, findings=[python_fix]))
    assert "rows = load(ids)" not in output


def test_a_runtime_findings_other_call_sites_are_not_printed_as_hops_h6() -> None:
    # microblog's test_follow: one duplicate statement sent from the test (line 45) and from
    # User.is_following; "via test_follow -> User.is_following" would read as a call
    from dbaudit.findings import CallHop, Finding, Severity

    finding = Finding(
        rule="DBA301",
        severity=Severity.LOW,
        message="Duplicate query",
        path="tests.py",
        line=45,
        end_line=45,
        function="UserModelCase.test_follow",
        call_chain=(
            CallHop("tests.py", 45, "UserModelCase.test_follow"),
            CallHop("app/models.py", 154, "User.is_following", text_report.ALSO_FROM_HERE),
        ),
        source="runtime",
    )
    output = render(Audit(findings=[finding]), "text")
    assert "    via UserModelCase.test_follow (tests.py:45)\n" in output
    assert "    also from User.is_following (app/models.py:154)\n" in output
    assert "-> User.is_following" not in output
