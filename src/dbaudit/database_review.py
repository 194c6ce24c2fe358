"""The live PostgreSQL review as one step: schema, index health, planner-judged index advice and
connection settings, for ``dbaudit indexes`` and for ``dbaudit audit --db``.

Whatever fails (no pg_stat_statements, HypoPG not creatable, missing privileges, an empty
database, a statement the planner rejects) is one line in ``Review.problems`` and the rest of
the review goes on; only an unreachable server raises (``DatabaseUnavailable``).
``Review.to_database_review`` turns it into the plain ``DatabaseReview`` every reporter reads.

Two things keep the review's findings honest for a reader:

- An advised index (DBA401) whose leading key columns are a foreign key's columns also serves
  that key's lookups, joins and cascade checks; the foreign key's DBA402 finding would tell the
  reader to build a second index on the same columns (often under the same name, so running
  the report's DDL in order fails). After the advisor ran, such a DBA402 finding is dropped and
  the DBA401 advice says "also indexes foreign key ...". A partial index ``WHERE col IS NOT
  NULL`` on the key's columns counts: a foreign key check compares with ``=``, which never
  matches NULL (MATCH SIMPLE skips rows with a NULL key column).
- ``database_label`` names the database as the reader knows it (the demo reviews a temporary
  database that is gone once it ends): finding paths and messages use it, and the ``ALTER
  DATABASE`` fixes name it, so the reader fills in the real name there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
from dbaudit.indexes.advisor import AdvisorResult, AdvisorSettings, IndexAdvice, advise
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
from dbaudit.schema.model import ForeignKey, Schema, quote_identifier

PG_STAT_STATEMENTS = "pg_stat_statements"
FOREIGN_KEY_RULE = "DBA402"


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
    database_label: str = ""  # the name findings give the database ("" = its real name)

    @property
    def database_name(self) -> str:
        """The database's real name, from the URL."""
        return self.url.rsplit("/", 1)[-1].split("?")[0]

    def findings(self) -> list[Finding]:
        """Every live finding (DBA401..DBA406, DBA501..DBA505), for an ``Audit``."""
        real = self.database_name
        label = self.database_label or real
        advice = self.advisor.findings(label) if self.advisor else []
        connections = list(self.connections.findings) if self.connections else []
        others = [_relabel(f, real, label) for f in (*self.health, *connections)]
        return [*advice, *others]

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
            database=self.database_label or self.url,
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


def _relabel(finding: Finding, real: str, label: str) -> Finding:
    """``finding`` naming the database ``label`` where it named ``real``: in its path, its
    text and its ``ALTER DATABASE`` statements (which stay valid SQL)."""
    if label == real:
        return finding
    words = re.compile(rf"(?<=\bdatabase ){re.escape(real)}\b")

    def text(value: str) -> str:
        return words.sub(label, value)

    fix = finding.fix
    if fix is not None:
        code = fix.code.replace(
            f"ALTER DATABASE {quote_identifier(real)} ",
            f"ALTER DATABASE {quote_identifier(label)} ",
        )
        fix = replace(fix, summary=text(fix.summary), code=code)
    path = finding.path
    if path == f"db://{real}" or path.startswith(f"db://{real}/"):
        path = f"db://{label}{path[len(f'db://{real}') :]}"
    return replace(
        finding, path=path, message=text(finding.message), problem=text(finding.problem), fix=fix
    )


def _serves_foreign_key(advice: IndexAdvice, key: ForeignKey) -> bool:
    """Whether the advised index's leading key columns are exactly the foreign key's (in any
    order, as ``indexes.checks`` asks of an existing index), with no predicate or only ``col IS
    NOT NULL`` on key columns (a foreign key check's ``=`` never matches NULL)."""
    candidate = advice.candidate
    if _bare(candidate.table) != _bare(key.table):
        return False
    leading = candidate.columns[: len(key.columns)]
    if len(leading) < len(key.columns) or set(leading) != set(key.columns):
        return False
    if candidate.predicate is None:
        return True
    not_null = {quote_identifier(column) + " IS NOT NULL" for column in key.columns} | {
        f"{column} IS NOT NULL" for column in key.columns
    }
    terms = [term.strip().strip("()") for term in re.split(r"\s+AND\s+", candidate.predicate)]
    return all(term in not_null for term in terms)


def fold_foreign_keys(
    advisor: AdvisorResult, health: Sequence[Finding], schema: Schema
) -> tuple[AdvisorResult, list[Finding]]:
    """The advice and the health findings with every DBA402 finding an advised index already
    answers dropped, and that index's reason saying which foreign keys it also indexes."""
    keys = [key for table in schema.tables for key in table.foreign_keys]
    served: dict[str, list[str]] = {}  # advised DDL -> foreign keys it serves
    answered: set[tuple[str, str]] = set()  # (constraint, table): names are unique per table
    for key in keys:
        for advice in advisor.advice:
            if _serves_foreign_key(advice, key):
                served.setdefault(advice.ddl, []).append(key.name)
                answered.add((key.name, _bare(key.table)))
                break
    if not answered:
        return advisor, list(health)
    folded = tuple(
        replace(
            a,
            reason=f"{a.reason}; also indexes foreign key{'s' if len(served[a.ddl]) > 1 else ''} "
            + ", ".join(served[a.ddl]),
        )
        if a.ddl in served
        else a
        for a in advisor.advice
    )
    kept = [f for f in health if not _answered(f, answered)]
    return replace(advisor, advice=folded), kept


def _bare(table: str) -> str:
    return table.split(".")[-1]


def _answered(finding: Finding, foreign_keys: set[tuple[str, str]]) -> bool:
    # DBA402's message starts "foreign key <constraint> <table>(<columns>) -> ..."
    if finding.rule != FOREIGN_KEY_RULE:
        return False
    words = finding.message.split()
    if len(words) < 4 or words[:2] != ["foreign", "key"]:
        return False
    return (words[2], _bare(words[3].split("(")[0])) in foreign_keys


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
    database_label: str | None = None,
) -> Review:
    """The whole live review, for this command and for ``dbaudit audit --db``: whatever fails
    is one line in ``problems`` and the rest goes on. ``workload_option``: a file, an events
    file, "pg_stat_statements" (default when installed), or statements given by the caller
    (the static audit's). ``database_label``: the name findings give the database (default:
    its real name; see the module docstring). Raises DatabaseUnavailable only when the server
    cannot be reached."""
    result = Review(url=redact(url), database_label=database_label or "")
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
                        advisor = advise(conn, schema, workload, settings)
                        result.advisor, result.health = fold_foreign_keys(
                            advisor, result.health, schema
                        )
                    except WhatIfUnavailable as error:
                        result.problems.append(f"index advisor: {error}")
                    except psycopg.Error as error:
                        result.problems.append(f"index advisor: {first_line(error)}")
        try:
            result.connections = review_connections(conn, pool_connections=pool_connections)
        except psycopg.Error as error:
            result.problems.append(f"connection review: {first_line(error)}")
    return result
