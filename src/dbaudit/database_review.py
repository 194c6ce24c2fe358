"""The live PostgreSQL review as one step: schema, index health, planner-judged index advice and
connection settings, for ``dbaudit indexes`` and for ``dbaudit audit --db``.

Whatever fails (no pg_stat_statements, HypoPG not creatable, missing privileges, an empty
database, a statement the planner rejects) is one line in ``Review.problems`` and the rest of
the review goes on; only an unreachable server raises (``DatabaseUnavailable``).
``Review.to_database_review`` turns it into the plain ``DatabaseReview`` every reporter reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dbaudit.connections.live import ConnectionReview, review_connections
from dbaudit.db import redact
from dbaudit.errors import first_line
from dbaudit.findings import (
    DatabaseReview,
    ExistingIndex,
    Finding,
    IndexNotRecommended,
    IndexRecommendation,
    StatementCost,
)
from dbaudit.indexes.advisor import AdvisorResult, AdvisorSettings, advise
from dbaudit.indexes.checks import run_checks
from dbaudit.indexes.whatif import WhatIfUnavailable
from dbaudit.indexes.workload import (
    WorkloadError,
    WorkloadQuery,
    from_events_file,
    from_file,
    from_pg_stat_statements,
)
from dbaudit.schema.live import connect, load_schema
from dbaudit.schema.model import Schema

PG_STAT_STATEMENTS = "pg_stat_statements"


@dataclass(slots=True)
class Review:
    url: str
    tables: int = 0
    advisor: AdvisorResult | None = None
    workload_source: str = ""
    health: list[Finding] = field(default_factory=list)
    connections: ConnectionReview | None = None
    problems: list[str] = field(default_factory=list)
    workload_statements: int = 0
    schema: Schema | None = None

    def findings(self) -> list[Finding]:
        """Every live finding (DBA401..DBA406, DBA501..DBA505), for an ``Audit``."""
        database = self.url.rsplit("/", 1)[-1].split("?")[0]
        advice = self.advisor.findings(database) if self.advisor else []
        connections = list(self.connections.findings) if self.connections else []
        return [*advice, *self.health, *connections]

    def to_database_review(self) -> DatabaseReview:
        """The plain record of this review that ``Audit.database`` carries to the reporters."""
        advisor = self.advisor
        measured = {v.label: v for v in advisor.verification} if advisor else {}
        recommendations = tuple(
            IndexRecommendation(
                ddl=a.ddl,
                table=a.table,
                priority=a.priority,
                size_bytes=a.est_size,
                reason=a.reason,
                statements=tuple(
                    StatementCost(
                        label=e.label,
                        query=e.query,
                        calls=e.calls,
                        cost_before=e.cost_before,
                        cost_after=e.cost_after,
                        ms_before=measured[e.label].before_ms if e.label in measured else None,
                        ms_after=measured[e.label].after_ms if e.label in measured else None,
                    )
                    for e in a.queries
                ),
            )
            for a in (advisor.advice if advisor else ())
        )
        existing = tuple(
            ExistingIndex(
                table=index.table,
                name=index.name,
                definition=index.definition,
                size_bytes=index.size_bytes,
                scans=index.scans,
                backs_constraint=index.constraint,
            )
            for table in (self.schema.tables if self.schema else ())
            for index in table.indexes
        )
        connections = self.connections
        settings: tuple[tuple[str, str], ...] = ()
        if connections is not None:
            settings = (
                ("max_connections", str(connections.max_connections)),
                ("superuser_reserved_connections", str(connections.reserved_connections)),
                ("statement_timeout", connections.statement_timeout),
                (
                    "idle_in_transaction_session_timeout",
                    connections.idle_in_transaction_session_timeout,
                ),
            )
        version = self.schema.server_version if self.schema else None
        return DatabaseReview(
            database=self.url,
            source="live",
            server_version=_version_text(version),
            tables=self.tables,
            planner=advisor.method if advisor else "",
            workload_source=self.workload_source,
            workload_statements=self.workload_statements,
            workload_cost_before=advisor.workload_cost_before if advisor else 0.0,
            workload_cost_after=advisor.workload_cost_after if advisor else 0.0,
            recommendations=recommendations,
            not_recommended=tuple(
                IndexNotRecommended(ddl=r.ddl, table=r.table, reason=r.reason)
                for r in (advisor.rejected if advisor else ())
            ),
            existing_indexes=existing,
            settings=settings,
            connections_by_state=tuple(connections.by_state.items()) if connections else (),
            problems=tuple(self.problems),
        )


def _version_text(version: int | None) -> str:
    """``150019`` -> ``15.19`` (server_version_num since PostgreSQL 10)."""
    if not version:
        return ""
    return f"{version // 10000}.{version % 10000}"


def _workload(conn: psycopg.Connection[Any], option: str | None) -> tuple[list[WorkloadQuery], str]:
    if option and option.endswith(".json"):
        return list(from_events_file(option)), option
    if option and option != PG_STAT_STATEMENTS:
        return list(from_file(option)), option
    try:
        return list(from_pg_stat_statements(conn)), PG_STAT_STATEMENTS
    except WorkloadError as error:
        if option == PG_STAT_STATEMENTS:
            raise
        raise WorkloadError(f"no workload given and {error}") from None


def review_database(
    url: str,
    workload_option: str | Sequence[WorkloadQuery] | None = None,
    *,
    settings: AdvisorSettings | None = None,
    pool_connections: int | None = None,
) -> Review:
    """The whole live review, for this command and for ``dbaudit audit --db``: whatever fails
    is one line in ``problems`` and the rest goes on. ``workload_option``: a file, an events
    file, "pg_stat_statements" (default when installed), or statements given by the caller
    (the static audit's). Raises DatabaseUnavailable only when the server cannot be reached."""
    result = Review(url=redact(url))
    with connect(url) as conn:
        try:
            schema = load_schema(conn)
        except psycopg.Error as error:
            result.problems.append(f"cannot read the catalog: {first_line(error)}")
            schema = None
        if schema is not None:
            result.schema = schema
            result.tables = len(schema.tables)
            if not schema.tables:
                result.problems.append(f"database {conn.info.dbname} has no tables to review")
            else:
                findings, errors = run_checks(conn)
                result.health = findings
                result.problems.extend(errors)
                workload: list[WorkloadQuery] = []
                try:
                    if isinstance(workload_option, str) or workload_option is None:
                        workload, result.workload_source = _workload(conn, workload_option)
                    else:
                        workload, result.workload_source = list(workload_option), "given"
                except WorkloadError as error:
                    result.problems.append(str(error))
                result.workload_statements = len(workload)
                if workload:
                    try:
                        result.advisor = advise(conn, schema, workload, settings)
                    except WhatIfUnavailable as error:
                        result.problems.append(f"index advisor: {error}")
                    except psycopg.Error as error:
                        result.problems.append(f"index advisor: {first_line(error)}")
        try:
            result.connections = review_connections(conn, pool_connections=pool_connections)
        except psycopg.Error as error:
            result.problems.append(f"connection review: {first_line(error)}")
    return result
