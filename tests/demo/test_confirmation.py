"""The demo's runtime confirmation: the naive operations profiled, merged into the static audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbaudit.demo.confirmation import (
    NO_DETECTOR,
    NOT_TRIGGERED,
    Confirmation,
    confirm,
    confirmation_json,
    confirmation_rows,
    headline,
    relative_path,
    verdict,
)
from dbaudit.demo.reference_audit import audit_variant, reference_app_dir
from dbaudit.findings import Audit
from dbaudit.reference.render_platform.operations import OPERATIONS

NAIVE = "render_platform/naive/"
ROUND_TRIPS = {operation.name: operation.naive_round_trips for operation in OPERATIONS}


@pytest.fixture(scope="module")
def static() -> Audit:
    return audit_variant("naive")


@pytest.fixture(scope="module")
def confirmation(static: Audit, profiled: Any) -> Confirmation:
    return confirm(static, profiled.units, reference_app_dir().parent)


def test_each_operation_sends_the_queries_the_operations_table_states(
    confirmation: Confirmation,
) -> None:
    assert {op.name: op.queries for op in confirmation.operations} == ROUND_TRIPS
    assert all(op.expected_queries == op.queries for op in confirmation.operations)
    assert all(op.db_time_ms > 0 for op in confirmation.operations)
    assert "186 queries (as the operations table states: 186)" in headline(confirmation)


def test_the_n_plus_one_in_the_projects_service_is_confirmed_with_its_measured_count(
    confirmation: Confirmation,
) -> None:
    [finding] = [
        f
        for f in confirmation.confirmed
        if f.path == f"{NAIVE}services/projects.py" and f.function == "user_project_overviews"
    ]
    assert finding.rule == "DBA102" and finding.source == "static"
    assert finding.confidence == "high"
    assert finding.evidence is not None
    # 1 + N: the list of projects, then one query per project, which the loop finding explains
    assert finding.evidence.queries == ROUND_TRIPS["get_user_projects"] - 1
    assert finding.evidence.unit == "get_user_projects"
    assert finding.evidence.total_ms > 0


def test_every_static_finding_is_confirmed_or_says_why_not(
    static: Audit, confirmation: Confirmation
) -> None:
    assert confirmation.static_findings == len(static.findings)
    assert len(confirmation.confirmed) >= 7
    # the runtime sees every N+1, per-item write and sequential lookup the operations run
    confirmed_rules = {f.rule for f in confirmation.confirmed}
    assert {"DBA102", "DBA103", "DBA105"} <= confirmed_rules
    reasons = {item.finding.rule: item.reason for item in confirmation.unconfirmed}
    assert reasons["DBA201"] == NO_DETECTOR  # pool settings: nothing to see in queries
    assert reasons["DBA110"] == NO_DETECTOR
    assert set(reasons.values()) <= {NO_DETECTOR, NOT_TRIGGERED}
    # every runtime finding explains a static one: the naive app hides nothing from the reader
    assert confirmation.runtime_only == ()
    assert len(confirmation.audit.findings) == len(static.findings)


def test_rows_list_confirmed_then_unconfirmed_with_short_paths(
    confirmation: Confirmation,
) -> None:
    rows = confirmation_rows(confirmation, NAIVE)
    assert len(rows) == confirmation.static_findings
    kinds = [row[4].split(":")[0] for row in rows]
    assert kinds == sorted(kinds)  # "confirmed" rows, then "not confirmed"
    assert all(not row[2].startswith(NAIVE) for row in rows)
    projects = next(row for row in rows if row[3] == "user_project_overviews")
    assert projects[4] == (
        f"confirmed: {ROUND_TRIPS['get_user_projects'] - 1} queries, "
        f"{_evidence_ms(confirmation, 'user_project_overviews')} in get_user_projects"
    )
    line = verdict(confirmation)
    assert line.startswith(f"{len(confirmation.confirmed)} of {confirmation.static_findings} ")
    assert line.endswith("0 runtime-only findings")


def _evidence_ms(confirmation: Confirmation, function: str) -> str:
    finding = next(f for f in confirmation.confirmed if f.function == function)
    assert finding.evidence is not None
    return f"{finding.evidence.total_ms:,.1f} ms"


def test_json_carries_the_operations_and_each_verdict(confirmation: Confirmation) -> None:
    document = confirmation_json(confirmation)
    assert {op["name"]: op["queries"] for op in document["operations"]} == ROUND_TRIPS
    assert len(document["confirmed"]) == len(confirmation.confirmed)
    assert all(item["evidence"]["queries"] > 0 for item in document["confirmed"])
    assert all(item["reason"] for item in document["unconfirmed"])
    assert document["runtime_only"] == []


def test_paths_under_the_root_are_shown_relative_to_it(tmp_path: Path) -> None:
    inside = tmp_path / "render_platform" / "naive" / "dal.py"
    assert relative_path(str(inside), tmp_path) == "render_platform/naive/dal.py"
    assert relative_path("/elsewhere/app.py", tmp_path) == "/elsewhere/app.py"
