from __future__ import annotations

import doctest

import pytest

from dbaudit.findings import Finding, RuntimeEvidence, Severity
from dbaudit.report import common


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2", 2),
        ("1 + N", 51),
        ("1 + N + N·M", 1 + 50 + 2500),
        ("1 + N*M", 2501),
        ("≤ 4 (sequential)", 4),
        ("3 (concurrent)", 3),
        ("2 + 2·N", 102),
        ("1 query for N keys", 1),
        ("1 (rows grow with the data)", 1),
        ("1 + N + N·M queries", 2551),
        ("", None),
        ("depends on the data", None),
    ],
)
def test_evaluate_cost(expression: str, expected: int | None) -> None:
    assert common.evaluate_cost(expression) == expected


def test_doctests() -> None:
    assert doctest.testmod(common).failed == 0


def _finding(
    cost: str, fixed: str, evidence: RuntimeEvidence | None = None, function: str = "f"
) -> Finding:
    return Finding(
        "DBA101",
        Severity.HIGH,
        "m",
        "a.py",
        1,
        1,
        function=function,
        query_cost=cost,
        fixed_query_cost=fixed,
        evidence=evidence,
    )


def test_improvement_is_an_estimate_without_evidence_and_measured_with_it() -> None:
    estimate = common.improvement(_finding("1 + N", "2"))
    assert estimate is not None
    assert (estimate.before, estimate.after, estimate.measured) == (51, 2, False)
    assert estimate.percent_fewer == 96
    measured = common.improvement(_finding("1 + N", "2", RuntimeEvidence(30, 100.0)))
    assert measured is not None
    assert (measured.before, measured.measured) == (30, True)


def test_total_improvement_sums_only_quantified_findings() -> None:
    total = common.total_improvement(
        [_finding("1 + N", "2"), _finding("4", "1", function="g"), _finding("?", "1")]
    )
    assert total is not None
    assert (total.before, total.after) == (55, 3)
    assert common.total_improvement([_finding("?", "?")]) is None


def test_one_function_counts_once_and_unchanged_counts_are_left_out() -> None:
    total = common.total_improvement(
        [_finding("1 + N", "2"), _finding("1 + N", "3"), _finding("1", "1", function="h")]
    )
    assert total is not None
    assert (total.before, total.after, total.percent_fewer) == (51, 2, 96)


def test_severity_summary_leaves_out_empty_severities() -> None:
    findings = [_finding("1", "1"), _finding("1", "1")]
    assert common.severity_summary(findings) == "2 high"
    assert common.severity_summary([]) == "none"


def test_files_analyzed_in_part_are_audited_not_skipped() -> None:
    from dbaudit.findings import Audit, FileSummary, SkippedFile

    audit = Audit(
        files=[FileSummary("a.ts", 1)],
        skipped=[SkippedFile("a.ts", "partly analyzed (x)"), SkippedFile("b.ts", "empty file")],
    )
    assert [s.path for s in common.not_analyzed(audit)] == ["b.ts"]
    assert [s.path for s in common.analyzed_partly(audit)] == ["a.ts"]


def test_time_saved_from_evidence_is_modelled_and_from_a_metric_measured() -> None:
    from dbaudit.findings import OperationMetric

    measured = _finding("1 + N", "2", RuntimeEvidence(queries=51, total_ms=102.0))
    saved = common.time_saved(measured)
    assert saved is not None and round(saved.ms, 6) == 98.0 and not saved.measured
    metric = OperationMetric("f", 51, 2, 90.0, 10.0)
    from_metric = common.time_saved(_finding("1 + N", "2"), [metric])
    assert from_metric == common.TimeSaved(80.0, True)
    assert common.time_saved(_finding("1 + N", "2")) is None


def test_database_findings_are_told_from_code_findings() -> None:
    live = Finding("DBA501", Severity.MEDIUM, "m", "db://shop", 0, 0, source="live")
    assert common.is_database_finding(live) and common.is_server_finding(live)
    assert not common.is_database_finding(_finding("1 + N", "2"))
    assert common.rule_names()["DBA402"] == "foreign-key-without-index"
