from __future__ import annotations

import doctest
from dataclasses import replace

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
    # a loop's 51 queries become one batched query: 50 removed at the measured 2 ms each
    assert saved is not None and round(saved.ms, 6) == 100.0 and not saved.measured
    metric = OperationMetric("f", 51, 2, 90.0, 10.0)
    from_metric = common.time_saved(_finding("1 + N", "2"), [metric])
    assert from_metric == common.TimeSaved(80.0, True)
    assert common.time_saved(_finding("1 + N", "2")) is None


def test_database_findings_are_told_from_code_findings() -> None:
    live = Finding("DBA501", Severity.MEDIUM, "m", "db://shop", 0, 0, source="live")
    assert common.is_database_finding(live) and common.is_server_finding(live)
    assert not common.is_database_finding(_finding("1 + N", "2"))
    assert common.rule_names()["DBA402"] == "foreign-key-without-index"


def _static(rule: str, cost: str, fixed: str, evidence: RuntimeEvidence) -> Finding:
    return Finding(
        rule,
        Severity.HIGH,
        "m",
        "services/chains.py",
        22,
        22,
        function="user_chains_with_renders",
        query_cost=cost,
        fixed_query_cost=fixed,
        evidence=evidence,
        source="static",
    )


# one loop of a function measured at 10 of the unit's 61 queries; the fix sends 3 in all
INNER_LOOP = _static(
    "DBA102",
    "1 + N + N·M",
    "3",
    RuntimeEvidence(10, 14.0, "get_user_chains", "f", unit_queries=61, unit_ms=57.0),
)


def test_a_loop_finding_compares_the_whole_unit_with_the_whole_fixed_function() -> None:
    step = common.improvement(INNER_LOOP)
    assert step == common.Improvement(61, 3, True, "get_user_chains", 10)
    assert step.percent_fewer == 95
    assert common.before_text(INNER_LOOP) == (
        "61 queries measured in get_user_chains (10 of them at this loop)"
    )
    assert common.after_text(INNER_LOOP) == "3 queries for the whole function"
    assert common.evidence_text(INNER_LOOP) == (
        "confirmed at runtime: 10 queries here (14 ms in the database) of the 61 (57 ms)"
        " get_user_chains ran"
    )
    # a finding only the profile made: nothing static was confirmed
    assert common.evidence_text(replace(INNER_LOOP, source="runtime")).startswith(
        "seen at runtime: 10 queries here"
    )
    assert common.evidence_text(replace(INNER_LOOP, evidence=None)) == ""


def test_a_loop_fix_saves_the_loop_queries_less_one_batched_query_at_their_time() -> None:
    saved = common.time_saved(INNER_LOOP)
    # 9 of the loop's 10 queries go (one batched query replaces them), 1.4 ms each as measured;
    # never (10 - 3) x 1.4: 3 is the whole function's count after every fix
    assert saved is not None and round(saved.ms, 6) == 12.6
    assert (saved.removed, saved.explained, saved.measured) == (9, 10, False)


def test_a_concurrent_fix_says_which_queries_of_the_unit_it_counts_and_removes_none() -> None:
    sequence = _static(
        "DBA105",
        "4 (sequential)",
        "4 (concurrent)",
        RuntimeEvidence(5, 20.0, "get_profile_stats", "f", unit_queries=5, unit_ms=20.0),
    )
    assert common.current_text(sequence) == (
        "4 independent queries (sequential) of the 5 measured in get_profile_stats"
    )
    assert common.after_text(sequence) == "5 queries, the 4 independent ones concurrent,"
    step = common.improvement(sequence)
    assert step is not None and (step.before, step.after) == (5, 5)
    saved = common.time_saved(sequence)
    # the 4 overlapped wait about as long as one: 3 x 4 ms
    assert saved is not None and saved.concurrent and round(saved.ms, 6) == 12.0


def test_the_fix_shown_and_a_measured_after_of_the_same_operation_are_both_named() -> None:
    from dbaudit.findings import OperationMetric

    delete = _static(
        "DBA103",
        "2 + N",
        "3",
        RuntimeEvidence(50, 55.0, "delete_chain", "f", unit_queries=52, unit_ms=60.0),
    )
    measured = OperationMetric("delete_chain", 52, 1, 458.0, 6.0, measured=True)
    assert common.after_text(delete, [measured]) == (
        "3 queries for the whole function with the fix shown; the optimized implementation"
        " measured 1"
    )
    agreeing = OperationMetric("delete_chain", 52, 3, 458.0, 6.0, measured=True)
    assert common.after_text(delete, [agreeing]) == "3 queries for the whole function"
    modelled = OperationMetric("delete_chain", 52, 1, 458.0, 6.0, measured=False)
    assert common.after_text(delete, [modelled]) == "3 queries for the whole function"
