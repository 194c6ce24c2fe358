"""Runtime detectors: pure functions from one unit's ``QueryEvent``s to ``Finding``s.

Recording is separate from judging (STYLE.md section 5): nothing here touches a database, a frame
or a clock. The detectors run once per unit, in order, and each claims the queries it explains so
that one problem is reported once (an N+1 loop is not also a run of "sequential" queries):

1. **N+1** (DBA101, the static rule ID of "query in a loop"): the same SELECT fingerprint from
   one place (the same loop, or the same chain of application frames; see
   :func:`repetition_groups`), at least ``n_plus_one_threshold`` times with at least two
   different parameter sets. When the SQLAlchemy ORM said the statements lazily loaded a
   relationship or a deferred/expired column (``QueryEvent.relationship``), the finding names
   it ("Project.renders lazy-loaded for 50 projects"), suggests the loader option, and two
   loads are enough (``lazy_load_threshold``).
   **Per-item writes** (DBA103): the same INSERT, UPDATE or DELETE repeated the same way; one
   multi-row statement or one ``executemany`` would do.
2. **Duplicate queries** (DBA301): the same fingerprint with the same parameters, repeated.
3. **Sequential independent queries** (DBA105): consecutive SELECTs in one asyncio task where no
   query's parameters can have come from another's result (see :func:`ready_levels`: parameter
   values are traced to the task's inputs or to earlier results, which the asyncpg adapters
   see; a value of unknown origin counts as dependent, so this detector errs towards silence).
   The saving reported is what overlapping the run would have saved: the sum of durations minus
   the longest.
4. **Slow queries** (DBA302): any execution at or over ``slow_query_ms``.

Statements whose normalised SQL matches an ``ignore_sql`` pattern are treated like queries run
inside ``dbaudit.ignore()``: counted, never judged. Findings matching an ``allow`` pattern
(fnmatch, against the explanation (which quotes the normalised SQL), ``path:line``, the path or
the function) are moved to ``suppressed`` with the pattern as their reason.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from dbaudit.findings import CallHop, Finding, Fix, RuntimeEvidence, Severity
from dbaudit.runtime.events import CallSite, QueryEvent, result_hashes

N_PLUS_ONE = "DBA101"
PER_ITEM_WRITES = "DBA103"
SEQUENTIAL = "DBA105"
DUPLICATE = "DBA301"
SLOW = "DBA302"
RULES = (N_PLUS_ONE, PER_ITEM_WRITES, SEQUENTIAL, DUPLICATE, SLOW)

_JUDGED_KINDS = frozenset({"select", "insert", "update", "delete"})


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Thresholds for one unit. Every field is validated: a bad value is a clear ``ValueError``."""

    n_plus_one_threshold: int = 3
    lazy_load_threshold: int = 2  # ORM-labelled lazy loads: the N+1 shape from two parents on
    duplicate_threshold: int = 2
    sequential_min_queries: int = 2
    sequential_min_saving_ms: float = 0.0
    slow_query_ms: float = 100.0
    max_events: int = 10_000
    allow: tuple[str, ...] = field(default=())
    ignore_sql: tuple[str, ...] = field(default=())  # fnmatch on the normalised SQL

    def __post_init__(self) -> None:
        thresholds = (
            "n_plus_one_threshold",
            "lazy_load_threshold",
            "duplicate_threshold",
            "sequential_min_queries",
        )
        for name in thresholds:
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2, got {getattr(self, name)}")
        if self.slow_query_ms <= 0 or self.sequential_min_saving_ms < 0:
            raise ValueError("slow_query_ms must be > 0 and sequential_min_saving_ms >= 0")
        if self.max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {self.max_events}")
        for kind, patterns in (("allow", self.allow), ("ignore_sql", self.ignore_sql)):
            for pattern in patterns:
                if not isinstance(pattern, str) or not pattern.strip():
                    raise ValueError(f"{kind} patterns must be non-empty strings, got {pattern!r}")


@dataclass(frozen=True, slots=True)
class Suppressed:
    finding: Finding
    reason: str


@dataclass(frozen=True, slots=True)
class Detection:
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...] = ()
    claimed: frozenset[int] = frozenset()  # seq of every event some finding explains


# (index of the loop's frame in the stack, the loop's first line) or None: see runtime/loops.py
LocateLoop = Callable[[tuple[CallSite, ...]], "tuple[int, int] | None"]


def detect(
    events: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str = "",
    locate_loop: LocateLoop | None = None,
) -> Detection:
    """Run every detector over one unit's events (in the order they were recorded).

    ``locate_loop`` (``dbaudit.runtime.loops.loop_frame`` in a live unit) says which frame of a
    call chain is the loop, so an N+1 finding points at the loop; without it, at the query.
    """
    judged = [e for e in events if not e.ignored and e.error is None]
    if config.ignore_sql:
        judged = _without_ignored_sql(judged, config.ignore_sql)
    claimed: set[int] = set()
    findings: list[Finding] = []
    for finding, explained in find_n_plus_one(judged, config, unit, locate_loop):
        findings.append(finding)
        claimed.update(explained)
    remaining = [e for e in judged if e.seq not in claimed]
    for finding, explained in find_duplicates(remaining, config, unit):
        findings.append(finding)
        claimed.update(explained)
    findings.extend(find_sequential(judged, config, unit, claimed))
    findings.extend(find_slow(judged, config, unit))
    findings = with_unit_totals(findings, len(events), _total_ms(events))
    kept, suppressed = _apply_allowlist(findings, config.allow)
    return Detection(tuple(kept), tuple(suppressed), frozenset(claimed))


def with_unit_totals(findings: Iterable[Finding], queries: int, ms: float) -> list[Finding]:
    """``findings`` with their evidence carrying the whole unit's queries and time: a report
    compares the function's measured total with its fixed total, not one loop's share with it."""
    return [
        replace(f, evidence=replace(f.evidence, unit_queries=queries, unit_ms=round(ms, 3)))
        if f.evidence is not None
        else f
        for f in findings
    ]


def find_n_plus_one(
    events: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str = "",
    locate_loop: LocateLoop | None = None,
) -> Iterable[tuple[Finding, set[int]]]:
    """Repeated statements from one place: reads are N+1 (DBA101), writes are per-item writes
    (DBA103). See :func:`repetition_groups` for what "one place" means."""
    for group in repetition_groups(events, locate_loop):
        first = group.events[0]
        distinct_params = len({e.param_hashes for e in group.events})
        load = orm_load(group.events)
        threshold = config.n_plus_one_threshold
        if load is not None:  # the ORM said so: already the N+1 shape at two parents
            threshold = min(threshold, config.lazy_load_threshold)
        if len(group.events) < threshold or distinct_params < 2:
            continue  # the same parameters every time is a duplicate, not a loop over keys
        if first.fingerprint.kind == "select":
            finding = _n_plus_one_finding(group, distinct_params, load, unit)
        else:
            finding = _per_item_writes_finding(group, distinct_params, unit)
        yield finding, {e.seq for e in group.events}


@dataclass(frozen=True, slots=True)
class RepetitionGroup:
    """Executions of one statement from one place; ``loop_at`` indexes the loop frame in the
    first event's stack (0, the query itself, when no loop was located)."""

    events: list[QueryEvent]
    loop_at: int
    query_sites: tuple[CallSite, ...]  # where the statement was issued, one per distinct path


def repetition_groups(
    events: Sequence[QueryEvent], locate_loop: LocateLoop | None = None
) -> list[RepetitionGroup]:
    """Group single-statement reads and writes by fingerprint and place.

    The place is first the exact chain of frames, compared by value (two chains that merely
    hash alike are never merged), so two loops calling one helper are two groups. Chains that
    reach the same statement under one loop (the same loop frame, whose first line
    ``locate_loop`` gives, and the same frames outside it) through different helpers are then
    one group, when each of them repeated and their executions interleave: one loop calling
    ``load_a(p)`` or ``load_b(p)`` per item. Three different lines that each ran a lookup once,
    under a loop far outside (a test runner's), are no loop over keys and stay apart.
    """
    numbers = _StackNumbers()
    by_stack: dict[tuple[str, int], list[QueryEvent]] = {}
    for event in events:
        fp = event.fingerprint
        if fp.kind in _JUDGED_KINDS and not event.many:
            key = (fp.digest, numbers(event.stack))
            group = by_stack.get(key)
            if group is None:
                by_stack[key] = [event]
            else:
                group.append(event)
    under_loop: dict[tuple[object, ...], list[tuple[list[QueryEvent], int]]] = defaultdict(list)
    groups: list[RepetitionGroup] = []
    for (digest, _), group in by_stack.items():
        stack = group[0].stack
        loop = locate_loop(stack) if locate_loop is not None and stack else None
        if loop is None:
            groups.append(RepetitionGroup(group, 0, stack[:1]))
            continue
        loop_at, header = loop
        site = stack[loop_at]
        place = (digest, site.path, site.function, header, numbers(stack[loop_at + 1 :]))
        under_loop[place].append((group, loop_at))
    for members in under_loop.values():
        groups.extend(_merge_interleaved(members))
    groups.sort(key=lambda g: g.events[0].seq)
    return groups


def _merge_interleaved(members: list[tuple[list[QueryEvent], int]]) -> list[RepetitionGroup]:
    """One group per cluster of repeated, interleaving chains under one loop; the others
    alone. ``members`` are (events in order, loop frame index) per chain."""
    members.sort(key=lambda member: member[0][0].seq)
    clusters: list[tuple[list[list[QueryEvent]], int, int]] = []  # (chains, loop_at, last seq)
    for chain_events, loop_at in members:
        first, last = chain_events[0].seq, chain_events[-1].seq
        if clusters and len(chain_events) > 1:
            chains, cluster_loop_at, cluster_last = clusters[-1]
            if len(chains[0]) > 1 and first < cluster_last:
                chains.append(chain_events)
                clusters[-1] = (chains, cluster_loop_at, max(cluster_last, last))
                continue
        clusters.append(([chain_events], loop_at, last))
    groups = []
    for chains, loop_at, _ in clusters:
        merged = sorted((e for chain in chains for e in chain), key=lambda e: e.seq)
        sites = tuple(dict.fromkeys(chain[0].stack[0] for chain in chains))
        groups.append(RepetitionGroup(merged, loop_at, sites))
    return groups


def orm_load(events: Sequence[QueryEvent]) -> OrmLoad | None:
    """What the ORM lazily loaded for every event of a group (None unless they all agree)."""
    label = events[0].relationship if len(events[0]) > _RELATIONSHIP_FIELD else None
    if label is None or any(e.relationship != label for e in events):
        return None
    return OrmLoad.parse(label)


_RELATIONSHIP_FIELD = QueryEvent._fields.index("relationship")


@dataclass(frozen=True, slots=True)
class OrmLoad:
    """A label of ``capture/sqlalchemy_orm.py`` read back: ``"Project.renders"`` (a collection),
    ``"Render.project (many-to-one)"``, ``"Project.description (deferred)"``, ``"Project
    (expired)"``.

    >>> OrmLoad.parse("Project.renders").fix_code
    'select(Project).options(selectinload(Project.renders))'
    >>> OrmLoad.parse("Render.project (many-to-one)").fix_code
    'select(Render).options(joinedload(Render.project))'
    """

    attribute: str  # "Project.renders", "Project.description, Project.notes", "Project"
    kind: str  # "collection", "many-to-one", "one-to-one", "deferred", "expired"

    @classmethod
    def parse(cls, label: str) -> OrmLoad:
        attribute, _, kind = label.partition(" (")
        return cls(attribute, kind.rstrip(")") or "collection")

    @property
    def owner(self) -> str:
        return self.attribute.split(".", 1)[0]

    @property
    def is_column(self) -> bool:
        return self.kind in ("deferred", "expired")

    @property
    def fix_code(self) -> str:
        if self.kind == "expired":
            return "Session(engine, expire_on_commit=False)  # or reload the rows in one query"
        if self.kind == "deferred":
            columns = ", ".join(self.attribute.split(", "))
            return f"select({self.owner}).options(undefer({columns}))"
        loader = "selectinload" if self.kind == "collection" else "joinedload"
        return f"select({self.owner}).options({loader}({self.attribute}))"


def _n_plus_one_finding(
    group: RepetitionGroup, distinct_params: int, load: OrmLoad | None, unit: str
) -> Finding:
    events = group.events
    first = events[0]
    total_ms = _total_ms(events)
    text = first.fingerprint.text
    via = ""
    if group.loop_at:
        via = " through " + " and ".join(
            f"{site.function} ({site.path}:{site.line})" for site in group.query_sites
        )
    stats = f"{len(events)} queries, {total_ms:.1f} ms"
    if load is None:
        message = (
            f"N+1: the same query ran {len(events)} times from one call site "
            f"({distinct_params} different parameter sets, {total_ms:.1f} ms)"
        )
        problem = (
            f"Each iteration of the loop sends its own round trip{via}: `{text}`. The cost "
            "grows with the number of rows the loop walks over."
        )
        fix = Fix(
            summary=(
                "Fetch all keys in one query (or eager-load the relationship) before the "
                "loop, then group the rows in Python."
            ),
            code=suggest_batch(text),
            language="sql",
        )
    elif load.is_column:
        what = f"expired {load.owner} attributes" if load.kind == "expired" else load.attribute
        message = (
            f"N+1: {what} reloaded for {distinct_params} {plural(load.owner, distinct_params)} "
            f"one by one ({stats})"
        )
        cause = (
            "were expired (by a commit or expire()) and each object reloads them on access"
            if load.kind == "expired"
            else "is deferred and each object loads it on first access"
        )
        problem = f"{load.attribute} {cause}{via}: `{text}`."
        fix = Fix(
            summary=(
                "Keep the loaded values across the commit (expire_on_commit=False) or reload "
                "all rows in one query."
                if load.kind == "expired"
                else "Load the column with the query that loads the objects (undefer)."
            ),
            code=load.fix_code,
        )
    else:
        message = (
            f"N+1: {load.attribute} lazy-loaded for {distinct_params} "
            f"{plural(load.owner, distinct_params)} ({stats})"
        )
        problem = (
            f"{load.attribute} was not loaded with the {load.owner} query, so each "
            f"{load.owner} loads it on first access{via}: `{text}`."
        )
        how = (
            "selectinload: one more query for all of them"
            if load.kind == "collection"
            else "joinedload: the same query"
        )
        fix = Fix(
            summary=f"Load {load.attribute} with the {load.owner} query ({how}).",
            code=load.fix_code,
        )
    return _finding(
        rule=N_PLUS_ONE,
        at=group.loop_at,
        severity=Severity.HIGH if len(events) >= 10 else Severity.MEDIUM,
        message=message,
        stack=first.stack,
        extra_sites=group.query_sites[1:],
        problem=problem,
        fix=fix,
        evidence=RuntimeEvidence(len(events), round(total_ms, 3), unit, first.fingerprint.digest),
        query_cost=str(len(events)),
        fixed_query_cost="2" if load is not None and load.kind == "collection" else "1",
        confidence="high" if first.stack else "low",
    )


def _per_item_writes_finding(group: RepetitionGroup, distinct_params: int, unit: str) -> Finding:
    events = group.events
    first = events[0]
    total_ms = _total_ms(events)
    text = first.fingerprint.text
    statement = first.fingerprint.kind.upper()
    batch = suggest_batch(text)
    return _finding(
        rule=PER_ITEM_WRITES,
        at=group.loop_at,
        severity=Severity.HIGH if len(events) >= 10 else Severity.MEDIUM,
        message=(
            f"Row-by-row writes: the same {statement} ran {len(events)} times from one call "
            f"site ({distinct_params} different parameter sets, {total_ms:.1f} ms)"
        ),
        stack=first.stack,
        extra_sites=group.query_sites[1:],
        problem=(
            f"Each row is written with its own round trip: `{text}`. One statement (or one "
            "executemany) would write them all."
        ),
        fix=Fix(
            summary=(
                "Write all rows at once: cursor.executemany / session.execute(insert(Model), "
                "rows) / update(Model).where(Model.id.in_(ids)), in one transaction."
            ),
            code=batch,
            language="sql" if batch else "python",
        ),
        evidence=RuntimeEvidence(len(events), round(total_ms, 3), unit, first.fingerprint.digest),
        query_cost=str(len(events)),
        fixed_query_cost="1",
        confidence="high" if first.stack else "low",
    )


def plural(noun: str, count: int) -> str:
    """``plural("Project", 50)`` is ``"projects"``: lower case, an English plural.

    >>> [plural(n, 2) for n in ("Project", "Category", "Address", "Day")]
    ['projects', 'categories', 'addresses', 'days']
    """
    word = noun.lower()
    if count == 1:
        return word
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def find_duplicates(
    events: Sequence[QueryEvent], config: DetectConfig, unit: str = ""
) -> Iterable[tuple[Finding, set[int]]]:
    groups: dict[tuple[str, int | None], list[QueryEvent]] = defaultdict(list)
    for event in events:
        if event.fingerprint.kind in _JUDGED_KINDS and not event.many:
            groups[(event.fingerprint.digest, event.params_key)].append(event)
    for group in groups.values():
        if len(group) < config.duplicate_threshold:
            continue
        first = group[0]
        total_ms = _total_ms(group)
        sites = list(dict.fromkeys(e.call_site for e in group if e.call_site is not None))
        finding = _finding(
            rule=DUPLICATE,
            severity=Severity.MEDIUM if len(group) >= 5 else Severity.LOW,
            message=(
                f"Duplicate query: the same statement with the same parameters ran "
                f"{len(group)} times ({total_ms:.1f} ms)"
            ),
            stack=first.stack,
            extra_sites=sites[1:],
            problem=(
                f"`{first.fingerprint.text}` returned the same rows {len(group) - 1} more "
                f"time(s) than needed, from {len(sites) or 'an unknown number of'} call site(s)."
            ),
            fix=Fix(
                summary="Run it once and pass the result along (or cache it for the unit of work)."
            ),
            evidence=RuntimeEvidence(
                len(group), round(total_ms, 3), unit, first.fingerprint.digest
            ),
            query_cost=str(len(group)),
            fixed_query_cost="1",
            confidence="high",
        )
        yield finding, {e.seq for e in group}


def find_sequential(
    events: Sequence[QueryEvent],
    config: DetectConfig,
    unit: str = "",
    claimed: frozenset[int] | set[int] = frozenset(),
) -> list[Finding]:
    by_task: dict[int, list[QueryEvent]] = defaultdict(list)
    for event in events:
        if event.task_id is not None:
            by_task[event.task_id].append(event)
    runs: dict[tuple[tuple[CallSite, ...], ...], list[list[QueryEvent]]] = defaultdict(list)
    for task_events in by_task.values():
        eligible = sum(
            1
            for e in task_events
            if e.fingerprint.kind == "select" and not e.many and e.seq not in claimed
        )
        if eligible < config.sequential_min_queries:
            continue  # no run possible: skip the dependency analysis (an N+1 claimed them all)
        for run in independent_runs(sorted(task_events, key=lambda e: e.started), claimed):
            if len(run) < config.sequential_min_queries:
                continue
            if _saving_ms(run) < config.sequential_min_saving_ms:
                continue
            runs[tuple(e.stack for e in run)].append(run)
    findings = []
    for occurrences in runs.values():
        first_run = occurrences[0]
        queries = sum(len(run) for run in occurrences)
        total_ms = sum(_total_ms(run) for run in occurrences)
        saving_ms = sum(_saving_ms(run) for run in occurrences)
        sites = sequence_sites(first_run)
        times = f" ({len(occurrences)} times)" if len(occurrences) > 1 else ""
        findings.append(
            _finding(
                rule=SEQUENTIAL,
                severity=Severity.MEDIUM,
                message=(
                    f"{len(first_run)} independent queries ran one after another in one task"
                    f"{times}; running them concurrently would save {saving_ms:.1f} ms "
                    f"of {total_ms:.1f} ms"
                ),
                stack=first_run[0].stack,
                extra_sites=sites,
                problem=(
                    "None of these queries uses a value returned by the others, yet each waited "
                    "for the previous one: "
                    + "; ".join(f"`{e.fingerprint.text}`" for e in first_run)
                ),
                fix=Fix(
                    summary=(
                        "Run them with asyncio.gather, each on its own connection or session "
                        "(one AsyncSession cannot run two queries at once), or join them."
                    ),
                    code="results = await asyncio.gather(query_a(), query_b())",
                    language="python",
                ),
                evidence=RuntimeEvidence(
                    queries, round(total_ms, 3), unit, first_run[0].fingerprint.digest
                ),
                query_cost=f"{len(first_run)} sequential",
                fixed_query_cost=f"{len(first_run)} concurrent",
                confidence="medium",
            )
        )
    return findings


def sequence_sites(run: Sequence[QueryEvent]) -> list[CallSite]:
    """Where each later query of a run was awaited, in the function that awaited them all: the
    first frame (from the outside in) where its stack leaves the first query's stack. That is
    the line a reader fixes (and the one the static rule points at), not the DAL line."""
    first = run[0].stack[::-1]
    sites: list[CallSite] = []
    for event in run[1:]:
        stack = event.stack[::-1]
        depth = 0
        while depth < min(len(stack), len(first)) and stack[depth] == first[depth]:
            depth += 1
        if depth < len(stack):
            sites.append(stack[depth])
    return list(dict.fromkeys(sites))


def independent_runs(
    task_events: Sequence[QueryEvent], claimed: frozenset[int] | set[int] = frozenset()
) -> list[list[QueryEvent]]:
    """Split one task's events (in start order) into runs of consecutive, mutually independent
    SELECTs: consecutive queries at the same :func:`ready_levels` level. Claimed events (an N+1
    loop) and writes take part in the dependency levels but never in a run."""
    levels = ready_levels(task_events)
    runs: list[list[QueryEvent]] = []
    run: list[QueryEvent] = []
    run_level = -1
    for event, level in zip(task_events, levels, strict=True):
        eligible = (
            event.fingerprint.kind == "select" and not event.many and event.seq not in claimed
        )
        if eligible and run and level == run_level:
            run.append(event)
            continue
        runs.append(run)
        run, run_level = ([event], level) if eligible else ([], -1)
    runs.append(run)
    return [r for r in runs if r]


def ready_levels(task_events: Sequence[QueryEvent]) -> list[int]:
    """For each query, the earliest "round" it could have started in: 0 for queries needing only
    the task's inputs, one more than the query whose result a parameter came from, and no earlier
    than the round after any write before it (reads after a write may read what it wrote).

    A parameter value is *known* from the earliest query that used it as a parameter, and
    *produced* by the earliest query whose (seen) result holds it. A multi-valued parameter set
    (an ``IN`` list) wholly contained in an earlier result is taken from the latest such result,
    even when small integers also happen to be known. A value of unknown origin while some
    result was not seen is assumed to come from the previous query: the detector errs towards
    silence.
    """
    levels: list[int] = []
    known: dict[int, int] = {}
    producers = _Producers(task_events, levels)
    barrier = 0
    all_results_seen = True
    for index, event in enumerate(task_events):
        ready = barrier
        values = event.param_hashes
        source = _single_source(task_events, levels, index, values)
        if source is not None:
            ready = max(ready, levels[source] + 1)
        else:
            for value in values:
                origin = known.get(value)
                if origin is None:  # results are hashed only when a value is not a known input
                    origin = producers.round_after(value, index)
                if origin is not None:
                    ready = max(ready, origin)
                elif index and not all_results_seen:
                    ready = max(ready, levels[index - 1] + 1)
        levels.append(ready)
        for value in values:
            known.setdefault(value, ready)
        if event.result_hashes is None:
            all_results_seen = False
        if event.fingerprint.kind != "select" or event.many:
            barrier = ready + 1
    return levels


class _Producers:
    """value -> the round after the earliest query whose result holds it, indexed lazily: the
    results of a unit are hashed (at C speed, once) only when some parameter value is not one
    of the task's known inputs."""

    __slots__ = ("_events", "_indexed", "_levels", "_rounds")

    def __init__(self, events: Sequence[QueryEvent], levels: list[int]) -> None:
        self._events = events
        self._levels = levels
        self._rounds: dict[int, int] = {}
        self._indexed = 0

    def round_after(self, value: int, index: int) -> int | None:
        rounds = self._rounds
        while self._indexed < index:
            results = result_hashes(self._events[self._indexed].result_hashes)
            if results:
                new = results - rounds.keys()
                rounds.update(dict.fromkeys(new, self._levels[self._indexed] + 1))
            self._indexed += 1
        return rounds.get(value)


_SOURCE_LOOKBACK = 50


def _single_source(
    events: Sequence[QueryEvent], levels: list[int], index: int, values: tuple[int, ...]
) -> int | None:
    wanted = set(values)
    if len(wanted) < 2:
        return None
    # The latest such result: small integers are in many results, and the latest is the
    # conservative choice (a later round, so less concurrency claimed).
    for earlier in range(index - 1, max(-1, index - 1 - _SOURCE_LOOKBACK), -1):
        results = result_hashes(events[earlier].result_hashes)
        if results is not None and wanted <= results:
            return earlier
    return None


def find_slow(events: Sequence[QueryEvent], config: DetectConfig, unit: str = "") -> list[Finding]:
    threshold_s = config.slow_query_ms / 1000
    groups: dict[str, list[QueryEvent]] = defaultdict(list)
    for event in events:
        if event.duration >= threshold_s:
            groups[event.fingerprint.digest].append(event)
    findings = []
    for group in groups.values():
        slowest = max(group, key=lambda e: e.duration)
        slowest_ms = slowest.duration * 1000
        total_ms = _total_ms(group)
        findings.append(
            _finding(
                rule=SLOW,
                severity=Severity.HIGH if slowest_ms >= 1000 else Severity.MEDIUM,
                message=(
                    f"Slow query: {slowest_ms:.1f} ms (threshold {config.slow_query_ms:g} ms)"
                    + (f", {len(group)} slow executions" if len(group) > 1 else "")
                ),
                stack=slowest.stack,
                problem=f"`{slowest.fingerprint.text}` took {slowest_ms:.1f} ms.",
                fix=Fix(
                    summary=(
                        "Look at its plan (dbaudit.runtime.explain, EXPLAIN without ANALYZE for "
                        "writes) for a sequential scan or a sort that an index would remove."
                    )
                ),
                evidence=RuntimeEvidence(
                    len(group), round(total_ms, 3), unit, slowest.fingerprint.digest
                ),
                confidence="high",
            )
        )
    return findings


_EQUALS_PARAM = re.compile(
    r"((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)\s*=\s*(\?|CAST\(\? AS [\w ]+\))"
)


def suggest_batch(text: str) -> str:
    """The one query that replaces a loop of ``text`` (a normalised statement).

    >>> suggest_batch("SELECT * FROM renders WHERE renders.chain_id = ? ORDER BY renders.id")
    'SELECT * FROM renders WHERE renders.chain_id IN (?) ORDER BY renders.id'
    >>> suggest_batch("INSERT INTO t (a) VALUES (?)")
    'INSERT INTO t (a) VALUES (?), (?), ... -- one statement for all rows'
    """
    if text.upper().startswith("INSERT"):
        return _batch_insert(text)
    head, separator, tail = text.partition(" WHERE ")
    if not separator:
        return ""
    matches = _EQUALS_PARAM.findall(tail)
    if len(matches) != 1:
        return ""  # zero or several keys: no single obvious batch column
    key = matches[0][0]
    batched = _EQUALS_PARAM.sub(lambda m: f"{m.group(1)} IN (?)", tail, count=1)
    suggestion = f"{head}{separator}{batched}"
    if " LIMIT " in suggestion:  # a per-key limit does not survive batching as is
        suggestion += f" -- per key: ROW_NUMBER() OVER (PARTITION BY {key}) <= the limit"
    return suggestion


def _batch_insert(text: str) -> str:
    values = text.rfind("VALUES (")
    row_end = text.find(")", values)
    if values < 0 or row_end < 0:
        return ""
    return f"{text[: row_end + 1]}, (?), ... -- one statement for all rows"


def _finding(
    *,
    rule: str,
    severity: Severity,
    message: str,
    stack: tuple[CallSite, ...],
    problem: str,
    fix: Fix,
    evidence: RuntimeEvidence,
    confidence: str,
    query_cost: str = "",
    fixed_query_cost: str = "",
    extra_sites: Sequence[CallSite] = (),
    at: int = 0,
) -> Finding:
    site = stack[at] if stack else CallSite("<unknown>", 0, "")
    hops = [CallHop(s.path, s.line, s.function) for s in reversed(stack)]
    hops += [CallHop(s.path, s.line, s.function, "also from here") for s in extra_sites]
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        path=site.path,
        line=site.line,
        end_line=site.line,
        function=site.function,
        query_cost=query_cost,
        fixed_query_cost=fixed_query_cost,
        call_chain=tuple(hops),
        fix=fix,
        confidence=confidence,  # type: ignore[arg-type]
        source="runtime",
        problem=problem,
        evidence=evidence,
    )


def _apply_allowlist(
    findings: list[Finding], patterns: tuple[str, ...]
) -> tuple[list[Finding], list[Suppressed]]:
    if not patterns:
        return findings, []
    kept, suppressed = [], []
    for finding in findings:
        subjects = (
            finding.problem,
            f"{finding.path}:{finding.line}",
            finding.path,
            finding.function,
        )
        pattern = next((p for p in patterns if any(fnmatchcase(s, p) for s in subjects)), None)
        if pattern is None:
            kept.append(finding)
        else:
            suppressed.append(Suppressed(finding, f"allowed by pattern {pattern!r}"))
    return kept, suppressed


class _StackNumbers:
    """A small number per distinct stack *value*, for grouping keys.

    Capture hands out one shared tuple per call chain, and hashing a tuple of dataclasses field
    by field, per event, was the detectors' main cost: each tuple object is looked up by
    ``id()`` and hashed (and compared, so equal hashes of different chains stay apart) once.
    """

    __slots__ = ("_by_id", "_by_value")

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[tuple[CallSite, ...], int]] = {}
        self._by_value: dict[tuple[CallSite, ...], int] = {}

    def __call__(self, stack: tuple[CallSite, ...]) -> int:
        known = self._by_id.get(id(stack))
        if known is None:
            number = self._by_value.setdefault(stack, len(self._by_value))
            known = self._by_id[id(stack)] = (stack, number)  # keeps ``stack`` alive
        return known[1]


def _without_ignored_sql(events: list[QueryEvent], patterns: tuple[str, ...]) -> list[QueryEvent]:
    verdicts: dict[str, bool] = {}  # per fingerprint: a unit has few distinct statements
    kept = []
    for event in events:
        fp = event.fingerprint
        ignored = verdicts.get(fp.digest)
        if ignored is None:
            text = fp.text.lower()
            ignored = verdicts[fp.digest] = any(fnmatchcase(text, p.lower()) for p in patterns)
        if not ignored:
            kept.append(event)
    return kept


def _total_ms(events: Iterable[QueryEvent]) -> float:
    return sum(e.duration for e in events) * 1000


def _saving_ms(run: Sequence[QueryEvent]) -> float:
    return (sum(e.duration for e in run) - max(e.duration for e in run)) * 1000
