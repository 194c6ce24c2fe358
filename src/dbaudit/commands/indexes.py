"""``dbaudit indexes --db URL``: live index review, planner-judged index advice, connections.

Reads the catalog (read-only), runs the index health checks, judges candidate indexes for a
workload with the planner (HypoPG, or with ``--rollback-indexes`` real indexes inside a
transaction that is rolled back), and reviews connection settings. Whatever fails (no
pg_stat_statements, HypoPG not creatable, missing privileges, an empty database) is one line
and the rest of the review goes on; an unreachable server or a bad URL ends it with exit 2.

Exit status: 1 when a finding is at or above ``--fail-on`` (default ``high``: a missing index
that saves a large share of the workload, a broken invalid index; the medium findings a live
database nearly always has, such as an unused index or a pool setting, inform without failing a
CI job), 0 otherwise (``--fail-on never`` always 0), 2 on a usage error or when the server
cannot be reached. What could not be reviewed (no workload, HypoPG unavailable) is a line on
stderr and does not change the status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from dbaudit.cli import UsageError
from dbaudit.commands._review_options import add_review_arguments, advisor_settings
from dbaudit.database_review import PG_STAT_STATEMENTS, Review, review_database
from dbaudit.findings import Finding, Severity
from dbaudit.indexes.advisor import SIZE_DEDUPLICATED
from dbaudit.indexes.workload import WorkloadError, from_events_file, from_file
from dbaudit.sizes import human_bytes

__all__ = [
    "Review",
    "add_review_arguments",
    "advisor_settings",
    "configure",
    "review_database",
    "run",
]

HELP = "Review a live PostgreSQL: index advice judged by the planner, index health, connections."

DEFAULT_FAIL_ON = "high"
NEVER = "never"


def fail_threshold(text: str) -> Severity | None:
    """The lowest failing severity, or None for ``never``; UsageError for anything else."""
    if text.strip().lower() == NEVER:
        return None
    try:
        severity = Severity.parse(text)
    except ValueError as error:
        raise UsageError(f"--fail-on: {error}; or never") from None
    if severity == Severity.INFO:
        raise UsageError("--fail-on: info findings never fail (use low or above, or never)")
    return severity


def exit_status(findings: Sequence[Finding], fail_on: Severity | None) -> int:
    if fail_on is None:
        return 0
    return 1 if any(f.severity >= fail_on for f in findings) else 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="URL", help="PostgreSQL URL to review")
    parser.add_argument(
        "--workload",
        metavar="FILE|pg_stat_statements",
        help="statements to advise for: a SQL file (a '-- calls: N' comment weighs a statement), "
        "a runtime events file (*.json from pytest --dbaudit-json) or pg_stat_statements "
        "(the default when it is installed)",
    )
    add_review_arguments(parser)
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        default=DEFAULT_FAIL_ON,
        help="exit 1 when a finding is at or above this severity: low, medium, high (default) "
        "or critical; 'never' always exits 0",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--verbose", action="store_true", help="list every candidate not recommended and why"
    )


def review(args: argparse.Namespace) -> Review:
    return review_database(
        args.db,
        args.workload,
        settings=advisor_settings(args),
        pool_connections=args.pool_connections,
    )


def run(args: argparse.Namespace) -> int:
    fail_on = fail_threshold(args.fail_on)
    if args.workload and args.workload != PG_STAT_STATEMENTS:
        try:
            read = from_events_file if args.workload.endswith(".json") else from_file
            read(args.workload)
        except WorkloadError as error:
            raise UsageError(str(error)) from None
    outcome = review(args)
    if args.json:
        print(json.dumps(to_json(outcome), indent=2))
    else:
        print(render_text(outcome, verbose=args.verbose))
    for problem in outcome.problems:
        print(f"dbaudit: {problem}", file=sys.stderr)
    return exit_status(outcome.findings(), fail_on)


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": str(finding.severity),
        "message": finding.message,
        "path": finding.path,
        "fix": finding.fix.code if finding.fix else "",
    }


def to_json(outcome: Review) -> dict[str, Any]:
    return {
        "database": outcome.url,
        "tables": outcome.tables,
        "workload": outcome.workload_source,
        "advisor": outcome.advisor.to_json() if outcome.advisor else None,
        "health": [_finding_json(f) for f in outcome.health],
        "connections": outcome.connections.to_json() if outcome.connections else None,
        "problems": outcome.problems,
    }


def _percent(before: float, after: float) -> str:
    return f"{(after - before) / before:+.0%}" if before > 0 else "n/a"


def _finding_text(finding: Finding) -> str:
    fix = finding.fix.code.replace("\n", "\n           ") if finding.fix else ""
    return f"  {finding.rule} {finding.message}\n      fix: {fix}"


def render_text(outcome: Review, *, verbose: bool = False) -> str:
    lines = [f"dbaudit indexes: {outcome.url} ({outcome.tables} tables)"]
    advisor = outcome.advisor
    if advisor is not None:
        lines += [
            "",
            f"Index advice (planner via {advisor.method}; workload {outcome.workload_source}; "
            f"cost {advisor.workload_cost_before:.0f} -> {advisor.workload_cost_after:.0f}, "
            f"{_percent(advisor.workload_cost_before, advisor.workload_cost_after)})",
        ]
        if not advisor.advice:
            lines.append("  no index would help this workload enough")
        for advice in advisor.advice:
            size = human_bytes(advice.est_size)
            if advice.planner_size and advice.size_source == SIZE_DEDUPLICATED:
                size += f"; HypoPG says {human_bytes(advice.planner_size)}"
            lines.append(f"  [{advice.priority}] {advice.ddl}  ({size})")
            lines.append(f"      {advice.reason}")
            for effect in advice.queries:
                lines.append(
                    f"      {effect.label} x{effect.calls:g}: cost {effect.cost_before:.1f} -> "
                    f"{effect.cost_after:.1f}  {effect.query}"
                )
        if advisor.verification:
            lines += ["", "Verification (EXPLAIN ANALYZE, indexes built and rolled back)"]
            for check in advisor.verification:
                if check.before_ms is not None and check.after_ms is not None:
                    lines.append(
                        f"  {check.label}: {check.before_ms:.2f} ms -> {check.after_ms:.2f} ms "
                        f"(cost {check.cost_before:.1f} -> {check.cost_after:.1f})  {check.query}"
                    )
                    if check.samples:
                        lines.append(f"      values: {check.samples}")
                elif verbose:
                    lines.append(f"  {check.label}: not measured: {check.reason}")
        if verbose:
            lines += ["", "Not recommended"]
            lines += [f"  {r.ddl}\n      {r.reason}" for r in advisor.rejected] or ["  (none)"]
            lines += ["", "Statements skipped"]
            lines += [f"  {s.label}: {s.reason}  {s.query}" for s in advisor.skipped] or [
                "  (none)"
            ]
        elif advisor.rejected or advisor.skipped:
            lines.append(
                f"  {len(advisor.rejected)} candidates not recommended, "
                f"{len(advisor.skipped)} statements skipped (--verbose says why)"
            )
        lines += [f"  note: {note}" for note in advisor.notes]
    lines += ["", "Index health"]
    lines += [
        f"  {f.rule} {f.message}\n      fix: {f.fix.code if f.fix else ''}" for f in outcome.health
    ]
    if not outcome.health:
        lines.append("  no problems found")
    connections = outcome.connections
    if connections is not None:
        states = ", ".join(f"{state} {count}" for state, count in connections.by_state.items())
        lines += [
            "",
            "Connections",
            f"  max_connections {connections.max_connections} "
            f"({connections.reserved_connections} reserved); in use: {states or 'none'}",
            f"  statement_timeout {connections.statement_timeout}; idle_in_transaction_"
            f"session_timeout {connections.idle_in_transaction_session_timeout}",
        ]
        lines += [_finding_text(f) for f in connections.findings]
    return "\n".join(lines)
