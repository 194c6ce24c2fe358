"""The demo's live review of its naive database, with the profiled statements as the workload."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from dbaudit.bench.reference import SNAPSHOT_SCHEMA
from dbaudit.demo.live_review import (
    DATABASE_LABEL,
    PLANNERS,
    WORKLOAD_SOURCE,
    LiveReview,
    advice_rows,
    advice_summary,
    headline,
    other_findings_lines,
    review_json,
    review_naive_database,
    with_review,
    workload_from_units,
)
from dbaudit.findings import Audit
from dbaudit.indexes.candidates import MIN_TABLE_ROWS
from dbaudit.indexes.reference_workload import OPERATION_FREQUENCY

# What the naive operations filter on with no index behind it (see the reference app's schema).
NEEDED_TABLES = {"renders", "projects", "render_chains"}


@pytest.fixture(scope="module")
def live(profiled: Any) -> LiveReview:
    return review_naive_database(profiled.url, workload_from_units(profiled.units))


def test_the_workload_is_every_profiled_statement_weighed_by_its_operation(profiled: Any) -> None:
    workload = workload_from_units(profiled.units)
    expected = sum(unit.query_count * OPERATION_FREQUENCY[unit.name] for unit in profiled.units)
    assert sum(query.calls for query in workload) == pytest.approx(expected)
    assert {query.label for query in workload} <= set(OPERATION_FREQUENCY)
    assert all("?" not in query.sql for query in workload)  # numbered for generic plans
    # the N+1 statements merged into one entry each
    assert len(workload) < sum(unit.query_count for unit in profiled.units)


def test_the_demo_data_puts_the_read_tables_over_the_advisors_size_floor(profiled: Any) -> None:
    counts = dict(profiled.dataset.row_counts)
    assert all(counts[table] >= MIN_TABLE_ROWS for table in NEEDED_TABLES)


def test_the_review_advises_indexes_for_what_the_operations_read(live: LiveReview) -> None:
    database = live.database
    assert database.source == "live"
    assert database.planner in PLANNERS
    assert database.workload_source == WORKLOAD_SOURCE
    assert database.recommendations, database.problems
    assert {item.table for item in database.recommendations} & NEEDED_TABLES
    ddl = [item.ddl for item in database.recommendations]
    assert all(text.startswith("CREATE INDEX CONCURRENTLY") for text in ddl)
    assert database.workload_cost_after < database.workload_cost_before
    assert all(item.reason for item in database.not_recommended)
    advice = live.advice
    assert len(advice) == len(database.recommendations) >= 1
    assert all(f.rule == "DBA401" and f.source == "live" for f in advice)
    # the naive schema has no secondary index: every existing one backs a constraint
    assert database.existing_indexes
    assert all(index.backs_constraint for index in database.existing_indexes)


def test_the_measuring_snapshot_is_gone_before_the_review(profiled: Any, live: LiveReview) -> None:
    assert live.database.tables == 10  # the app's tables only
    with psycopg.connect(profiled.url) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (SNAPSHOT_SCHEMA,)
        ).fetchone()
    assert found is None


def test_the_review_goes_into_the_audit(live: LiveReview) -> None:
    audit = with_review(Audit(findings=[]), live)
    assert audit.database is live.database
    assert audit.findings == list(live.findings)
    assert {f.rule for f in audit.findings} >= {"DBA401", "DBA402"}


def test_terminal_lines_and_json(live: LiveReview) -> None:
    database = live.database
    assert headline(live).startswith(f"naive database (PostgreSQL {database.server_version}, ")
    summary = advice_summary(live)
    assert summary[1] == f"planner: {PLANNERS[database.planner]}"
    count = len(database.recommendations)
    assert summary[2].startswith(f"{count} index{'es' if count > 1 else ''} advised; ")
    rows = advice_rows(live)
    assert [row[3] for row in rows] == [item.ddl for item in database.recommendations]
    others = other_findings_lines(live)
    assert any(line.startswith("DBA402 low, ") for line in others)
    document = review_json(live)
    assert document["planner"] == database.planner
    assert document["findings_by_rule"]["DBA401"] == count
    assert [item["ddl"] for item in document["recommendations"]] == [row[3] for row in rows]


def test_findings_name_the_apps_database_not_the_temporary_one(
    profiled: Any, live: LiveReview
) -> None:
    temporary = profiled.url.rsplit("/", 1)[-1].split("?")[0]
    assert live.database.database == DATABASE_LABEL
    for finding in live.findings:
        assert finding.path.startswith(f"db://{DATABASE_LABEL}"), finding.path
        text = (finding.message, finding.problem, finding.fix.code if finding.fix else "")
        assert not any(temporary in part for part in text), finding
    timeouts = [f for f in live.findings if f.rule == "DBA501"]
    assert all(
        f.fix and f.fix.code.startswith(f"ALTER DATABASE {DATABASE_LABEL} SET ") for f in timeouts
    )


def test_no_index_is_recommended_twice(live: LiveReview) -> None:
    # an advised index that leads with a foreign key's columns answers its DBA402 finding
    ddl = [f.fix.code for f in live.findings if f.fix and f.fix.code.startswith("CREATE INDEX")]
    names = [code.split()[3] for code in ddl]
    assert len(names) == len(set(names)), ddl
    advised = {f.fix.code.split(" ON ")[1].split(")")[0] for f in live.advice if f.fix}
    answered = [f for f in live.findings if f.rule == "DBA402"]
    for finding in answered:
        assert finding.fix is not None
        assert finding.fix.code.split(" ON ")[1].split(")")[0] not in advised
    assert any("also indexes foreign key" in f.message for f in live.advice)
