"""Small pieces every reporter shares: counts, query-cost arithmetic, evidence wording, which
files were analyzed, which findings belong to the database review, what measured metrics say."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from dbaudit.findings import Audit, Finding, OperationMetric, Severity, SkippedFile
from dbaudit.metrics import saving
from dbaudit.sizes import human_bytes as human_bytes  # re-exported for the reporters

# Where a cost has a loop size in it ("1 + N"), estimates use this many items per loop, the size
# of the reference app's heavy user (50 projects, a chain of 50 renders).
ASSUMED_LOOP_SIZE = 50

SEVERITIES_DESC: tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))

_PARENTHESES = re.compile(r"\([^)]*\)")
_TERM_SPLIT = re.compile(r"\s*\+\s*")
_FACTOR_SPLIT = re.compile(r"\s*(?:\*|\u00b7|\u00d7|\u22c5)\s*")  # star, middle dot, times, dot op
_NUMBER = re.compile(r"\d+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a cost may already name its unit and say more after it: "1 query for N keys"
_NOUN = re.compile(r"\b(?:quer(?:y|ies)|statements?|round trips?)\b", re.IGNORECASE)


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in SEVERITIES_DESC}


def severity_summary(findings: Iterable[Finding]) -> str:
    """``1 critical, 2 high`` (severities with no finding left out); ``none`` when empty."""
    parts = [f"{n} {s}" for s, n in severity_counts(findings).items() if n]
    return ", ".join(parts) if parts else "none"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def evaluate_cost(expression: str, size: int = ASSUMED_LOOP_SIZE) -> int | None:
    """Queries a cost expression stands for when every loop runs ``size`` times.

    >>> evaluate_cost("1 + N"), evaluate_cost("1 + N + N·M", 10), evaluate_cost("≤ 4 (sequential)")
    (51, 111, 4)
    >>> evaluate_cost("unknown") is None
    True
    """
    text = _PARENTHESES.sub("", expression)
    noun = _NOUN.search(text)
    if noun is not None:
        text = text[: noun.start()]
    text = text.replace("≤", "").replace("<=", "").strip()
    text = text.replace("~", "").replace("up to", "").strip()
    if not text:
        return None
    total = 0
    for term in _TERM_SPLIT.split(text):
        product = 1
        factors = _FACTOR_SPLIT.split(term.strip())
        for factor in factors:
            if _NUMBER.fullmatch(factor):
                product *= int(factor)
            elif _NAME.fullmatch(factor) and len(factor) <= 2:
                product *= size
            else:
                return None
        total += product
    return total


def has_loop_size(expression: str) -> bool:
    """Whether a cost depends on a loop's size (``1 + N``), not only on constants."""
    text = _PARENTHESES.sub("", expression)
    noun = _NOUN.search(text)
    return bool(_NAME.search(text if noun is None else text[: noun.start()]))


@dataclass(frozen=True, slots=True)
class Improvement:
    before: int
    after: int
    measured: bool  # runtime evidence supplied ``before``; otherwise both are estimates
    # where ``before`` is a measured unit's total: its name and how many of its queries the
    # finding itself explains (one loop's share), so the wording says what was compared
    unit: str = ""
    explained: int = 0

    @property
    def percent_fewer(self) -> int:
        if self.before <= 0:
            return 0
        # rounded down, so 5,271 -> 24 reads "99% fewer", never an impossible 100%
        return (100 * (self.before - self.after)) // self.before


def improvement(finding: Finding) -> Improvement | None:
    after = evaluate_cost(finding.fixed_query_cost) if finding.fixed_query_cost else None
    if after is None:
        return None
    evidence = finding.evidence
    if evidence is not None and evidence.queries > 0:
        if finding.source == "static" and evidence.unit_queries >= evidence.queries > 0:
            # a static fixed cost is the whole function's: compare it with the whole unit
            if is_concurrent_fix(finding):
                after = evidence.unit_queries  # the same queries, overlapped: none removed
            return Improvement(evidence.unit_queries, after, True, evidence.unit, evidence.queries)
        return Improvement(evidence.queries, after, measured=True)
    before = evaluate_cost(finding.query_cost) if finding.query_cost else None
    if before is None:
        return None
    return Improvement(before, after, measured=False)


def total_improvement(findings: Iterable[Finding]) -> Improvement | None:
    """Queries of all flagged operations before and after their fixes, summed.

    Findings in one function describe the same operation's cost, so each function counts once
    (its costliest finding); findings whose fix does not change the count are left out.
    """
    per_operation: dict[tuple[str, str], Improvement] = {}
    for finding in findings:
        step = improvement(finding)
        if step is None or step.before <= step.after:
            continue
        operation = (finding.path, finding.function or str(finding.line))
        known = per_operation.get(operation)
        if known is None or step.before > known.before:
            per_operation[operation] = step
    if not per_operation:
        return None
    steps = per_operation.values()
    return Improvement(
        before=sum(s.before for s in steps),
        after=sum(s.after for s in steps),
        measured=all(s.measured for s in steps),
    )


def queries(cost: str) -> str:
    """``1 query``, ``1 + N queries``, ``4 queries (sequential)``.

    >>> queries("1"), queries("≤ 4 (sequential)"), queries("1 query for N keys")
    ('1 query', '≤ 4 queries (sequential)', '1 query for N keys')
    """
    cost = cost.strip()
    if _NOUN.search(cost):
        return cost
    head, paren, tail = cost.partition("(")
    noun = "query" if head.strip() == "1" else "queries"
    return f"{head.strip()} {noun}" + (f" ({tail}" if paren else "")


def is_concurrent_fix(finding: Finding) -> bool:
    """The fix runs the same queries concurrently (``"4 (concurrent)"``): it removes none."""
    return "concurrent" in finding.fixed_query_cost


def evidence_text(finding: Finding) -> str:
    """``confirmed at runtime: 10 queries here (14 ms in the database) of the 61 (57 ms)
    get_chains ran``; without the unit's totals, ``confirmed at runtime: 10 queries (14 ms in
    the database) in get_chains``. A finding only the profile made was *seen* at runtime: there
    was no static finding to confirm. Empty without evidence."""
    evidence = finding.evidence
    if evidence is None:
        return ""
    how = "seen" if finding.source == "runtime" else "confirmed"
    count = plural(evidence.queries, "query", "queries")
    if evidence.unit_queries > evidence.queries:
        of = f" of the {evidence.unit_queries:,} ({evidence.unit_ms:,.0f} ms)"
        ran = f" {evidence.unit} ran" if evidence.unit else " the unit ran"
        return (
            f"{how} at runtime: {count} here ({evidence.total_ms:,.0f} ms in the database)"
            + of
            + ran
        )
    text = f"{how} at runtime: {count} ({evidence.total_ms:,.0f} ms in the database)"
    if evidence.unit:
        text += f" in {evidence.unit}"
    return text


def where_explained(finding: Finding) -> str:
    """Where the queries a finding's evidence counts were: ``at this loop``, ``in this
    sequence``."""
    if finding.rule in {"DBA101", "DBA102", "DBA103", "DBA104"}:
        return "at this loop"
    return "in this sequence"


def before_text(finding: Finding) -> str:
    """The measured "before" of a finding: ``61 queries measured in get_chains (10 of them at
    this loop)``; ``10 queries measured`` when the unit's total is not known."""
    evidence = finding.evidence
    if evidence is None:
        return queries(finding.query_cost) if finding.query_cost else ""
    if finding.source != "static" or evidence.unit_queries < evidence.queries:
        return plural(evidence.queries, "query", "queries") + " measured"
    text = plural(evidence.unit_queries, "query", "queries") + " measured"
    if evidence.unit:
        text += f" in {evidence.unit}"
    if evidence.queries < evidence.unit_queries:
        text += f" ({evidence.queries:,} of them {where_explained(finding)})"
    return text


def after_text(finding: Finding, metrics: Iterable[OperationMetric] = ()) -> str:
    """The "after" of a finding, said for what it counts: ``3 queries for the whole
    function``, ``5 queries, the 4 independent ones concurrent``; with ``; the optimized
    implementation measured 1`` when a measured after of the same operation differs."""
    if not finding.fixed_query_cost:
        return ""
    text = queries(finding.fixed_query_cost)
    step = improvement(finding)
    concurrent = is_concurrent_fix(finding)
    if step is not None and step.unit:
        if concurrent:
            independent = evaluate_cost(finding.fixed_query_cost) or 0
            text = (
                f"{plural(step.after, 'query', 'queries')}, the {independent:,} independent ones"
                " concurrent,"
            )
        else:
            text += " for the whole function"
    after = measured_after(finding, metrics)
    if after is not None and step is not None and after.queries_after != step.after:
        text += " with the fix shown; the optimized implementation measured "
        text += f"{after.queries_after:,}"
    return text


def current_text(finding: Finding) -> str:
    """``Current Queries`` of a finding; a sequence the fix overlaps says which of the queries
    measured it counts: ``4 independent queries (sequential) of the 5 measured in stats``."""
    text = queries(finding.query_cost)
    evidence = finding.evidence
    count = evaluate_cost(finding.query_cost)
    if (
        evidence is None
        or not is_concurrent_fix(finding)
        or count is None
        or evidence.unit_queries <= count
    ):
        return text
    where = f" in {evidence.unit}" if evidence.unit else ""
    return (
        f"{count:,} independent queries (sequential) of the {evidence.unit_queries:,} "
        f"measured{where}"
    )


def measured_after(finding: Finding, metrics: Iterable[OperationMetric]) -> OperationMetric | None:
    """The measured before/after of the operation ``finding`` is in: the metric named after
    its evidence's unit, else after its function (``delete_chain``); None if none was measured
    on both sides."""
    names = [finding.function.rsplit(".", 1)[-1]]
    if finding.evidence is not None and finding.evidence.unit:
        names.insert(0, finding.evidence.unit)
    for name in names:
        for metric in metrics:
            if name and metric.measured and metric.name == name:
                return metric
    return None


def is_estimate(audit: Audit) -> bool:
    """Numbers are estimates unless every finding carries a runtime measurement."""
    return not audit.findings or any(f.evidence is None for f in audit.findings)


# The live review's rules (dbaudit.indexes, dbaudit.connections) are not in the static rule
# registry; their short names, for reports.
LIVE_RULE_NAMES: dict[str, str] = {
    "DBA401": "missing-index",
    "DBA402": "foreign-key-without-index",
    "DBA403": "duplicate-index",
    "DBA404": "unused-index",
    "DBA405": "invalid-index",
    "DBA406": "sequential-scan-heavy-table",
    "DBA501": "no-statement-timeout",
    "DBA502": "no-idle-in-transaction-timeout",
    "DBA503": "connections-near-max",
    "DBA504": "pools-exceed-max-connections",
    "DBA505": "sessions-idle-in-transaction",
}
# The runtime detectors' rules that have no static twin.
RUNTIME_RULE_NAMES: dict[str, str] = {
    "DBA301": "duplicate-query",
    "DBA302": "slow-query",
}


def rule_names() -> dict[str, str]:
    """Rule code -> short name: the static registry, the runtime detectors and the live review."""
    from dbaudit.rules.registry import REGISTRY

    names = {code: rule.name for code, rule in REGISTRY.items()}
    return {**LIVE_RULE_NAMES, **RUNTIME_RULE_NAMES, **names}


def is_index_finding(finding: Finding) -> bool:
    """DBA401..DBA406: index advice and index health (live, or from the models' schema)."""
    return finding.rule.startswith("DBA40")


def is_server_finding(finding: Finding) -> bool:
    """DBA501..DBA505: the live review of the server's connection settings and sessions."""
    return finding.rule.startswith("DBA50")


def is_database_finding(finding: Finding) -> bool:
    """A finding about the database rather than a line of code: reports put it in the indexing
    or the connection review, not under a file."""
    return (
        is_index_finding(finding) or is_server_finding(finding) or finding.path.startswith("db://")
    )


def not_analyzed(audit: Audit) -> list[SkippedFile]:
    """Files left out of the analysis. A file analyzed only in part (TypeScript syntax errors in
    one region) is also among ``audit.files``: it was audited, so it is not counted here."""
    audited = {f.path for f in audit.files}
    return [s for s in audit.skipped if s.path not in audited]


def analyzed_partly(audit: Audit) -> list[SkippedFile]:
    """Files audited as far as their syntax allowed: listed with the reason, counted as audited."""
    audited = {f.path for f in audit.files}
    return [s for s in audit.skipped if s.path in audited]


_LANGUAGE_BY_SUFFIX = {
    ".ts": "typescript",
    ".tsx": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
}


def language_of(path: str) -> str:
    """``python``, ``typescript`` or ``javascript`` from a file's suffix (Python otherwise).

    >>> language_of("lib/dal/renders.ts"), language_of("app/x.py"), language_of("a/b.mjs")
    ('typescript', 'python', 'javascript')
    """
    suffix = path[path.rfind(".") :].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _LANGUAGE_BY_SUFFIX.get(suffix, "python")


@dataclass(frozen=True, slots=True)
class TimeSaved:
    ms: float  # per call
    measured: bool  # both sides measured; False when "after" is modelled
    # modelled from a finding's evidence: the queries the fix removes of the ones it explains,
    # at their measured mean time (``concurrent``: none removed, the wait overlapped)
    removed: int = 0
    explained: int = 0
    per_query_ms: float = 0.0
    concurrent: bool = False


def time_saved(finding: Finding, metrics: Iterable[OperationMetric] = ()) -> TimeSaved | None:
    """Milliseconds per call the fix saves, where something was measured.

    From the finding's runtime evidence (``metrics.saving``: the queries its fix removes of the
    ones it explains, at their measured time per query: modelled), else from an operation
    metric named after the finding's function (``delete_chain`` for
    ``services.chains.delete_chain``). None when nothing was measured.
    """
    modelled = saving(finding)
    if modelled is not None and modelled.ms > 0:
        return TimeSaved(
            modelled.ms,
            False,
            modelled.queries,
            modelled.explained,
            modelled.per_query_ms,
            modelled.concurrent,
        )
    name = finding.function.rsplit(".", 1)[-1]
    for metric in metrics:
        if name and metric.name == name and metric.ms_before > metric.ms_after:
            return TimeSaved(metric.ms_before - metric.ms_after, metric.measured)
    return None


def timing_label(metrics: Iterable[OperationMetric]) -> str:
    """What the metrics' milliseconds are, in words a reader can trust.

    >>> timing_label([OperationMetric("a", 5, 1, 9.0, 2.0, timed="call")])
    'time per call, application code and network included'
    >>> timing_label([OperationMetric("a", 5, 1, 9.0, 2.0, timed="database")])
    'time in the database'
    """
    kinds = {m.timed for m in metrics}
    if kinds == {"database"}:
        return "time in the database"
    if kinds == {"call"}:
        return "time per call, application code and network included"
    return "time per operation"


def metrics_basis(metrics: Iterable[OperationMetric]) -> str:
    """``measured``, ``modelled`` or ``partly modelled``: how "after" came about."""
    flags = {m.measured for m in metrics}
    if flags == {True}:
        return "measured"
    if flags == {False}:
        return "modelled"
    return "partly modelled"


@dataclass(frozen=True, slots=True)
class MetricTotals:
    operations: int
    queries_before: int
    queries_after: int
    ms_before: float
    ms_after: float

    @property
    def percent_fewer_queries(self) -> int:
        if self.queries_before <= 0:
            return 0
        return (100 * (self.queries_before - self.queries_after)) // self.queries_before

    @property
    def percent_faster(self) -> int:
        if self.ms_before <= 0:
            return 0
        return round(100 * (self.ms_before - self.ms_after) / self.ms_before)


def metric_totals(metrics: Iterable[OperationMetric]) -> MetricTotals:
    chosen = list(metrics)
    return MetricTotals(
        operations=len(chosen),
        queries_before=sum(m.queries_before for m in chosen),
        queries_after=sum(m.queries_after for m in chosen),
        ms_before=sum(m.ms_before for m in chosen),
        ms_after=sum(m.ms_after for m in chosen),
    )


def percent_change(before: float, after: float) -> str:
    """``94% faster``, ``12% slower``, ``no change``.

    >>> percent_change(247.2, 15.4), percent_change(10, 11.2), percent_change(0, 0)
    ('94% faster', '12% slower', 'no change')
    """
    if before <= 0 or round(100 * (before - after) / before) == 0:
        return "no change"
    share = round(100 * (before - after) / before)
    return f"{share}% faster" if share > 0 else f"{-share}% slower"


def milliseconds(value: float) -> str:
    """``247 ms``, ``15.4 ms``, ``0.42 ms``: as many digits as the size deserves.

    >>> milliseconds(247.22), milliseconds(15.36), milliseconds(0.4213)
    ('247 ms', '15.4 ms', '0.42 ms')
    """
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def location(finding: Finding) -> str:
    return f"{finding.path}:{finding.line}:{finding.col + 1}"


def line_range(line: int, end_line: int) -> str:
    return f"line {line}" if end_line <= line else f"lines {line}-{end_line}"
