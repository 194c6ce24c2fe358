"""Before/after per unit: "before" as measured, "after" modelled from the findings' fixed cost."""

from __future__ import annotations

import pytest

from dbaudit.findings import Finding, RuntimeEvidence, Severity
from dbaudit.metrics import FixedCost, modelled_metrics, parse_fixed_cost, saving
from dbaudit.runtime.export import UnitRecord


def _finding(rule: str, queries: int, ms: float, fixed: str) -> Finding:
    return Finding(
        rule=rule,
        severity=Severity.HIGH,
        message="m",
        path="app/x.py",
        line=1,
        end_line=1,
        source="runtime",
        fixed_query_cost=fixed,
        evidence=RuntimeEvidence(queries, ms, "unit", "f"),
    )


def _unit(name: str, queries: int, ms: float, *findings: Finding) -> UnitRecord:
    return UnitRecord(name, queries, ms, (), findings, ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", FixedCost(1, False)),
        ("2", FixedCost(2, False)),
        ("3 (concurrent)", FixedCost(3, True)),
        ("4 concurrent", FixedCost(4, True)),
        ("1 (bounded page)", FixedCost(1, False)),
        ("", None),
        ("N", None),
    ],
)
def test_fixed_cost_is_read_from_its_leading_count(text: str, expected: FixedCost | None) -> None:
    assert parse_fixed_cost(text) == expected


def test_an_n_plus_one_becomes_one_query_at_the_latency_it_measured() -> None:
    # 51 queries in 60 ms, 50 of them (40 ms, 0.8 ms each) one per item
    unit = _unit("get_user_projects", 51, 60.0, _finding("DBA101", 50, 40.0, "1"))
    [metric] = modelled_metrics([unit])
    assert (metric.name, metric.queries_before, metric.queries_after) == (
        "get_user_projects",
        51,
        2,
    )
    assert metric.ms_before == 60.0
    assert metric.ms_after == pytest.approx(60.0 - 49 * 0.8)
    assert metric.measured is False


def test_concurrent_queries_keep_their_count_and_wait_as_long_as_one() -> None:
    unit = _unit("profile", 5, 10.0, _finding("DBA105", 4, 8.0, "4 concurrent"))
    [metric] = modelled_metrics([unit])
    assert (metric.queries_before, metric.queries_after) == (5, 5)
    assert metric.ms_after == pytest.approx(10.0 - 8.0 + 2.0)


def test_several_findings_in_one_unit_add_up() -> None:
    unit = _unit(
        "chains",
        61,
        30.0,
        _finding("DBA101", 50, 10.0, "1"),
        _finding("DBA101", 10, 15.0, "1"),
    )
    [metric] = modelled_metrics([unit])
    assert metric.queries_after == 61 - 49 - 9
    assert metric.ms_after == pytest.approx(30.0 - 10.0 * 49 / 50 - 15.0 * 9 / 10)


def test_units_without_findings_or_a_fixed_count_are_left_out() -> None:
    clean = _unit("clean", 3, 1.0)
    unknown = _unit("unknown", 9, 5.0, _finding("DBA101", 8, 4.0, ""))
    no_evidence = _unit(
        "static-only",
        9,
        5.0,
        Finding("DBA101", Severity.HIGH, "m", "a.py", 1, 1, fixed_query_cost="1"),
    )
    assert modelled_metrics([clean, unknown, no_evidence]) == ()
    assert saving(unknown.findings[0]) is None


def test_of_units_with_one_name_the_one_with_most_queries_is_kept() -> None:
    small = _unit("list", 11, 5.0, _finding("DBA101", 10, 4.0, "1"))
    large = _unit("list", 51, 25.0, _finding("DBA101", 50, 20.0, "1"))
    [metric] = modelled_metrics([small, large])
    assert (metric.queries_before, metric.queries_after) == (51, 2)


def test_after_never_goes_below_zero() -> None:
    # overlapping findings claim more queries than the unit recorded
    unit = _unit("odd", 10, 2.0, _finding("DBA101", 10, 2.0, "1"), _finding("DBA301", 10, 2.0, "1"))
    [metric] = modelled_metrics([unit])
    assert metric.queries_after == 0
    assert metric.ms_after == 0.0


def test_a_static_loop_finding_saves_its_loop_less_one_batched_query() -> None:
    # a static fixed cost ("3") is the whole function's, not the loop's: the loop's 10 queries
    # become 1, whatever the function sends elsewhere
    loop = Finding(
        rule="DBA102",
        severity=Severity.HIGH,
        message="m",
        path="app/x.py",
        line=1,
        end_line=1,
        source="static",
        query_cost="1 + N + N·M",
        fixed_query_cost="3",
        evidence=RuntimeEvidence(10, 14.0, "unit", "f", unit_queries=61, unit_ms=57.0),
    )
    found = saving(loop)
    assert found is not None and found.queries == 9 and found.ms == pytest.approx(12.6)


def test_a_static_join_fix_sends_what_the_function_needs_beyond_its_other_queries() -> None:
    # 3 lookups after a first fetch (4 in the unit) become one JOIN in all: nothing more for them
    lookups = Finding(
        rule="DBA106",
        severity=Severity.MEDIUM,
        message="m",
        path="app/x.py",
        line=1,
        end_line=1,
        source="static",
        query_cost="≤ 4 (sequential)",
        fixed_query_cost="1",
        evidence=RuntimeEvidence(3, 6.0, "unit", "f", unit_queries=4, unit_ms=8.0),
    )
    found = saving(lookups)
    assert found is not None and found.queries == 3 and found.ms == pytest.approx(6.0)
