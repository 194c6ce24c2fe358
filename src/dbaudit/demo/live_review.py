"""Review the naive database live: index advice judged by the planner, index health, connections.

The demo's naive database has the reference schema with no secondary index, loaded with the
demo's data. Its workload is what the runtime profile just recorded: every statement the naive
operations sent, each weighed by how often a render platform runs its operation
(``indexes.reference_workload.OPERATION_FREQUENCY``), so that the advisor judges a realistic mix
rather than one call of each. ``dbaudit.database_review.review_database`` does the review;
its findings (DBA401 index advice, DBA402.. index health, DBA501.. connection settings) join the
audit's findings and its record becomes ``Audit.database``.

Candidate indexes are judged with HypoPG when the server has it. The embedded PostgreSQL has no
HypoPG, so the advisor may fall back to real indexes built inside a transaction that is rolled
back: allowed here because the database is the demo's own temporary one, which nobody else
uses. Before the review the demo drops the snapshot the measured runs restored their writes
from (it is no part of the app) and vacuums and analyzes the database (again: ours), so the
statistics are fresh after those writes and no dead row versions of them make a trial index
unusable in the transaction that builds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from dbaudit.bench.reference import SNAPSHOT_SCHEMA
from dbaudit.database_review import Review, review_database
from dbaudit.findings import Audit, DatabaseReview, Finding
from dbaudit.indexes.advisor import AdvisorSettings
from dbaudit.indexes.reference_workload import OPERATION_FREQUENCY
from dbaudit.indexes.workload import WorkloadQuery, merge, numbered_placeholders
from dbaudit.runtime import Unit
from dbaudit.sizes import human_bytes

WORKLOAD_SOURCE = "runtime profile (naive operations, weighed by how often each runs)"
# Ordinary users in the demo's data: ``Scale.demo()`` has 30, and then every table holds fewer
# than the 1,000 rows under which the advisor (rightly) finds a sequential scan as fast as any
# index. 400 put renders, projects and render chains over that line and load in about a second
# per variant; the heavy user the operations are driven with is the same at any scale, so the
# statement counts of the operations table do not change.
DEMO_USERS = 400
PLANNERS = {
    "hypopg": "HypoPG hypothetical indexes (nothing is built)",
    "rollback": (
        "real indexes built inside a transaction that is rolled back, on the demo's own "
        "temporary database (HypoPG is not installed on this server)"
    ),
}
ADVICE_RULE = "DBA401"
DATABASE_LABEL = "render_platform"


@dataclass(frozen=True, slots=True)
class LiveReview:
    """The review as run, what ``Audit.database`` gets, and the findings it adds."""

    review: Review
    database: DatabaseReview
    findings: tuple[Finding, ...]

    @property
    def advice(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.rule == ADVICE_RULE)


def demo_scale() -> Any:
    """The data the demo loads into both variants' databases (a ``datagen.Scale``)."""
    from dbaudit.reference.render_platform.datagen import Scale

    return replace(Scale.demo(), users=DEMO_USERS)


def workload_from_units(
    units: Sequence[Unit], frequency: Mapping[str, float] = OPERATION_FREQUENCY
) -> tuple[WorkloadQuery, ...]:
    """Every statement the units recorded, labelled with its unit (the operation) and weighed
    by the operation's frequency (1 when not listed); repeats merge and their calls add up.

    Events keep no values, so the statements are planned generically (``$1`` ...), as a
    runtime events file is (``workload.from_events_file``).
    """
    queries = [
        WorkloadQuery(
            sql=numbered_placeholders(event.fingerprint.text),
            calls=frequency.get(unit.name, 1.0),
            fingerprint=event.fingerprint.digest,
            source="profile",
            label=unit.name,
        )
        for unit in units
        for event in unit.events
        if not event.ignored and event.error is None and event.fingerprint.text
    ]
    return merge(queries)


def tidy(url: str) -> None:
    """Make the demo's temporary naive database at ``url`` hold just the app again: drop the
    snapshot the measured runs restored their writes from, then ``VACUUM (ANALYZE)``."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {SNAPSHOT_SCHEMA} CASCADE")
        connection.execute("VACUUM (ANALYZE)")


def review_naive_database(url: str, workload: Sequence[WorkloadQuery]) -> LiveReview:
    """The live review of the demo's naive database; see the module docstring."""
    tidy(url)
    # The temporary database is gone once the demo ends: findings name the app's database.
    review = review_database(
        url,
        workload,
        settings=AdvisorSettings(allow_rollback_indexes=True),
        database_label=DATABASE_LABEL,
    )
    review.workload_source = WORKLOAD_SOURCE
    return LiveReview(review, review.to_database_review(), tuple(review.findings()))


def with_review(audit: Audit, live: LiveReview) -> Audit:
    """``audit`` with the live findings added and the review as ``Audit.database``."""
    return replace(audit, findings=[*audit.findings, *live.findings], database=live.database)


def _percent_lower(before: float, after: float) -> str:
    if before <= 0:
        return "n/a"
    return f"{(before - after) / before * 100:.0f}% lower"


def headline(live: LiveReview) -> str:
    database = live.database
    existing = database.existing_indexes
    backing = sum(1 for index in existing if index.backs_constraint)
    version = f"PostgreSQL {database.server_version}, " if database.server_version else ""
    return (
        f"naive database ({version}{database.tables} tables): {len(existing)} indexes, "
        f"{backing} of them behind a primary key or unique constraint"
    )


def advice_summary(live: LiveReview) -> list[str]:
    """What the advisor did: workload, planner method, indexes advised and the cost they save."""
    database = live.database
    lines = [
        f"workload: {database.workload_statements} distinct statements from the runtime "
        f"profile, each weighed by how often its operation runs"
    ]
    if database.planner:
        lines.append(f"planner: {PLANNERS.get(database.planner, database.planner)}")
        count = len(database.recommendations)
        noun = "index" if count == 1 else "indexes"
        before, after = database.workload_cost_before, database.workload_cost_after
        lines.append(
            f"{count} {noun} advised; workload planner cost {before:,.0f} → {after:,.0f} "
            f"({_percent_lower(before, after)}), "
            f"{len(database.not_recommended)} candidates not recommended (each with its reason)"
        )
    for problem in database.problems:
        lines.append(f"not reviewed: {problem}")
    return lines


def advice_rows(live: LiveReview) -> list[tuple[str, str, str, str]]:
    """(priority, size, statements helped, DDL) per recommended index."""
    return [
        (
            item.priority,
            human_bytes(item.size_bytes),
            f"{len(item.statements)} stmt"
            if len(item.statements) == 1
            else f"{len(item.statements)} stmts",
            item.ddl,
        )
        for item in live.database.recommendations
    ]


def other_findings_lines(live: LiveReview) -> list[str]:
    """Index health and connection findings, one line per rule and severity."""
    grouped: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in live.findings:
        if finding.rule != ADVICE_RULE:
            grouped[(finding.rule, str(finding.severity))].append(finding)
    lines = []
    for (rule, severity), findings in sorted(grouped.items()):
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        count = f"{len(findings)} findings" if len(findings) > 1 else "1 finding"
        lines.append(f"{rule} {severity}, {count}: {findings[0].message}{more}")
    return lines


def review_json(live: LiveReview) -> dict[str, Any]:
    database = live.database
    return {
        "database": database.database,
        "server_version": database.server_version,
        "tables": database.tables,
        "planner": database.planner,
        "workload_source": database.workload_source,
        "workload_statements": database.workload_statements,
        "workload_cost_before": database.workload_cost_before,
        "workload_cost_after": database.workload_cost_after,
        "recommendations": [
            {
                "ddl": item.ddl,
                "table": item.table,
                "priority": item.priority,
                "size_bytes": item.size_bytes,
                "reason": item.reason,
                "statements": [statement.label for statement in item.statements],
            }
            for item in database.recommendations
        ],
        "not_recommended": len(database.not_recommended),
        "existing_indexes": len(database.existing_indexes),
        "findings_by_rule": _counts(live.findings),
        "problems": list(database.problems),
    }


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.rule] = counts.get(finding.rule, 0) + 1
    return counts
