"""What the Markdown and HTML audits decide once for both: the order of fixes, the phases, the
checklist's states and the immediate actions."""

from __future__ import annotations

from dataclasses import replace

from dbaudit.findings import (
    Audit,
    FileSummary,
    Finding,
    GoodPractice,
    OperationMetric,
    RuntimeEvidence,
    Severity,
)
from dbaudit.report import content, regression_tests


def _finding(name: str, severity: Severity = Severity.HIGH, **extra: object) -> Finding:
    return Finding(
        "DBA101",
        severity,
        "query in a loop",
        f"app/{name}.py",
        3,
        4,
        function=name,
        query_cost="1 + N",
        fixed_query_cost="2",
        **extra,  # type: ignore[arg-type]
    )


def test_rank_is_severity_then_measured_time_saved_then_queries_saved() -> None:
    slow = _finding("slow", evidence=RuntimeEvidence(51, 900.0))
    fast = _finding("fast", evidence=RuntimeEvidence(51, 30.0))
    unmeasured = _finding("unmeasured")
    few = replace(_finding("few"), query_cost="3", fixed_query_cost="1")
    critical = _finding("critical", Severity.CRITICAL)
    audit = Audit(findings=[few, unmeasured, fast, slow, critical])
    assert [f.function for f in content.rank(audit)] == [
        "critical",
        "slow",
        "fast",
        "unmeasured",
        "few",
    ]


def test_an_operation_metric_named_after_the_function_ranks_it() -> None:
    first, second = _finding("get_a"), _finding("get_b")
    audit = Audit(findings=[first, second], metrics=(OperationMetric("get_b", 51, 2, 300.0, 12.0),))
    assert [f.function for f in content.rank(audit)] == ["get_b", "get_a"]
    action = content.phases(audit, regression_tests.plan(audit))[0].actions[0]
    assert action.gain == "51 → 2 queries (estimate); saves ≈ 288 ms per call (measured)"


def test_empty_phases_are_left_out_but_prevention_stays() -> None:
    audit = Audit(findings=[_finding("x", Severity.MEDIUM)])
    titles = [p.title for p in content.phases(audit, regression_tests.plan(audit))]
    assert titles == [
        "Phase 2: Performance Enhancements (this week)",
        "Phase 4: Monitoring & Prevention (ongoing)",
    ]
    nothing = content.phases(Audit(), regression_tests.plan(Audit()))
    assert [p.title for p in nothing] == ["Phase 4: Monitoring & Prevention (ongoing)"]


def test_immediate_actions_take_one_step_per_function_and_end_with_prevention() -> None:
    twice = [_finding("same"), replace(_finding("same"), line=9, end_line=9)]
    audit = Audit(findings=[*twice, _finding("other"), _finding("minor", Severity.LOW)])
    plan = regression_tests.plan(audit)
    actions = content.immediate_actions(content.phases(audit, plan))
    # no signature, so no generated test: the first prevention step is the CI gate
    assert [a.title for a in actions] == [
        "other",
        "same",
        "Gate pull requests with `dbaudit check`",
    ]


def _states(audit: Audit) -> dict[str, str]:
    return {
        result.item.text.split(" (")[0]: result.state
        for _, results in content.checklist(audit)
        for result in results
    }


def test_checklist_needs_database_code_to_tick_and_findings_to_open() -> None:
    empty = _states(Audit(files=[FileSummary("app/x.py", 10)]))
    assert set(empty.values()) == {"unverified"}  # no query recognised: nothing to vouch for
    practice = GoodPractice("window function", "app/dal.py", 1, 2, "latest", "ROW_NUMBER")
    audit = Audit(
        files=[FileSummary("app/dal.py", 10)],
        findings=[replace(_finding("x"), rule="DBA103")],
        good_practices=[practice],
    )
    states = _states(audit)
    assert states["No queries inside loops, directly or through helpers"] == "pass"
    assert states["Writes of many rows are one statement"] == "open"
    assert states["Top-N per group uses a window function"] == "pass"
    assert states["Foreign keys have an index on their referencing columns"] == "unverified"
    assert states["`dbaudit check` runs in CI with a baseline"] == "unverified"


def _foreign_key(table: str, severity: Severity = Severity.LOW) -> Finding:
    return Finding(
        "DBA402",
        severity,
        f"foreign key {table}_user_id_fkey {table}(user_id) -> users has no index",
        f"db://shop/{table}",
        0,
        0,
        source="live",
    )


def test_many_database_findings_of_one_rule_are_one_group_where_the_first_was() -> None:
    code = _finding("first")
    keys = [_foreign_key(t) for t in ("a", "b", "a", "c")]
    listed = content.collapse_database([code, *keys, _finding("last", Severity.LOW)])
    assert listed[0] is code and listed[2].function == "last"  # type: ignore[union-attr]
    group = listed[1]
    assert isinstance(group, content.FindingGroup)
    assert group.findings == tuple(keys) and group.first is keys[0]
    assert group.label == "4 foreign keys without an index (DBA402)"
    assert group.subjects == ["a", "b", "c"]
    assert group.severity_text == "LOW"
    # fewer than GROUP_AT stay one by one; code findings are never grouped
    assert content.collapse_database(keys[:2]) == keys[:2]
    many_code = [_finding(str(n)) for n in range(5)]
    assert content.collapse_database(many_code) == many_code


def test_attention_lists_the_serious_findings_groups_the_minor_database_ones() -> None:
    serious = [_finding("a", Severity.CRITICAL), _finding("b"), _foreign_key("m", Severity.MEDIUM)]
    keys = [_foreign_key(t) for t in ("t1", "t2", "t3", "t4")]
    infos = [_finding(f"info{n}", Severity.INFO) for n in range(3)]
    shown, rest = content.attention([*serious, *keys, *infos])
    assert shown[:3] == serious  # medium stays on its own line, database or not
    (group,) = shown[3:]
    assert isinstance(group, content.FindingGroup) and group.findings == tuple(keys)
    assert rest == 3
    # two minor findings: listed, not summed up
    shown, rest = content.attention([*serious, *infos[:2]])
    assert shown == [*serious, *infos[:2]] and rest == 0
