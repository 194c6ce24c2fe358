"""One ``Audit`` from every source: the static audit, runtime profiles and the live database.

``dbaudit audit PATH... [--runtime EVENTS.json ...] [--db URL]`` runs the static audit, then:

- **runtime**: the units of every events file (``pytest --dbaudit-json``) are folded in with
  :func:`dbaudit.runtime.merge.merge`: a problem seen both ways is the static finding, marked
  confirmed with the measured queries and time; what only the runtime saw is kept beside it.
  ``Audit.metrics`` gets "before" as measured per unit and "after" as modelled
  (:mod:`dbaudit.metrics`).
- **live** (``--db``): :func:`dbaudit.database_review.review_database` reviews the schema, the
  indexes (planner-judged advice for a workload), and the connection settings. Its findings join
  ``Audit.findings`` and its record becomes ``Audit.database``. The workload is the first of:
  the runtime events files, ``pg_stat_statements`` when installed and not empty, the static
  audit's database operations (:mod:`dbaudit.indexes.static_workload`).
- **no database**: ``Audit.database`` is the schema the code declares (ORM models, DDL files;
  :mod:`dbaudit.schema.from_code`) with ``source="static"``: what is indexed already and the
  foreign keys no index serves. None when the code declares no table.

Only an unreachable database raises (``DatabaseUnavailable``); whatever else could not be
reviewed is one line in ``CompleteAudit.problems`` (and in ``Audit.database.problems``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dbaudit.audit import StaticAuditRun
from dbaudit.findings import (
    Audit,
    DatabaseReview,
    ExistingIndex,
    Finding,
    IndexRecommendation,
)
from dbaudit.indexes.static_workload import (
    LOOP_WEIGHT,
    ProgramFacts,
    StaticWorkload,
    TableNames,
    build,
    model_names,
)
from dbaudit.schema.model import Index, Schema, Table, quote_identifier

if TYPE_CHECKING:  # the runtime, SQL and driver modules load only when a source needs them
    import psycopg

    from dbaudit.indexes.advisor import AdvisorSettings
    from dbaudit.indexes.workload import WorkloadQuery
    from dbaudit.runtime.export import UnitRecord
    from dbaudit.schema.from_code import CodeSchema

WORKLOAD_STATIC = "static audit"
WORKLOAD_PG_STAT_STATEMENTS = "pg_stat_statements"


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """What ``--db`` and the advisor options ask for."""

    url: str
    settings: AdvisorSettings | None = None
    pool_connections: int | None = None


@dataclass(frozen=True, slots=True)
class CompleteAudit:
    audit: Audit
    problems: tuple[str, ...] = ()  # what could not be reviewed, one line each


def load_units(paths: Sequence[str]) -> list[UnitRecord]:
    """Every unit of every events file; ``EventsFileError`` (one line) for a bad file."""
    from dbaudit.runtime.export import load

    return [unit for path in paths for unit in load(path)]


def complete(
    static: StaticAuditRun,
    *,
    runtime_files: Sequence[str] = (),
    units: Sequence[UnitRecord] | None = None,
    live: LiveOptions | None = None,
) -> CompleteAudit:
    """The static audit with the runtime profiles and the database review folded in."""
    audit = static.audit
    if units is None:
        units = load_units(runtime_files)
    if runtime_files or units:
        from dbaudit.metrics import modelled_metrics
        from dbaudit.runtime.export import to_audit
        from dbaudit.runtime.merge import merge

        merged = merge(audit, to_audit(units, roots=tuple(runtime_files)))
        audit = replace(merged, metrics=modelled_metrics(units) or merged.metrics)
    if live is None:
        code = _code_schema(static)
        database = None
        if code is not None:
            database = static_database_review(code, static.facts, _names(static))
        problems = database.problems if database is not None else ()
        return CompleteAudit(_ordered(replace(audit, database=database)), problems)
    findings, database = _live_review(static, live, runtime_files)
    combined = replace(audit, findings=[*audit.findings, *findings], database=database)
    return CompleteAudit(_ordered(combined), database.problems)


def _ordered(audit: Audit) -> Audit:
    """Findings in the documented order (path, line, column, rule), whatever their source."""
    return replace(audit, findings=sorted(audit.findings, key=_position))


def _position(finding: Finding) -> tuple[str, int, int, str]:
    return (finding.path, finding.line, finding.col, finding.rule)


# -- the live database ------------------------------------------------------------------------


def _live_review(
    static: StaticAuditRun, live: LiveOptions, runtime_files: Sequence[str]
) -> tuple[list[Finding], DatabaseReview]:
    import psycopg

    from dbaudit.database_review import review_database
    from dbaudit.errors import first_line
    from dbaudit.schema.live import connect, load_schema

    problems: list[str] = []
    with connect(live.url) as conn:  # DatabaseUnavailable: the caller's one line, exit 2
        try:
            schema: Schema | None = load_schema(conn)
        except psycopg.Error as error:
            schema = None
            problems.append(f"cannot read the catalog: {first_line(error)}")
        workload, source = _workload(conn, schema, static, runtime_files, problems)
    review = review_database(
        live.url, workload, settings=live.settings, pool_connections=live.pool_connections
    )
    review.workload_source = source
    database = review.to_database_review()
    database = replace(database, problems=tuple(dict.fromkeys((*problems, *database.problems))))
    return review.findings(), database


def _workload(
    conn: psycopg.Connection[Any],
    schema: Schema | None,
    static: StaticAuditRun,
    runtime_files: Sequence[str],
    problems: list[str],
) -> tuple[list[WorkloadQuery], str]:
    """The statements the advisor judges, and where they came from (see module docstring)."""
    from dbaudit.indexes.workload import (
        WorkloadError,
        from_events_file,
        from_pg_stat_statements,
        merge,
    )

    if runtime_files:
        queries = list(merge(q for path in runtime_files for q in from_events_file(path)))
        if queries:
            return queries, f"runtime events ({', '.join(runtime_files)})"
        problems.append("the runtime events files hold no statement to advise indexes for")
    try:
        installed = list(from_pg_stat_statements(conn))
    except WorkloadError:
        installed = []  # not installed or not readable: the static audit's operations instead
    if installed:
        return installed, WORKLOAD_PG_STAT_STATEMENTS
    if schema is None or not schema.tables:
        return [], ""
    workload = static_workload(static, schema)
    problems.extend(workload.problems())
    if not workload.queries:
        problems.append(
            "no workload for the index advisor: no runtime events given, pg_stat_statements "
            "has no statements here, and the static audit found no database operation on "
            "this database's tables"
        )
        return [], ""
    return list(workload.queries), f"{WORKLOAD_STATIC} ({workload.operations} operations)"


def static_workload(static: StaticAuditRun, schema: Schema) -> StaticWorkload:
    """The static audit's operations written against ``schema`` (the database's names)."""
    return build(static.facts, schema, _names(static))


def _names(static: StaticAuditRun) -> dict[str, TableNames]:
    """ORM class -> database names; Django's ``db_table``/``db_column`` read from its models."""
    from dbaudit.schema.django_models import load_django_names
    from dbaudit.schema.sqlalchemy_models import ModelSourceError, read_model_sources

    django_files = [
        os.path.join(static.cwd, path) for lib, path in static.facts.model_files if lib == "django"
    ]
    django: dict[str, tuple[str, dict[str, str]]] = {}
    if django_files:
        try:
            django = load_django_names(*read_model_sources(django_files))
        except ModelSourceError:
            django = {}  # the static schema review reports the unreadable file
    return model_names(static.facts.models, django)


# -- the schema the code declares -------------------------------------------------------------


def _code_schema(static: StaticAuditRun) -> CodeSchema | None:
    from dbaudit.schema.from_code import load as load_code_schema

    roots = [os.path.join(static.cwd, root) for root in static.audit.roots]
    return load_code_schema(static.facts.model_files, roots, base=static.cwd or ".")


def static_database_review(
    code: CodeSchema, facts: ProgramFacts, names: dict[str, TableNames] | None = None
) -> DatabaseReview:
    """``Audit.database`` from the code's schema: existing indexes, and an index for each
    foreign key that has none (not judged by a planner: there is no database to ask)."""
    schema = code.schema
    workload = build(facts, schema, names)
    return DatabaseReview(
        database=_files_label(code.files),
        source="static",
        tables=len(schema.tables),
        workload_source=WORKLOAD_STATIC if workload.statements else "",
        workload_statements=len({s.sql for s in workload.statements}),
        recommendations=tuple(_foreign_key_indexes(schema, workload)),
        existing_indexes=tuple(
            ExistingIndex(
                table=table.qualified_name,
                name=index.name,
                definition=index.definition or index_definition(table, index),
                backs_constraint=index.constraint,
            )
            for table in schema.tables
            for index in table.indexes
        ),
        problems=code.notes,
    )


def _files_label(files: Sequence[str]) -> str:
    if len(files) <= 3:
        return ", ".join(files)
    common = os.path.commonpath(files) if all(not f.startswith("/") for f in files) else ""
    return f"{len(files)} files" + (f" under {common}" if common else "")


def index_definition(table: Table, index: Index) -> str:
    """``CREATE UNIQUE INDEX name ON table (keys) WHERE ...`` for an index read from code."""
    unique = "UNIQUE " if index.unique else ""
    method = f" USING {index.method}" if index.method != "btree" else ""
    keys = ", ".join(key.render() for key in index.keys)
    text = (
        f"CREATE {unique}INDEX {quote_identifier(index.name)} ON "
        f"{quote_identifier(table.name)}{method} ({keys})"
    )
    if index.include:
        text += f" INCLUDE ({', '.join(quote_identifier(c) for c in index.include)})"
    if index.predicate:
        text += f" WHERE {index.predicate}"
    return text


def _foreign_key_indexes(schema: Schema, workload: StaticWorkload) -> list[IndexRecommendation]:
    from dbaudit.indexes.candidates import covering_index, foreign_key_candidates

    recommendations = []
    for table in schema.tables:
        for fk, candidate in zip(table.foreign_keys, foreign_key_candidates(table), strict=False):
            if covering_index(table, candidate) is not None:
                continue
            leading = fk.columns[0]
            users = [u for u in workload.uses if (u.table, u.column) == (table.name, leading)]
            calls = sum(u.calls for u in users)
            named = ", ".join(f"{u.label} x{u.calls:g}" for u in users[:3])
            more = f" and {len(users) - 3} more" if len(users) > 3 else ""
            used = f" Queried by {named}{more}." if users else ""
            recommendations.append(
                IndexRecommendation(
                    ddl=candidate.definition() + ";",
                    table=table.qualified_name,
                    priority="high" if calls >= LOOP_WEIGHT else "medium",
                    size_bytes=0,
                    reason=(
                        f"foreign key {table.name}({', '.join(fk.columns)}) -> "
                        f"{fk.referenced_table} has no index: lookups and joins by "
                        f"{leading} read all of {table.name}, and so does every delete in "
                        f"{fk.referenced_table}.{used} From the code's schema; no planner "
                        "judged it (no database was given)."
                    ),
                )
            )
    return recommendations
