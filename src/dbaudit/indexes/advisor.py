"""The index advisor: candidates from the workload, judged by the planner, chosen greedily.

1. Every workload statement is extracted (:mod:`dbaudit.sql.extract`); one that cannot be
   parsed, is no SELECT/INSERT/UPDATE/DELETE, reads no table of this database, or that the
   planner rejects is skipped with its reason. A DELETE also brings the foreign-key checks it
   makes PostgreSQL run on referencing tables (``SELECT 1 FROM child WHERE fk = $1`` per deleted
   row): EXPLAIN does not cost those, but they are what an unindexed foreign key makes slow.
2. Candidates (:mod:`dbaudit.indexes.candidates`), covering (INCLUDE) variants among them
   for statements that read few columns (:mod:`dbaudit.indexes.columns_read`); those an
   existing index serves, or on tiny tables, are rejected there, and covering variants that
   would cost their deduplication here (:func:`dbaudit.indexes.sizing.covering_rejection`).
3. In one planner session (HypoPG, or real indexes in a rolled-back transaction), the workload
   is costed without any candidate, then greedily: each round, every candidate whose queries'
   costs may have changed is tried; its saving is the frequency-weighted drop in cost of the
   statements on its table, minus the cost of maintaining it for the workload's writes on that
   table. The candidate with the best net saving per byte wins if it saves at least
   ``min_improvement`` of the cost of the statements it helps. Repeat until none qualifies.
   Bytes are the real size on the rollback path, else the deduplication-aware estimate from
   ``pg_stats`` (:mod:`dbaudit.indexes.sizing`), else HypoPG's figure (see ``_size``).
4. Of two chosen indexes where one starts with the other's keys, the planner keeps the one
   the workload costs less with (``_drop_redundant``). A final session costs the workload with
   the chosen set; an index no final plan uses is dropped from the advice (another chosen index
   serves its queries). Each advice lists the statements whose final plan uses it with their
   cost before and after.
5. ``--verify``: EXPLAIN ANALYZE of the read statements without and with the advice, built for
   real in a rolled-back transaction; ``$n`` values a workload did not keep are drawn from
   ``pg_stats`` (:mod:`dbaudit.indexes.samples`).

Nothing is left behind: both sessions end in ROLLBACK (see :mod:`dbaudit.indexes.whatif`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import psycopg

from dbaudit.errors import first_line
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.indexes.candidates import Candidate, Rejection, generate, serves_as_prefix
from dbaudit.indexes.columns_read import columns_read
from dbaudit.indexes.samples import Samples, draw_samples
from dbaudit.indexes.sizing import covering_rejection, estimate_btree_bytes
from dbaudit.indexes.whatif import (
    CandidateFailed,
    HypoPGSession,
    PlannerRejected,
    PlannerSession,
    RollbackSession,
    WhatIfUnavailable,
    has_parameters,
    measure,
    plan_signature,
)
from dbaudit.indexes.workload import WorkloadQuery
from dbaudit.schema.model import Schema, quote_identifier
from dbaudit.sizes import human_bytes
from dbaudit.sql.extract import ExtractError, StatementShape, extract

Method = Literal["auto", "hypopg", "rollback"]
Strategy = Literal["workload", "per-query"]

# Maintaining one index entry for one written row, in planner cost units (seq_page_cost = 1):
# a btree descent and a dirtied page that must be written and WAL-logged.
WRITE_COST_PER_ROW = 1.0
# A plan counts as improved when its cost drops by more than this share.
NOISE = 0.001
HIGH_PRIORITY_WORKLOAD_SHARE = 0.2
HIGH_PRIORITY_SPEEDUP = 10.0
HIGH_PRIORITY_MIN_SHARE = 0.02  # a 10x speedup of a statement that hardly runs stays medium


@dataclass(frozen=True, slots=True)
class AdvisorSettings:
    min_improvement: float = 0.10  # share of the helped statements' cost an index must save
    # ... and share of the whole workload's cost (with the indexes chosen so far): a further
    # 80% off a statement an earlier choice already made 1000x cheaper is no reason for a
    # 90 MB index.
    min_workload_share: float = 0.01
    write_cost_per_row: float = WRITE_COST_PER_ROW
    method: Method = "auto"
    allow_rollback_indexes: bool = False  # the opt-in for real indexes in a rolled-back tx
    verify: bool = False
    strategy: Strategy = "workload"
    # "per-query" is the best-known open-source strategy, kept as the benchmark's baseline:
    # one- and two-column candidates without sort direction or partial predicate, chosen
    # query by query with a fixed saving bar.
    per_query_bar: float = 0.5
    statement_timeout_ms: int = 60_000
    lock_timeout_ms: int = 2_000


@dataclass(frozen=True, slots=True)
class QueryEffect:
    label: str
    query: str
    calls: float
    cost_before: float
    cost_after: float


@dataclass(frozen=True, slots=True)
class IndexAdvice:
    ddl: str
    table: str
    priority: Literal["high", "medium"]
    est_size: int
    queries: tuple[QueryEffect, ...]
    reason: str
    saving: float  # frequency-weighted planner cost saved per workload run
    write_cost: float
    candidate: Candidate = field(repr=False, compare=False)
    planner_size: int = 0  # the what-if method's own figure (HypoPG: no deduplication)
    size_source: str = ""  # which figure est_size is: see _size


@dataclass(frozen=True, slots=True)
class RejectedIndex:
    ddl: str
    table: str
    reason: str
    est_size: int | None = None


@dataclass(frozen=True, slots=True)
class SkippedQuery:
    label: str
    query: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verification:
    label: str
    query: str
    cost_before: float
    cost_after: float
    before_ms: float | None
    after_ms: float | None
    reason: str = ""
    samples: str = ""  # where the values of $n parameters came from (see indexes.samples)


@dataclass(frozen=True, slots=True)
class AdvisorResult:
    method: str
    advice: tuple[IndexAdvice, ...]
    rejected: tuple[RejectedIndex, ...]
    skipped: tuple[SkippedQuery, ...]
    workload_cost_before: float
    workload_cost_after: float
    verification: tuple[Verification, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total_index_bytes(self) -> int:
        return sum(a.est_size for a in self.advice)

    def findings(self, database: str) -> list[Finding]:
        """DBA401: one live finding per recommended index."""
        result = []
        for advice in self.advice:
            lines = [
                f"{e.label}: cost {e.cost_before:.1f} -> {e.cost_after:.1f} (x{e.calls:g})"
                for e in advice.queries
            ]
            result.append(
                Finding(
                    rule="DBA401",
                    severity=Severity.HIGH if advice.priority == "high" else Severity.MEDIUM,
                    message=f"missing index on {advice.table}: {advice.reason}",
                    path=f"db://{database}/{advice.table}",
                    line=0,
                    end_line=0,
                    fix=Fix(
                        f"create the index ({human_bytes(advice.est_size)})", advice.ddl, "sql"
                    ),
                    confidence="high",
                    source="live",
                    problem="\n".join(lines),
                )
            )
        return result

    def to_json(self) -> dict[str, Any]:
        def advice_json(a: IndexAdvice) -> dict[str, Any]:
            return {
                "ddl": a.ddl,
                "table": a.table,
                "priority": a.priority,
                "est_size_bytes": a.est_size,
                "size_source": a.size_source,
                "planner_size_bytes": a.planner_size,
                "saving": round(a.saving, 2),
                "write_cost": round(a.write_cost, 2),
                "reason": a.reason,
                "queries": [
                    {
                        "label": e.label,
                        "query": e.query,
                        "calls": e.calls,
                        "cost_before": round(e.cost_before, 2),
                        "cost_after": round(e.cost_after, 2),
                    }
                    for e in a.queries
                ],
            }

        return {
            "method": self.method,
            "workload_cost_before": round(self.workload_cost_before, 2),
            "workload_cost_after": round(self.workload_cost_after, 2),
            "advice": [advice_json(a) for a in self.advice],
            "rejected": [
                {"ddl": r.ddl, "table": r.table, "reason": r.reason, "est_size_bytes": r.est_size}
                for r in self.rejected
            ],
            "skipped_queries": [
                {"label": s.label, "query": s.query, "reason": s.reason} for s in self.skipped
            ],
            "verification": [
                {
                    "label": v.label,
                    "query": v.query,
                    "cost_before": round(v.cost_before, 2),
                    "cost_after": round(v.cost_after, 2),
                    "before_ms": v.before_ms,
                    "after_ms": v.after_ms,
                    "reason": v.reason,
                    "samples": v.samples,
                }
                for v in self.verification
            ],
            "notes": list(self.notes),
        }


# -- the workload as the advisor sees it -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Statement:
    query: WorkloadQuery
    shape: StatementShape
    weight: float
    implicit: bool = False  # a foreign-key check PostgreSQL runs for a DELETE
    reads: Mapping[str, frozenset[str]] = field(default_factory=dict)  # table -> columns read


def _label(query: WorkloadQuery, number: int) -> str:
    return query.label or f"q{number + 1}"


def prepare_workload(
    workload: Sequence[WorkloadQuery], schema: Schema
) -> tuple[list[_Statement], list[SkippedQuery]]:
    columns = schema.columns_by_table()
    statements: list[_Statement] = []
    skipped: list[SkippedQuery] = []
    for number, query in enumerate(workload):
        label = _label(query, number)
        try:
            shape = extract(query.sql, schema=columns)
        except ExtractError as error:
            skipped.append(SkippedQuery(label, query.short(), str(error)))
            continue
        if shape.kind == "other":
            skipped.append(
                SkippedQuery(label, query.short(), "not a SELECT, INSERT, UPDATE or DELETE")
            )
            continue
        known = [t for t in shape.tables if schema.table(t) is not None]
        if not known:
            skipped.append(SkippedQuery(label, query.short(), "reads no table of this database"))
            continue
        reads = columns_read(query.sql, columns)
        statements.append(_Statement(replace(query, label=label), shape, query.calls, False, reads))
        if shape.kind == "delete" and shape.target_table:
            statements.extend(_foreign_key_checks(query, label, shape.target_table, schema))
    return statements, skipped


def _foreign_key_checks(
    query: WorkloadQuery, label: str, parent: str, schema: Schema
) -> list[_Statement]:
    checks = []
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.referenced_table != parent:
                continue
            where = " AND ".join(
                f"{quote_identifier(c)} = ${n}" for n, c in enumerate(fk.columns, start=1)
            )
            target = ".".join(quote_identifier(p) for p in fk.table.split("."))
            sql = f"SELECT 1 FROM {target} WHERE {where}"
            check = WorkloadQuery(
                sql=sql,
                calls=query.calls,
                fingerprint=f"fk:{fk.name}:{query.fingerprint}",
                source="implicit",
                label=f"{label} (foreign key check {fk.name})",
            )
            checks.append(_Statement(check, extract(sql), query.calls, implicit=True))
    return checks


# -- sizes -----------------------------------------------------------------------------------

SIZE_BUILT = "as built"
SIZE_DEDUPLICATED = "btree estimate with deduplication (pg_stats)"
SIZE_HYPOPG = "HypoPG estimate"


def _size(method: str, planner_size: int, estimate: int | None) -> tuple[int, str]:
    """The size the choice weighs an index by: a real index's own size (rollback path), else
    the deduplication-aware estimate from the statistics (HypoPG ignores deduplication and
    overstates low-cardinality indexes up to several times), else HypoPG's figure."""
    if method == "rollback":
        return planner_size, SIZE_BUILT
    if estimate is not None:
        return estimate, SIZE_DEDUPLICATED
    return planner_size, SIZE_HYPOPG


def _estimates(candidates: Sequence[Candidate], schema: Schema) -> dict[Any, int | None]:
    return {c.identity: estimate_btree_bytes(c, schema.table(c.table)) for c in candidates}


# -- the greedy choice -----------------------------------------------------------------------


@dataclass(slots=True)
class _Evaluation:
    size: int = 0
    costs: dict[int, float] = field(default_factory=dict)
    saving: float = 0.0
    write_cost: float = 0.0
    helped_cost: float = 0.0  # weighted current cost of the statements it helps
    error: str = ""
    stale: bool = True
    best_saving: float = 0.0  # the best saving it ever had (to explain later rejections)
    statements_on_table: int = 0  # workload statements that read its table

    @property
    def net(self) -> float:
        return self.saving - self.write_cost

    @property
    def relative(self) -> float:
        return self.net / self.helped_cost if self.helped_cost > 0 else 0.0


def _relevant(statements: Sequence[_Statement], candidate: Candidate) -> list[int]:
    bare = candidate.table.split(".")[-1]
    return [i for i, s in enumerate(statements) if bare in s.shape.tables]


def _write_cost(
    statements: Sequence[_Statement],
    candidate: Candidate,
    rows_written: dict[int, float],
    per_row: float,
) -> float:
    bare = candidate.table.split(".")[-1]
    touched = set(candidate.stored_columns)
    if candidate.predicate:
        touched |= {word.strip('"') for word in candidate.predicate.split()}
    total = 0.0
    for number, statement in enumerate(statements):
        shape = statement.shape
        if shape.target_table != bare:
            continue
        if shape.kind == "insert" or (
            shape.kind == "update" and touched & set(shape.set_columns)
        ):  # a HOT update of other columns leaves the index alone
            total += statement.weight * rows_written.get(number, 1.0) * per_row
    return total


def _evaluate(
    session: PlannerSession,
    candidate: Candidate,
    statements: Sequence[_Statement],
    current: dict[int, float],
    rows_written: dict[int, float],
    settings: AdvisorSettings,
    evaluation: _Evaluation,
    estimate: int | None = None,
) -> None:
    evaluation.stale = False
    try:
        evaluation.size, _ = _size(session.method, session.try_index(candidate), estimate)
    except CandidateFailed as error:
        evaluation.error = f"could not be created: {error}"
        return
    try:
        costs: dict[int, float] = {}
        relevant = _relevant(statements, candidate)
        evaluation.statements_on_table = len(relevant)
        for number in relevant:
            if number not in current:
                continue
            try:
                costs[number] = session.explain(statements[number].query.sql).total_cost
            except PlannerRejected:
                costs[number] = current[number]
    finally:
        session.discard()
    evaluation.costs = costs
    saving = 0.0
    helped = 0.0
    for number, cost in costs.items():
        before = current[number]
        if cost < before * (1 - NOISE):
            weight = statements[number].weight
            saving += weight * (before - cost)
            helped += weight * before
    evaluation.saving = saving
    evaluation.helped_cost = helped
    evaluation.write_cost = _write_cost(
        statements, candidate, rows_written, settings.write_cost_per_row
    )
    evaluation.best_saving = max(evaluation.best_saving, saving)


def _rejection_reason(
    evaluation: _Evaluation,
    settings: AdvisorSettings,
    chosen: Sequence[Candidate],
    workload_total: float,
) -> str:
    if evaluation.error:
        return evaluation.error
    after = " once the recommended indexes are in place" if chosen else ""
    if not evaluation.costs:
        if evaluation.statements_on_table:
            return (
                "the planner accepted no workload statement on its table "
                "(see the statements skipped)"
            )
        return "no workload statement reads its table"
    if evaluation.saving <= 0:
        if evaluation.best_saving > 0:
            return f"the recommended indexes already serve its queries (no saving left{after})"
        return "the planner uses it for no workload statement (cost unchanged)"
    if evaluation.net <= 0:
        return (
            f"write-heavy table: maintaining it costs {evaluation.write_cost:.1f} per workload "
            f"run, more than its read saving of {evaluation.saving:.1f}"
        )
    if evaluation.relative < settings.min_improvement:
        return (
            f"saves {evaluation.relative:.1%} of the cost of the statements it helps{after}, "
            f"under the {settings.min_improvement:.0%} threshold"
        )
    share = evaluation.net / workload_total if workload_total > 0 else 0.0
    return (
        f"saves {share:.2%} of the workload's cost{after} "
        f"({evaluation.relative:.0%} of the statements it helps), under the "
        f"{settings.min_workload_share:.0%} minimum"
    )


def _greedy(
    session: PlannerSession,
    candidates: Sequence[Candidate],
    statements: Sequence[_Statement],
    base: dict[int, float],
    rows_written: dict[int, float],
    settings: AdvisorSettings,
    estimates: dict[Any, int | None] | None = None,
) -> tuple[list[Candidate], list[RejectedIndex]]:
    estimates = estimates or {}
    current = dict(base)
    evaluations = {c.identity: _Evaluation() for c in candidates}
    remaining = list(candidates)
    chosen: list[Candidate] = []
    total = 0.0
    while remaining:
        total = sum(statements[n].weight * cost for n, cost in current.items())
        for candidate in remaining:
            evaluation = evaluations[candidate.identity]
            if evaluation.stale:
                _evaluate(
                    session,
                    candidate,
                    statements,
                    current,
                    rows_written,
                    settings,
                    evaluation,
                    estimates.get(candidate.identity),
                )
        qualified = [
            c
            for c in remaining
            if not evaluations[c.identity].error
            and evaluations[c.identity].net > 0
            and evaluations[c.identity].relative >= settings.min_improvement
            and evaluations[c.identity].net >= settings.min_workload_share * total
        ]
        if not qualified:
            break
        best = max(
            qualified,
            key=lambda c: (
                evaluations[c.identity].net / max(evaluations[c.identity].size, 1),
                evaluations[c.identity].net,
            ),
        )
        session.try_index(best)
        session.keep()
        chosen.append(best)
        remaining.remove(best)
        changed = {n for n, cost in evaluations[best.identity].costs.items() if cost != current[n]}
        current.update(evaluations[best.identity].costs)
        for candidate in remaining:
            if changed & set(_relevant(statements, candidate)):
                evaluations[candidate.identity].stale = True
    rejected = [
        RejectedIndex(
            c.definition() + ";",
            c.table,
            _rejection_reason(evaluations[c.identity], settings, chosen, total),
            evaluations[c.identity].size or None,
        )
        for c in remaining
    ]
    return chosen, rejected


def _per_query(
    session: PlannerSession,
    candidates: Sequence[Candidate],
    statements: Sequence[_Statement],
    base: dict[int, float],
    settings: AdvisorSettings,
) -> tuple[list[Candidate], list[RejectedIndex]]:
    """The baseline strategy: for each statement alone, its best candidate if it saves the bar."""
    costs: dict[tuple[Any, ...], dict[int, float]] = {}
    for candidate in candidates:
        try:
            session.try_index(candidate)
        except CandidateFailed:
            continue
        try:
            costs[candidate.identity] = {}
            for number in _relevant(statements, candidate):
                if number in base:
                    try:
                        plan = session.explain(statements[number].query.sql)
                    except PlannerRejected:
                        continue
                    costs[candidate.identity][number] = plan.total_cost
        finally:
            session.discard()
    chosen: list[Candidate] = []
    for number, before in base.items():
        options = [
            (costs[c.identity][number], c)
            for c in candidates
            if number in costs.get(c.identity, {})
        ]
        if not options:
            continue
        cost, best = min(options, key=lambda item: item[0])
        if before > 0 and (before - cost) / before >= settings.per_query_bar and best not in chosen:
            chosen.append(best)
    rejected = [
        RejectedIndex(c.definition() + ";", c.table, f"saves under {settings.per_query_bar:.0%}")
        for c in candidates
        if c not in chosen
    ]
    return chosen, rejected


def _restrict_to_baseline(candidates: Sequence[Candidate]) -> list[Candidate]:
    return [
        c
        for c in candidates
        if len(c.keys) <= 2
        and c.predicate is None
        and not c.include
        and not any(k.descending for k in c.keys)
    ]


# -- sessions --------------------------------------------------------------------------------


def open_session(conn: psycopg.Connection[Any], settings: AdvisorSettings) -> PlannerSession:
    """Enter a planner session by the configured method, HypoPG first when ``auto``."""
    timeouts = {
        "statement_timeout_ms": settings.statement_timeout_ms,
        "lock_timeout_ms": settings.lock_timeout_ms,
    }
    hypopg_error = ""
    if settings.method in ("auto", "hypopg"):
        session: PlannerSession = HypoPGSession(conn, **timeouts)
        try:
            return session.__enter__()
        except WhatIfUnavailable as error:
            hypopg_error = str(error)
            if settings.method == "hypopg":
                raise
    if settings.method == "rollback" or settings.allow_rollback_indexes:
        session = RollbackSession(conn, **timeouts)
        return session.__enter__()
    raise WhatIfUnavailable(
        f"{hypopg_error}; pass --rollback-indexes to judge candidates with real indexes built "
        "inside a transaction that is rolled back (it blocks writes to those tables meanwhile)"
    )


def _cost_all(
    session: PlannerSession,
    statements: Sequence[_Statement],
    numbers: Sequence[int] | None = None,
) -> tuple[dict[int, float], dict[int, str], dict[int, float], dict[int, set[str]]]:
    costs: dict[int, float] = {}
    errors: dict[int, str] = {}
    rows: dict[int, float] = {}
    used: dict[int, set[str]] = {}
    for number in numbers if numbers is not None else range(len(statements)):
        try:
            plan = session.explain(statements[number].query.sql)
        except PlannerRejected as error:
            errors[number] = f"planner rejected it: {error}"
            continue
        costs[number] = plan.total_cost
        rows[number] = plan.rows_written()
        used[number] = plan.index_names()
    return costs, errors, rows, used


def advise(
    conn: psycopg.Connection[Any],
    schema: Schema,
    workload: Sequence[WorkloadQuery],
    settings: AdvisorSettings | None = None,
) -> AdvisorResult:
    """Recommend indexes for ``workload``; ``conn`` must be an autocommit connection."""
    settings = settings or AdvisorSettings()
    statements, skipped = prepare_workload(workload, schema)
    accepted, rejections = generate(
        [s.shape for s in statements], schema, [s.reads for s in statements]
    )
    candidates = [c for c, _ in accepted]
    if settings.strategy == "per-query":
        candidates = _restrict_to_baseline(candidates)
    rejected = [_rejected(r) for r in rejections]
    for candidate in list(candidates):
        reason = covering_rejection(candidate, schema.table(candidate.table))
        if reason is not None:
            candidates.remove(candidate)
            rejected.append(RejectedIndex(candidate.definition() + ";", candidate.table, reason))
    estimates = _estimates(candidates, schema)

    session = open_session(conn, settings)
    method = session.method
    notes: list[str] = [
        f"table {t.qualified_name} has never been analyzed: planner estimates for it are "
        "guesses (run ANALYZE first)"
        for t in schema.tables
        if t.row_estimate is None and any(t.name in s.shape.tables for s in statements)
    ]
    if isinstance(session, HypoPGSession) and session.created_extension:
        notes.append(
            "HypoPG was not installed: it was created inside this run's transaction, "
            "which was rolled back"
        )
    try:
        base, errors, rows_written, _ = _cost_all(session, statements)
        for number, reason in errors.items():
            statement = statements[number]
            skipped.append(SkippedQuery(statement.query.label, statement.query.short(), reason))
        statements = _weigh_foreign_key_checks(statements, rows_written)
        if settings.strategy == "per-query":
            chosen, not_chosen = _per_query(session, candidates, statements, base, settings)
        else:
            chosen, not_chosen = _greedy(
                session, candidates, statements, base, rows_written, settings, estimates
            )
    finally:
        session.__exit__(None, None, None)
    rejected.extend(not_chosen)
    chosen, redundant = _drop_redundant(conn, settings, statements, base, chosen)
    rejected.extend(redundant)

    final, names, used, sizes, method_sizes = _final_costs(
        conn, settings, statements, base, chosen, estimates
    )
    advice: list[IndexAdvice] = []
    total_before = sum(statements[n].weight * c for n, c in base.items())
    total_after = sum(statements[n].weight * final.get(n, c) for n, c in base.items())
    for candidate, name in zip(chosen, names, strict=True):
        numbers = [n for n in base if name in used.get(n, set())]
        effects = tuple(
            QueryEffect(
                statements[n].query.label,
                statements[n].query.short(),
                statements[n].weight,
                base[n],
                final.get(n, base[n]),
            )
            for n in numbers
        )
        if not effects:
            rejected.append(
                RejectedIndex(
                    candidate.definition() + ";",
                    candidate.table,
                    "superseded: the other recommended indexes serve its statements",
                    sizes.get(candidate.identity, (0, ""))[0] or None,
                )
            )
            continue
        saving = sum(e.calls * (e.cost_before - e.cost_after) for e in effects)
        write_cost = _write_cost(statements, candidate, rows_written, settings.write_cost_per_row)
        speedup = max(
            (e.cost_before / e.cost_after if e.cost_after > 0 else float("inf")) for e in effects
        )
        share = saving / total_before if total_before > 0 else 0.0
        high = share >= HIGH_PRIORITY_WORKLOAD_SHARE or (
            speedup >= HIGH_PRIORITY_SPEEDUP and share >= HIGH_PRIORITY_MIN_SHARE
        )
        advice.append(
            IndexAdvice(
                ddl=candidate.definition() + ";",
                table=candidate.table,
                priority="high" if high else "medium",
                est_size=sizes.get(candidate.identity, (0, ""))[0],
                queries=effects,
                reason=_advice_reason(candidate, effects, saving, total_before),
                saving=saving,
                write_cost=write_cost,
                candidate=candidate,
                planner_size=method_sizes.get(candidate.identity, 0),
                size_source=sizes.get(candidate.identity, (0, ""))[1],
            )
        )
    verification: tuple[Verification, ...] = ()
    if settings.verify:
        try:
            verification = _verify(conn, settings, schema, statements, base, final, advice)
        except psycopg.Error as error:
            # Measuring builds real indexes (in a rolled-back transaction): that needs table
            # ownership and a lock, which the planner-only advice above did not.
            notes.append(f"--verify could not measure: {first_line(error)}")
    return AdvisorResult(
        method=method,
        advice=tuple(sorted(advice, key=lambda a: (a.priority != "high", -a.saving))),
        rejected=tuple(rejected),
        skipped=tuple(skipped),
        workload_cost_before=total_before,
        workload_cost_after=total_after if advice else total_before,
        verification=verification,
        notes=tuple(notes),
    )


def _set_cost(
    conn: psycopg.Connection[Any],
    settings: AdvisorSettings,
    statements: Sequence[_Statement],
    numbers: Sequence[int],
    indexes: Sequence[Candidate],
) -> float:
    """The weighted planner cost of the statements ``numbers`` with ``indexes`` in place."""
    session = open_session(conn, settings)
    try:
        for candidate in indexes:
            session.try_index(candidate)
            session.keep()
        costs, _, _, _ = _cost_all(session, statements, numbers)
    finally:
        session.__exit__(None, None, None)
    return sum(statements[n].weight * cost for n, cost in costs.items())


def _drop_redundant(
    conn: psycopg.Connection[Any],
    settings: AdvisorSettings,
    statements: Sequence[_Statement],
    base: dict[int, float],
    chosen: Sequence[Candidate],
) -> tuple[list[Candidate], list[RejectedIndex]]:
    """Of two recommended indexes where one starts with the other's keys (a redundant index,
    DBA403, the day both exist), keep the one the planner does better with.

    Usually that is the wider one, which serves the narrower one's statements too. Not always:
    the planner scales a multi-column index's correlation by 0.75, so on a table stored in the
    order of the leading column it may cost heap visits through ``(a)`` far below those through
    ``(a, b)`` and have chosen ``(a, b)`` only for the index-only scans it adds."""
    kept = list(chosen)
    dropped: list[RejectedIndex] = []
    numbers = list(base)
    while True:
        pair = next(
            ((n, w) for n in kept for w in kept if n is not w and serves_as_prefix(w, n)), None
        )
        if pair is None:
            return kept, dropped
        narrow, wide = pair
        without_narrow = _set_cost(conn, settings, statements, numbers, _without(kept, narrow))
        without_wide = _set_cost(conn, settings, statements, numbers, _without(kept, wide))
        if without_narrow <= without_wide * (1 + NOISE):
            loser = narrow
            reason = f"the recommended {wide.name()} starts with its keys and serves its statements"
        else:
            loser = wide
            reason = (
                f"it starts with the keys of the recommended {narrow.name()}, which the "
                f"planner does better with (workload cost {without_wide:,.0f} without this "
                f"one, {without_narrow:,.0f} without {narrow.name()})"
            )
        kept.remove(loser)
        dropped.append(RejectedIndex(loser.definition() + ";", loser.table, reason))


def _without(indexes: Sequence[Candidate], unwanted: Candidate) -> list[Candidate]:
    return [c for c in indexes if c is not unwanted]


def _weigh_foreign_key_checks(
    statements: Sequence[_Statement], rows_written: dict[int, float]
) -> list[_Statement]:
    """A delete's foreign-key checks run once per deleted row."""
    weighted = []
    for number, statement in enumerate(statements):
        if statement.implicit:
            parent = next(
                (p for p in range(number - 1, -1, -1) if not statements[p].implicit), None
            )
            per_run = max(rows_written.get(parent, 1.0), 1.0) if parent is not None else 1.0
            statement = replace(statement, weight=statement.weight * per_run)
        weighted.append(statement)
    return weighted


@dataclass(frozen=True, slots=True)
class StatementPlan:
    label: str
    weight: float  # calls (a foreign-key check: times the rows its delete deletes)
    cost: float  # planner cost of one call
    plan: str  # see whatif.plan_signature


@dataclass(frozen=True, slots=True)
class WorkloadCost:
    cost: float  # frequency-weighted planner cost of the statements the planner accepted
    index_bytes: int  # size of the given indexes as the what-if method sizes them
    statements: int
    estimated_bytes: int = 0  # as the advisor weighs them (see _size)
    plans: tuple[StatementPlan, ...] = ()  # each accepted statement's cost and plan


def workload_cost(
    conn: psycopg.Connection[Any],
    schema: Schema,
    workload: Sequence[WorkloadQuery],
    indexes: Sequence[Candidate],
    settings: AdvisorSettings | None = None,
) -> WorkloadCost:
    """The workload's weighted planner cost with ``indexes`` added (what-if, rolled back)."""
    settings = settings or AdvisorSettings()
    statements, _ = prepare_workload(workload, schema)
    session = open_session(conn, settings)
    try:
        size = estimated = 0
        estimates = _estimates(indexes, schema)
        names: dict[str, str] = {}
        for candidate in indexes:
            planner_size = session.try_index(candidate)
            size += planner_size
            estimated += _size(session.method, planner_size, estimates[candidate.identity])[0]
            session.keep()
            names[session.last_index_name] = candidate.keys_text()
        costs, _, rows_written, _ = _cost_all(session, statements)
        signatures = {
            n: plan_signature(session.explain(statements[n].query.sql).root, names) for n in costs
        }
    finally:
        session.__exit__(None, None, None)
    weighted = _weigh_foreign_key_checks(statements, rows_written)
    total = sum(weighted[n].weight * cost for n, cost in costs.items())
    plans = tuple(
        StatementPlan(weighted[n].query.label, weighted[n].weight, cost, signatures[n])
        for n, cost in costs.items()
    )
    return WorkloadCost(total, size, len(costs), estimated, plans)


def _rejected(rejection: Rejection) -> RejectedIndex:
    return RejectedIndex(
        rejection.candidate.definition() + ";", rejection.candidate.table, rejection.reason
    )


def _advice_reason(
    candidate: Candidate, effects: Sequence[QueryEffect], saving: float, total: float
) -> str:
    share = saving / total if total > 0 else 0.0
    statements = "statement" if len(effects) == 1 else "statements"
    return (
        f"{candidate.origin}: {len(effects)} {statements}, "
        f"{share:.0%} of the workload's planner cost saved"
    )


def _final_costs(
    conn: psycopg.Connection[Any],
    settings: AdvisorSettings,
    statements: Sequence[_Statement],
    base: dict[int, float],
    chosen: Sequence[Candidate],
    estimates: dict[Any, int | None],
) -> tuple[
    dict[int, float],
    list[str],
    dict[int, set[str]],
    dict[Any, tuple[int, str]],
    dict[Any, int],
]:
    """Costs with the whole chosen set in place: per statement cost and index names its plan
    uses, the planner's name for each chosen candidate, each one's size (with where that
    figure comes from) and the what-if method's own figure."""
    if not chosen:
        return dict(base), [], {}, {}, {}
    session = open_session(conn, settings)
    try:
        names: list[str] = []
        sizes: dict[Any, tuple[int, str]] = {}
        method_sizes: dict[Any, int] = {}
        for candidate in chosen:
            method_sizes[candidate.identity] = session.try_index(candidate)
            sizes[candidate.identity] = _size(
                session.method, method_sizes[candidate.identity], estimates.get(candidate.identity)
            )
            session.keep()
            names.append(session.last_index_name)
        costs, _, _, used = _cost_all(session, statements, list(base))
    finally:
        session.__exit__(None, None, None)
    return costs, names, used, sizes, method_sizes


def _verify(
    conn: psycopg.Connection[Any],
    settings: AdvisorSettings,
    schema: Schema,
    statements: Sequence[_Statement],
    base: dict[int, float],
    final: dict[int, float],
    advice: Sequence[IndexAdvice],
) -> tuple[Verification, ...]:
    numbers = [n for n in base if not statements[n].implicit]
    columns = schema.columns_by_table()
    qualified = {t.name: (t.schema, t.name) for t in schema.tables}
    runs: list[tuple[str, tuple[Any, ...] | None]] = []
    sampled: dict[int, str] = {}
    unsampled: dict[int, str] = {}
    for number in numbers:
        query = statements[number].query
        params = query.params
        if (
            params is None
            and statements[number].shape.kind == "select"
            and has_parameters(query.sql)
        ):
            # pg_stat_statements and runtime events files keep no values: draw them from the
            # statistics of the columns the parameters are compared to.
            try:
                drawn = draw_samples(conn, query.sql, columns, qualified)
            except psycopg.Error as error:
                drawn = Samples(None, reason=f"cannot read pg_stats: {first_line(error)}")
            if drawn.params is None:
                unsampled[number] = f"no sample values: {drawn.reason}"
            else:
                params, sampled[number] = drawn.params, drawn.description
        runs.append((query.sql, params))
    measured = measure(
        conn,
        runs,
        [a.candidate for a in advice],
        statement_timeout_ms=settings.statement_timeout_ms,
        lock_timeout_ms=settings.lock_timeout_ms,
    )
    return tuple(
        Verification(
            statements[n].query.label,
            statements[n].query.short(),
            base[n],
            final.get(n, base[n]),
            m.before_ms,
            m.after_ms,
            unsampled.get(n, m.reason),
            sampled.get(n, ""),
        )
        for n, m in zip(numbers, measured, strict=True)
    )
