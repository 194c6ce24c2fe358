"""What the Markdown and HTML audits say beyond the findings themselves, decided once for both:
the order findings are fixed in (implementation phases), the code review checklist with what
this codebase already passes, and the conclusion's immediate actions.

Text here may hold ``code`` spans in backticks (both formats render them) and nothing else of
Markdown; each reporter adds its own emphasis and links.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from dbaudit.findings import Audit, Finding, IndexRecommendation, Severity
from dbaudit.report.common import (
    TimeSaved,
    improvement,
    is_database_finding,
    is_index_finding,
    is_server_finding,
    milliseconds,
    plural,
    rule_names,
    severity_summary,
    time_saved,
)
from dbaudit.report.regression_tests import RegressionPlan

GROUP_AT = 3  # this many database findings of one rule are one step, one table
# What a group of database findings of one rule is a count of ("8 foreign keys without an
# index"); a rule not listed reads "<n> <rule-name> findings".
GROUP_NOUNS = {
    "DBA401": ("missing index", "missing indexes"),
    "DBA402": ("foreign key without an index", "foreign keys without an index"),
    "DBA403": ("duplicate index", "duplicate indexes"),
    "DBA404": ("unused index", "unused indexes"),
    "DBA405": ("invalid index", "invalid indexes"),
    "DBA406": ("table read by sequential scans", "tables read by sequential scans"),
}


def rank(audit: Audit) -> list[Finding]:
    """Findings in the order to fix them: severity, then the time the fix saves where it was
    measured, then the queries it saves, then place."""

    def key(finding: Finding) -> tuple[int, float, int, str, int]:
        saved = time_saved(finding, audit.metrics)
        step = improvement(finding)
        fewer = step.before - step.after if step is not None else 0
        ms = saved.ms if saved is not None else 0.0
        return (-finding.severity, -ms, -fewer, finding.path, finding.line)

    return sorted(audit.findings, key=key)


def anchors(ranked: list[Finding]) -> dict[int, str]:
    """``finding-N`` per finding (by ``id``), numbered in the order of ``rank``."""
    return {id(f): f"finding-{number}" for number, f in enumerate(ranked, start=1)}


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """Database findings of one rule that a list shows as one line ("8 foreign keys without an
    index (DBA402): credit_transactions, file_storage, ..."), linked to the first of them."""

    rule: str
    findings: tuple[Finding, ...]

    @property
    def first(self) -> Finding:
        return self.findings[0]

    @property
    def label(self) -> str:
        count = len(self.findings)
        if self.rule in GROUP_NOUNS:
            one, many = GROUP_NOUNS[self.rule]
            return f"{count} {one if count == 1 else many} ({self.rule})"
        return f"{plural(count, f'{rule_names().get(self.rule, self.rule)} finding')} ({self.rule})"

    @property
    def subjects(self) -> list[str]:
        """What the findings are on (tables, databases), each once, in order."""
        return list(dict.fromkeys(subject(f) for f in self.findings))

    @property
    def severity_text(self) -> str:
        """``LOW``, or ``HIGH-MEDIUM`` for a group of mixed severity."""
        high = max(f.severity for f in self.findings)
        low = min(f.severity for f in self.findings)
        return str(high).upper() if high == low else f"{str(high).upper()}-{str(low).upper()}"

    @property
    def least_severe(self) -> Finding:
        return min(self.findings, key=lambda f: f.severity)


Listed = Finding | FindingGroup


def collapse_database(findings: list[Finding], least: int = GROUP_AT) -> list[Listed]:
    """``findings`` in order, with the database findings of a rule that has at least ``least``
    of them as one ``FindingGroup`` where the first of them was: per-table findings of one rule
    repeat the same advice, and a list of thirteen such lines hides the rest."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        if is_database_finding(finding):
            by_rule.setdefault(finding.rule, []).append(finding)
    grouped = {rule: members for rule, members in by_rule.items() if len(members) >= least}
    listed: list[Listed] = []
    for finding in findings:
        members = grouped.get(finding.rule) if is_database_finding(finding) else None
        if members is None:
            listed.append(finding)
        elif finding is members[0]:
            listed.append(FindingGroup(finding.rule, tuple(members)))
    return listed


def attention(ranked: list[Finding]) -> tuple[list[Listed], int]:
    """The executive summary's issues: every critical, high and medium finding on its own line,
    then the low and info database findings of a rule with many of them as one line each rule,
    and how many low and info findings are left for the detailed sections."""
    shown: list[Listed] = [f for f in ranked if f.severity >= Severity.MEDIUM]
    minor = collapse_database([f for f in ranked if f.severity < Severity.MEDIUM])
    groups = [item for item in minor if isinstance(item, FindingGroup)]
    single = [item for item in minor if not isinstance(item, FindingGroup)]
    if len(single) < GROUP_AT:  # a line saying "and 2 more" would be no shorter
        return [*shown, *minor], 0
    return [*shown, *groups], len(single)


# --- implementation priority -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """One step of the implementation plan."""

    title: str  # ``delete_chain``, "Create the 2 high-priority indexes"
    text: str  # what to do
    where: str = ""  # ``app/x.py:14``, DBA103
    finding: Finding | None = None
    gain: str = ""  # "saves ≈ 412 ms per call (measured)", "52 → 3 queries (estimate)"
    code: str = ""  # DDL or settings to apply
    language: str = ""


@dataclass(frozen=True, slots=True)
class Phase:
    title: str
    actions: tuple[Action, ...]


def phases(audit: Audit, tests: RegressionPlan) -> list[Phase]:
    """Phase 1 critical fixes (critical and high findings, high-priority indexes), 2 performance
    (medium findings, index health), 3 infrastructure (connection settings, medium-priority
    indexes) and minor fixes, 4 monitoring and prevention. Within a phase, findings keep the
    order of ``rank`` (severity, then measured time saved). Empty phases are left out, except
    the last."""
    ranked = rank(audit)
    code = [f for f in ranked if not is_database_finding(f) and f.rule != "DBA201"]
    connection = [f for f in ranked if is_server_finding(f) or f.rule == "DBA201"]
    health = [f for f in ranked if is_index_finding(f) and f.rule != "DBA401"]
    recommendations = audit.database.recommendations if audit.database is not None else ()
    high = [r for r in recommendations if r.priority == "high"]
    medium = [r for r in recommendations if r.priority != "high"]
    # DBA401 findings without a review to carry their DDL still get into the plan
    advice = [f for f in ranked if f.rule == "DBA401"] if not recommendations else []

    first = [_finding_action(f, audit) for f in code if f.severity >= Severity.HIGH]
    if high:  # cheap to build CONCURRENTLY, and the planner measured what each one saves
        first.append(_index_action(high, "high"))
    first += _health_actions([f for f in health if f.severity >= Severity.HIGH], audit)
    first += [_finding_action(f, audit) for f in advice if f.severity >= Severity.HIGH]
    second = [_finding_action(f, audit) for f in code if f.severity == Severity.MEDIUM]
    second += _health_actions([f for f in health if f.severity == Severity.MEDIUM], audit)
    second += [_finding_action(f, audit) for f in advice if f.severity < Severity.HIGH]
    third = [_finding_action(f, audit) for f in connection]
    if medium:
        third.append(_index_action(medium, "medium"))
    third += _health_actions([f for f in health if f.severity < Severity.MEDIUM], audit)
    third += [_finding_action(f, audit) for f in code if f.severity < Severity.MEDIUM]
    chosen = [
        Phase("Phase 1: Critical Fixes (do immediately)", tuple(first)),
        Phase("Phase 2: Performance Enhancements (this week)", tuple(second)),
        Phase("Phase 3: Infrastructure and Minor Fixes (this sprint)", tuple(third)),
    ]
    phases_ = [phase for phase in chosen if phase.actions]
    phases_.append(Phase("Phase 4: Monitoring & Prevention (ongoing)", _prevention(audit, tests)))
    return phases_


def _finding_action(finding: Finding, audit: Audit) -> Action:
    summary = finding.fix.summary if finding.fix is not None else finding.message
    code = ""
    language = ""
    if finding.fix is not None and (is_database_finding(finding) or finding.rule == "DBA201"):
        code, language = finding.fix.code, finding.fix.language
    where = finding.rule if finding.line < 1 else f"`{finding.path}:{finding.line}`, {finding.rule}"
    return Action(
        title=finding.function or subject(finding),
        text=summary,
        where=where,
        finding=finding,
        gain=gain(finding, audit),
        code=code,
        language=language,
    )


def same_rule_groups(findings: list[Finding], least: int = GROUP_AT) -> list[list[Finding]]:
    """Findings in groups of one rule, in first-seen order; a rule with fewer than ``least``
    findings gives a group per finding. Thirteen foreign keys without an index read better as
    one table and one block of DDL than as thirteen paragraphs."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    groups: list[list[Finding]] = []
    for members in by_rule.values():
        groups.extend([members] if len(members) >= least else [[m] for m in members])
    return groups


def _health_actions(findings: list[Finding], audit: Audit) -> list[Action]:
    actions = []
    for group in same_rule_groups(findings):
        if len(group) == 1:
            actions.append(_finding_action(group[0], audit))
            continue
        first = group[0]
        tables = ", ".join(dict.fromkeys(f"`{subject(f)}`" for f in group))
        summary = first.fix.summary if first.fix is not None else first.message
        name = rule_names().get(first.rule, first.rule)
        actions.append(
            Action(
                title=f"{len(group)} {name} findings",
                text=f"on {tables}; each one's fix below (the first: {summary})",
                where=first.rule,
                code="\n".join(f.fix.code for f in group if f.fix is not None and f.fix.code),
                language="sql",
            )
        )
    return actions


def subject(finding: Finding) -> str:
    """What a finding without a function is about: ``db://shop/renders`` -> ``renders``."""
    if finding.path.startswith("db://"):
        return finding.path.removeprefix("db://").split("/", 1)[-1]
    return finding.path


def subject_or_function(finding: Finding) -> str:
    """The name a list gives a finding: its function, else what it is on."""
    return finding.function or subject(finding)


def gain(finding: Finding, audit: Audit) -> str:
    """What fixing ``finding`` is worth, measured where something was measured."""
    parts = []
    step = improvement(finding)
    if step is not None and step.before > step.after:
        label = "before measured" if step.measured else "estimate"
        where = f" in {step.unit}" if step.unit else ""
        parts.append(f"{step.before:,} → {step.after:,} queries{where} ({label})")
    saved = time_saved(finding, audit.metrics)
    if saved is not None:
        parts.append(saved_text(saved))
    return "; ".join(parts)


def saved_text(saved: TimeSaved) -> str:
    """What a fix saves per call and how that was worked out: ``saves ≈ 12.6 ms of database
    time per call (9 of the 10 queries it explains, at their measured 1.40 ms each)``."""
    if saved.measured:
        return f"saves ≈ {milliseconds(saved.ms)} per call (measured)"
    if not saved.explained:
        return (
            f"saves ≈ {milliseconds(saved.ms)} per call (modelled from the measured time per query)"
        )
    each = f"{saved.per_query_ms:,.2f} ms"
    if saved.concurrent:
        return (
            f"saves ≈ {milliseconds(saved.ms)} of waiting on the database per call "
            f"({saved.explained:,} queries overlapped, waiting about as long as one of them, "
            f"at their measured {each} each)"
        )
    return (
        f"saves ≈ {milliseconds(saved.ms)} of database time per call ({saved.removed:,} of the "
        f"{saved.explained:,} queries it explains removed, at their measured {each} each)"
    )


def _index_action(recommendations: list[IndexRecommendation], priority: str) -> Action:
    tables = ", ".join(dict.fromkeys(f"`{r.table}`" for r in recommendations))
    if len(recommendations) == 1:
        title = f"Create the {priority}-priority index"
    else:
        title = f"Create the {len(recommendations)} {priority}-priority indexes"
    return Action(
        title=title,
        text=f"on {tables}, judged by the PostgreSQL planner against the workload",
        code="\n".join(_statement(r.ddl) for r in recommendations),
        language="sql",
    )


def _statement(ddl: str) -> str:
    text = ddl.strip()
    return text if text.endswith(";") else text + ";"


def _prevention(audit: Audit, tests: RegressionPlan) -> tuple[Action, ...]:
    roots = " ".join(audit.roots) or "."
    actions = []
    if tests.tests:
        actions.append(
            Action(
                title="Add the regression tests",
                text=f"the {plural(len(tests.tests), 'test')} of the Testing Strategy pin the "
                "query count of each fixed operation",
            )
        )
    actions.append(
        Action(
            title="Gate pull requests with `dbaudit check`",
            text="it fails on findings the baseline does not accept (accept today's with "
            "`--write-baseline` once, then burn them down)",
            code=f"dbaudit check {roots} --baseline .dbaudit-baseline.json",
            language="bash",
        )
    )
    actions.append(
        Action(
            title="Profile the test suite with `pytest --dbaudit`",
            text="a test that runs an N+1 fails; `--dbaudit-json FILE` writes every query event "
            "and finding (`dbaudit report FILE` renders them)",
        )
    )
    if audit.database is not None and audit.database.source == "live":
        actions.append(
            Action(
                title="Review the database on a schedule",
                text="run the live review weekly against a production replica with "
                "`pg_stat_statements`, so the advice follows the real workload",
                code='dbaudit indexes --db "$DATABASE_URL" --fail-on high',
                language="bash",
            )
        )
    else:
        actions.append(
            Action(
                title="Review the live database",
                text="index advice checked by the planner, index health and connection "
                "settings need a database",
                code=f"dbaudit audit {roots} --db postgresql://USER@HOST/DB -o audit.md",
                language="bash",
            )
        )
    return tuple(actions)


# --- code review checklist -------------------------------------------------------------------

Evidence = Literal["code", "practice", "database", "live", "none"]
State = Literal["pass", "open", "unverified"]


@dataclass(frozen=True, slots=True)
class CheckItem:
    """One checklist line: the rules whose findings make it open, and what shows it passes."""

    text: str
    rules: tuple[str, ...] = ()
    practices: tuple[str, ...] = ()  # good-practice kinds that show the code does it
    # what lets dbaudit tick it: "code" no finding in code with database operations; "practice"
    # a recognised good practice; "database" a schema review (live or from the models);
    # "live" the live review; "none" dbaudit cannot tell
    evidence: Evidence = "code"
    unverified: str = ""  # why it stays unticked without findings, for "none"


CHECKLIST: tuple[tuple[str, tuple[CheckItem, ...]], ...] = (
    (
        "Database Operations",
        (
            CheckItem(
                "No queries inside loops, directly or through helpers (batch with `IN`/`ANY`)",
                ("DBA101", "DBA102"),
                ("batched IN",),
            ),
            CheckItem(
                "Related rows are loaded eagerly (`selectinload`/`joinedload`, `select_related`/"
                "`prefetch_related`, `include`/`with`) before a loop touches a relationship",
                ("DBA104",),
                ("eager loading",),
            ),
            CheckItem(
                "Writes of many rows are one statement (`UPDATE ... WHERE id IN (...)`, a "
                "multi-row `INSERT`, `executemany`)",
                ("DBA103",),
                ("bulk write", "chunked batching"),
            ),
            CheckItem(
                "Independent queries run concurrently (`asyncio.gather`, `Promise.all`), each on "
                "its own session or pool connection",
                ("DBA105",),
                ("concurrent awaits",),
            ),
            CheckItem(
                "Related data comes from one query with JOINs, not a lookup per foreign key",
                ("DBA106", "DBA107"),
                ("joined lookup",),
            ),
            CheckItem(
                "Counts and sums are computed in SQL (`COUNT`, `SUM`, `GROUP BY`), not by "
                "fetching rows",
                ("DBA108",),
                ("aggregation",),
            ),
            CheckItem(
                "Top-N per group uses a window function (`ROW_NUMBER() OVER (PARTITION BY ...)`)",
                (),
                ("window function",),
                evidence="practice",
            ),
            CheckItem(
                "A query whose answer is already known is not sent again",
                ("DBA109", "DBA301"),
            ),
            CheckItem("Lists that serve a request have a `LIMIT` (pagination)", ("DBA110",)),
        ),
    ),
    (
        "Indexes",
        (
            CheckItem(
                "Every filtered, joined or sorted column has a suitable index (checked by the "
                "planner)",
                ("DBA401", "DBA406"),
                evidence="live",
            ),
            CheckItem(
                "Foreign keys have an index on their referencing columns",
                ("DBA402",),
                evidence="database",
            ),
            CheckItem(
                "No duplicate, unused or invalid indexes",
                ("DBA403", "DBA404", "DBA405"),
                evidence="live",
            ),
        ),
    ),
    (
        "Connections",
        (
            CheckItem(
                "Engines and pools set their size, checkout timeout, recycling, pre-ping and a "
                "statement timeout",
                ("DBA201",),
                evidence="none",
                unverified="no pool flagged, but dbaudit cannot tell whether this code creates one",
            ),
            CheckItem(
                "The server sets `statement_timeout` and `idle_in_transaction_session_timeout`",
                ("DBA501", "DBA502", "DBA505"),
                evidence="live",
            ),
            CheckItem(
                "Connections stay well below `max_connections`",
                ("DBA503", "DBA504"),
                evidence="live",
            ),
        ),
    ),
    (
        "Prevention",
        (
            CheckItem(
                "Query counts are pinned in tests (`assert_max_queries`, "
                "`@pytest.mark.max_queries`, a query counter in Vitest)",
                evidence="none",
                unverified="the tests of the Testing Strategy do this",
            ),
            CheckItem(
                "`dbaudit check` runs in CI with a baseline",
                evidence="none",
                unverified="see Phase 4 of the Implementation Priority",
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    item: CheckItem
    state: State
    note: str  # why it passes, or why it could not be checked
    findings: tuple[Finding, ...] = ()


def checklist(audit: Audit) -> list[tuple[str, list[CheckResult]]]:
    """Each checklist section with every item passed, open (with its findings) or unverified."""
    practices = Counter(p.kind for p in audit.good_practices)
    has_queries = bool(audit.good_practices) or any(
        not is_database_finding(f) for f in audit.findings
    )
    files = len(audit.files)
    return [
        (title, [_check(item, audit, practices, has_queries, files) for item in items])
        for title, items in CHECKLIST
    ]


def _check(
    item: CheckItem, audit: Audit, practices: Counter[str], has_queries: bool, files: int
) -> CheckResult:
    found = tuple(f for f in rank(audit) if f.rule in item.rules)
    if found:
        return CheckResult(item, "open", "", found)
    seen = ", ".join(
        f"{plural(practices[kind], kind + ' operation')}"
        for kind in item.practices
        if practices[kind]
    )
    rules = " or ".join(item.rules)
    review = audit.database
    if item.evidence == "practice":
        if seen:
            return CheckResult(item, "pass", seen)
        return CheckResult(item, "unverified", "no such query recognised")
    if item.evidence == "code":
        if not has_queries:
            return CheckResult(item, "unverified", "no database operation recognised")
        note = f"no {rules} finding in {plural(files, 'file')}"
        return CheckResult(item, "pass", f"{note}; {seen}" if seen else note)
    if item.evidence == "database":
        if review is None:
            return CheckResult(item, "unverified", "needs a schema review (`--db URL`)")
        return CheckResult(item, "pass", f"no {rules} finding in the {review.source} schema review")
    if item.evidence == "live":
        if review is None or review.source != "live":
            return CheckResult(item, "unverified", "needs the live database review (`--db URL`)")
        return CheckResult(item, "pass", f"no {rules} finding in the live review")
    return CheckResult(item, "unverified", item.unverified)


# --- conclusion ------------------------------------------------------------------------------


def summary(audit: Audit) -> str:
    """The conclusion's summary paragraph: what was audited and found, and what the database
    review recommends."""
    code = [f for f in audit.findings if not is_database_finding(f)]
    files = len({f.path for f in code})
    lines = sum(f.lines for f in audit.files)
    text = f"dbaudit audited {plural(len(audit.files), 'file')} ({plural(lines, 'line')}). "
    if code:
        text += (
            f"It found {plural(len(code), 'problem')} in the code "
            f"({severity_summary(code)}) in {plural(files, 'file')}"
        )
    else:
        text += "It found no problem in the code"
    if audit.good_practices:
        kinds = Counter(p.kind for p in audit.good_practices)
        listed = ", ".join(kind for kind, _ in kinds.most_common(3))
        count = len(audit.good_practices)
        verb = "follows" if count == 1 else "follow"
        text += f"; {plural(count, 'operation')} already {verb} good practice ({listed})"
    text += "."
    review = audit.database
    if review is not None and review.source == "live":
        text += (
            f" The live review of `{review.database}` recommends "
            f"{plural(len(review.recommendations), 'index', 'indexes')}"
        )
        if review.workload_cost_before > 0 and review.recommendations:
            before, after = review.workload_cost_before, review.workload_cost_after
            lower = round(100 * (before - after) / before)
            text += f", which cut the workload's planner cost by {lower}%"
        database = [f for f in audit.findings if is_database_finding(f) and f.rule != "DBA401"]
        text += f", and has {plural(len(database), 'further finding')} on indexes and connections."
    elif review is not None:
        text += " The schema came from the models: no database was asked."
    else:
        text += " No database was reviewed."
    return text


def immediate_actions(phases_: list[Phase], limit: int = 6) -> list[Action]:
    """The first steps: the work of the phases in order (minor findings left out), then the
    first prevention step."""
    work = [action for phase in phases_[:-1] for action in phase.actions]
    urgent = [a for a in work if a.finding is None or a.finding.severity >= Severity.MEDIUM]
    chosen: list[Action] = []
    operations: set[tuple[str, str]] = set()
    for action in urgent:
        finding = action.finding
        if finding is not None and finding.function:
            operation = (finding.path, finding.function)
            if operation in operations:
                continue  # one step per function: its fix covers all its findings
            operations.add(operation)
        chosen.append(action)
    chosen = chosen[: limit - 1]
    chosen.extend(phases_[-1].actions[:1])
    return chosen
