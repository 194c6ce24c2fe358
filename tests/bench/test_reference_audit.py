"""The demo's static audit of the reference app, its summaries and the reports it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.bench.runner import (
    BenchmarkResult,
    CaseResult,
    LatencyAt,
    RoundTripTime,
    Settings,
    VariantResult,
)
from dbaudit.bench.stats import LatencySummary
from dbaudit.demo.reference_audit import (
    audit_variant,
    headline,
    measured_metrics,
    prepare_output_dir,
    reference_app_dir,
    rule_rows,
    summarize,
    summary_json,
    summary_lines,
    with_metrics,
    write_reports,
)
from dbaudit.findings import Audit, Severity


@pytest.fixture(scope="module")
def naive_audit() -> Audit:
    return audit_variant("naive")


@pytest.fixture(scope="module")
def optimized_audit() -> Audit:
    return audit_variant("optimized")


def _variant(statements: int, median_ms: float) -> VariantResult:
    latency = LatencySummary(samples=3, median_ms=median_ms, p95_ms=median_ms * 1.5)
    return VariantResult(
        statements=statements,
        wire_round_trips=statements + 2,
        latencies=(LatencyAt(1.0, latency),),
        throughput=None,
    )


def _result() -> BenchmarkResult:
    """Two operations as the runner would report them (numbers chosen, not measured)."""
    settings = Settings(delays_ms=(1.0,), repeat=3, warmup=2, clients=0, rtt_samples=5)
    cases = (
        CaseResult("get_user_projects", False, _variant(51, 120.5), _variant(2, 6.25), None),
        CaseResult("delete_chain", True, _variant(52, 400.0), _variant(1, 5.0), "writes"),
    )
    rtt = RoundTripTime(1.0, LatencySummary(samples=5, median_ms=2.1, p95_ms=2.5))
    return BenchmarkResult(settings=settings, rtts=(rtt,), cases=cases)


def test_the_app_is_found_through_the_installed_package() -> None:
    folder = reference_app_dir()
    assert (folder / "naive" / "services").is_dir()
    assert (folder / "optimized" / "services").is_dir()
    assert (folder / "schema.py").is_file()


def test_naive_findings_are_summarised_by_rule_and_severity(naive_audit: Audit) -> None:
    summary = summarize("naive", naive_audit)
    assert summary.files > 5 and summary.lines > 100
    assert summary.at_or_above_low == len(naive_audit.findings_at_or_above(Severity.LOW)) > 0
    assert sum(item.count for item in summary.rules) == summary.findings
    in_projects = [
        item
        for item in summary.rules
        if item.rule == "DBA102" and "render_platform/naive/services/projects.py" in item.paths
    ]
    assert in_projects and in_projects[0].name == "query-in-loop-through-helpers"
    # most severe first
    severities = [item.severity for item in summary.rules]
    assert severities == sorted(severities, reverse=True)
    rows = rule_rows(summary)
    assert any(row[0] == "DBA102" and "services/projects.py" in row[4] for row in rows)
    assert all("render_platform/naive/" not in row[4] for row in rows)
    lines = summary_lines(summary)
    assert lines[0].startswith("naive app (render_platform/naive + schema.py): ")
    assert f"{summary.findings} findings (" in lines[0]
    assert len(lines) == 1 + len(summary.rules)
    document = summary_json(summary)
    assert document["paths"] == ["render_platform/naive", "render_platform/schema.py"]
    assert document["by_severity"] == dict(summary.by_severity)


def test_optimized_has_nothing_at_low_or_above_and_lists_good_practices(
    optimized_audit: Audit,
) -> None:
    summary = summarize("optimized", optimized_audit)
    assert summary.at_or_above_low == 0
    assert summary.good_practices > 0
    line = headline(summary)
    assert "no findings at low or above" in line
    assert f"{summary.good_practices} good practices" in line
    assert summary_lines(summary) == [line]


def test_measured_metrics_are_statements_and_median_ms_per_operation() -> None:
    metrics = measured_metrics(_result())
    assert [(m.name, m.queries_before, m.queries_after) for m in metrics] == [
        ("get_user_projects", 51, 2),
        ("delete_chain", 52, 1),
    ]
    assert (metrics[0].ms_before, metrics[0].ms_after) == (120.5, 6.25)
    assert all(m.measured and m.timed == "call" for m in metrics)


def test_reports_render_the_measured_metrics_themselves(naive_audit: Audit, tmp_path: Path) -> None:
    audit = with_metrics(naive_audit, measured_metrics(_result()))
    written = write_reports(audit, tmp_path)
    assert written.markdown == tmp_path / "audit.md"
    assert written.html == tmp_path / "audit.html"
    markdown = written.markdown.read_text(encoding="utf-8")
    assert "DBA102" in markdown and "render_platform/naive/services/projects.py" in markdown
    # one source of truth: the reporter's table of Audit.metrics, no section of the demo's own
    assert markdown.count("## Performance Metrics Summary") == 1
    assert "### Before and After (Measured)" in markdown
    rows = {line.split("`")[1]: line for line in markdown.splitlines() if line.startswith("| `")}
    assert rows["get_user_projects"].startswith("| `get_user_projects` | 51 | 2 | ")
    assert "120 ms" in rows["get_user_projects"] and "6.25 ms" in rows["get_user_projects"]
    assert rows["delete_chain"].startswith("| `delete_chain` | 52 | 1 | ")
    assert "400 ms" in rows["delete_chain"] and "5.00 ms" in rows["delete_chain"]
    assert "(dbaudit demo)" not in markdown
    html = written.html.read_text(encoding="utf-8")
    assert "both sides measured against the database" in html
    assert "get_user_projects" in html
    assert not naive_audit.metrics, "the caller's audit is left as it was"


def test_an_output_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "taken"
    existing.write_text("x")
    with pytest.raises(OSError):
        prepare_output_dir(str(existing))
    created = prepare_output_dir(str(tmp_path / "a" / "b"))
    assert created.is_dir()
