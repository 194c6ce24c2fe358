"""One ``Audit`` from every source: the static audit, runtime profiles and the live database.

``dbaudit audit PATH... [--runtime EVENTS.json ...] [--db URL]`` runs the static audit, then:

- **runtime**: the units of every events file (``pytest --dbaudit-json``) are folded in with
  :func:`fold_runtime` (``dbaudit check --runtime`` folds them in the same way): a problem seen
  both ways is the static finding, marked confirmed with the measured queries and time; what
  only the runtime saw is kept beside it, unless the rule selection leaves it out or a
  ``# dbaudit: ignore`` comment covers its line. ``Audit.metrics`` gets "before" as measured
  per unit and "after" as modelled (:mod:`dbaudit.metrics`).
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

import ast
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dbaudit.audit import StaticAuditRun, check_rule_codes, rule_selected
from dbaudit.findings import (
    Audit,
    DatabaseReview,
    ExistingIndex,
    Finding,
    IndexRecommendation,
    Severity,
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
    from dbaudit.scan.project_config import ProjectConfig
    from dbaudit.scan.suppression import Suppressions
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
class RuntimeFold:
    """The audit with the runtime findings folded in, and what became of them."""

    audit: Audit
    units: int
    confirmed: int  # static findings that carry runtime evidence
    observed: int  # runtime findings kept on their own (what only the runtime saw)
    suppressed: int  # runtime findings silenced by ``# dbaudit: ignore``
    filtered: int  # runtime findings left out by select/ignore/min-severity


@dataclass(frozen=True, slots=True)
class CompleteAudit:
    audit: Audit
    problems: tuple[str, ...] = ()  # what could not be reviewed, one line each
    runtime: RuntimeFold | None = None  # when events files were given


def load_units(paths: Sequence[str], *, cwd: str | None = None) -> list[UnitRecord]:
    """Every unit of every events file; ``EventsFileError`` (one line) for a bad file.

    The profiler writes paths relative to the folder pytest ran in. When that was a subfolder
    (``cd backend && pytest --dbaudit-json events.json``, then ``dbaudit audit backend
    --runtime backend/events.json`` from the repository root), ``app/dal.py`` names no file
    from ``cwd`` (default: the working directory) but does from the events file's folder, so it
    becomes ``backend/app/dal.py``: the static audit's path, the baseline's and the SARIF's.
    A path that names a file from ``cwd`` is kept.
    """
    from dbaudit.runtime.export import load

    base = os.path.abspath(cwd or os.getcwd())
    units: list[UnitRecord] = []
    for path in paths:
        where = path if cwd is None else os.path.join(base, path)  # as given: in messages
        folder = os.path.dirname(os.path.join(base, path))
        loaded = load(where)
        if folder == base:
            units += loaded
        else:
            rebase = _Rebase(base, folder)
            units += [rebase.unit(unit) for unit in loaded]
    return units


class _Rebase:
    """Paths relative to the folder an events file was written in, made relative to ``base``."""

    def __init__(self, base: str, folder: str) -> None:
        self._base = base
        self._folder = folder
        self._paths: dict[str, str] = {}

    def unit(self, unit: UnitRecord) -> UnitRecord:
        return replace(unit, findings=tuple(self._finding(f) for f in unit.findings))

    def _finding(self, finding: Finding) -> Finding:
        hops = tuple(replace(hop, path=self._path(hop.path)) for hop in finding.call_chain)
        return replace(finding, path=self._path(finding.path), call_chain=hops)

    def _path(self, path: str) -> str:
        found = self._paths.get(path)
        if found is None:
            found = path
            if not os.path.isabs(path) and not os.path.isfile(os.path.join(self._base, path)):
                there = os.path.normpath(os.path.join(self._folder, path))
                if os.path.isfile(there):
                    relative = os.path.relpath(there, self._base)
                    outside = relative.split(os.sep, 1)[0] == os.pardir
                    found = there if outside else relative
            self._paths[path] = found
        return found


def complete(
    static: StaticAuditRun,
    *,
    runtime_files: Sequence[str] = (),
    units: Sequence[UnitRecord] | None = None,
    live: LiveOptions | None = None,
    rules: RuleSelection | None = None,
) -> CompleteAudit:
    """The static audit with the runtime profiles and the database review folded in.

    ``rules`` (default: every rule, every severity) applies to the runtime findings as the
    static audit applied it to its own (:func:`fold_runtime`), and again to the static ones
    (the same answer, unless it names runtime rules the scan was not given).
    """
    audit = static.audit
    fold = None
    if units is None:
        units = load_units(runtime_files, cwd=static.cwd or None)
    if runtime_files or units:
        from dbaudit.metrics import modelled_metrics

        fold = fold_runtime(audit, units, files=runtime_files, rules=rules, cwd=static.cwd)
        audit = replace(fold.audit, metrics=modelled_metrics(units) or fold.audit.metrics)
    elif rules is not None:  # a runtime-only code in select keeps every static finding out
        audit = rules.apply(audit)
    if live is None:
        code = _code_schema(static)
        database = None
        if code is not None:
            database = static_database_review(code, static.facts, _names(static))
        problems = database.problems if database is not None else ()
        return CompleteAudit(_ordered(replace(audit, database=database)), problems, fold)
    findings, database = _live_review(static, live, runtime_files)
    combined = replace(audit, findings=[*audit.findings, *findings], database=database)
    return CompleteAudit(_ordered(combined), database.problems, fold)


def _ordered(audit: Audit) -> Audit:
    """Findings in the documented order (path, line, column, rule), whatever their source."""
    return replace(audit, findings=sorted(audit.findings, key=_position))


def _position(finding: Finding) -> tuple[str, int, int, str]:
    return (finding.path, finding.line, finding.col, finding.rule)


# -- runtime findings: rule selection and inline suppressions ---------------------------------


@dataclass(frozen=True, slots=True)
class RuleSelection:
    """Which findings an audit keeps: rule codes or prefixes (as in ruff, the longest matching
    pattern decides) and the lowest severity, for static and runtime findings alike."""

    select: tuple[str, ...] | None = None  # None: every rule
    ignore: tuple[str, ...] = ()
    min_severity: Severity = Severity.INFO

    @classmethod
    def resolve(
        cls,
        select: tuple[str, ...] | None,
        ignore: tuple[str, ...],
        min_severity: Severity | None,
        config: ProjectConfig,
    ) -> RuleSelection:
        """As the static audit resolves them: the caller's select wins over ``[tool.dbaudit]``'s,
        ignores add up; ``AuditError`` for an unknown code in the config."""
        check_rule_codes(config.select or (), "select")
        check_rule_codes(config.ignore, "ignore")
        return cls(
            select=select or config.select,
            ignore=tuple(dict.fromkeys((*config.ignore, *ignore))),
            min_severity=min_severity or config.min_severity or Severity.INFO,
        )

    def keeps(self, finding: Finding) -> bool:
        return rule_selected(finding.rule, self.select, self.ignore) and (
            finding.severity >= self.min_severity
        )

    def apply(self, audit: Audit) -> Audit:
        """``audit`` with only the findings this selection keeps."""
        return replace(audit, findings=[f for f in audit.findings if self.keeps(f)])


def fold_runtime(
    audit: Audit,
    units: Sequence[UnitRecord],
    *,
    files: Sequence[str] = (),
    rules: RuleSelection | None = None,
    cwd: str = "",
) -> RuntimeFold:
    """``audit`` with the findings of ``units`` folded in: ``dbaudit audit --runtime`` and
    ``dbaudit check --runtime`` both come here.

    A problem seen both ways is the static finding, confirmed (:func:`dbaudit.runtime.merge
    .merge`). ``rules`` then applies to every finding (a static one gets the answer the scan
    gave it), and a runtime finding left on its own is suppressed by a ``# dbaudit: ignore``
    comment as the static audit would suppress a finding at its line (:class:`_InlineComments`).
    Paths are relative to ``cwd`` (default: the working directory). Findings are in the
    documented order (path, line, column, rule).
    """
    from dbaudit.runtime.export import to_audit
    from dbaudit.runtime.merge import merge

    merged = merge(audit, to_audit(units, roots=tuple(files)))
    comments = _InlineComments(cwd or os.getcwd())
    kept: list[Finding] = []
    suppressed = filtered = 0
    for finding in merged.findings:
        if rules is not None and not rules.keeps(finding):
            if finding.source == "runtime":  # a static one was filtered (and counted) by the scan
                filtered += 1
        elif finding.source == "runtime" and comments.cover(finding):
            suppressed += 1
        else:
            kept.append(finding)
    kept.sort(key=_position)
    return RuntimeFold(
        audit=replace(merged, findings=kept),
        units=len(units),
        confirmed=sum(1 for f in kept if f.source == "static" and f.evidence is not None),
        observed=sum(1 for f in kept if f.source == "runtime"),
        suppressed=suppressed,
        filtered=filtered,
    )


class _InlineComments:
    """``# dbaudit: ignore`` comments in the files runtime findings point at, read once each.

    A comment covers a runtime finding as it covers a static one (``dbaudit.scan.suppression``):
    on the finding's line, or on the header line of a loop or function enclosing it. For an N+1
    the runtime's line is the call inside the loop, the line the static rule flags. Codes name
    the finding's rule or a static rule it would confirm (``dbaudit.runtime.merge.CONFIRMS``):
    ``# dbaudit: ignore[DBA102]`` silences the loop both ways, as one problem.
    """

    def __init__(self, cwd: str) -> None:
        self._cwd = cwd
        self._files: dict[str, Suppressions] = {}

    def cover(self, finding: Finding) -> bool:
        from dbaudit.runtime.merge import CONFIRMS

        comments = self._files.get(finding.path)
        if comments is None:
            comments = self._files[finding.path] = _file_comments(
                os.path.join(self._cwd, finding.path)
            )
        if not comments:
            return False
        rules = (finding.rule, *sorted(CONFIRMS.get(finding.rule, ())))
        return any(comments.covers(replace(finding, rule=rule)) for rule in rules)


def _file_comments(path: str) -> Suppressions:
    """The suppression comments of one file, with its functions and loops (Python) as blocks."""
    from dbaudit.scan.suppression import NO_SUPPRESSIONS, Suppressions, comment_lines

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return NO_SUPPRESSIONS
    lines = comment_lines(text)
    if not lines:
        return NO_SUPPRESSIONS
    blocks: list[tuple[int, int, int]] = []
    if path.endswith(".py"):
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError):
            tree = None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, _BLOCKS):
                end = node.end_lineno or node.lineno
                blocks.append((node.lineno, node.lineno, end))
    return Suppressions(lines, tuple(blocks))


# the nodes whose header line a comment covers the body of, as the static model's functions
# and loops (comprehensions included)
_BLOCKS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


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
