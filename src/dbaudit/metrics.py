"""Before/after metrics per operation from a runtime profile: "before" measured, "after" modelled.

Each unit of a runtime events file (a test, a request, a profiled block) measured how many
queries it sent and how long it waited on them. Its findings say which of those queries a fix
removes: a finding's evidence counts the queries it explains and their time, and its
``fixed_query_cost`` how many the fixed code sends instead (``"1"`` for an N+1, ``"3
concurrent"`` for three sequential independent queries). "After" is then modelled, not
measured (``OperationMetric.measured`` is False), at the latency those very queries showed:

- a fix that sends fewer queries (``"1"``, ``"2"``): the explained queries become the fixed
  count, each costing the mean latency of the queries it replaces. A batched query usually
  takes longer than one of the lookups it replaces, so this leans optimistic on time; the
  query count is exact for the code as fixed.
- a fix that runs queries concurrently (``"3 concurrent"``): as many queries, but each run of
  them waits about as long as one of them, so their time is divided by the run's length.

Units with no finding are left out (nothing in them changes), and of several units with the same
name the one that sent the most queries is kept. Pure: unit records in, metrics out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dbaudit.findings import Finding, OperationMetric
from dbaudit.runtime.export import UnitRecord

_LEADING_COUNT = re.compile(r"^\s*(\d+)")


@dataclass(frozen=True, slots=True)
class FixedCost:
    """What ``Finding.fixed_query_cost`` says: queries after the fix, and whether concurrent."""

    queries: int
    concurrent: bool


def parse_fixed_cost(text: str) -> FixedCost | None:
    """``"1"``, ``"3 (concurrent)"``, ``"1 (bounded page)"``; None when no count is given.

    >>> parse_fixed_cost("3 (concurrent)")
    FixedCost(queries=3, concurrent=True)
    >>> parse_fixed_cost("") is None
    True
    """
    match = _LEADING_COUNT.match(text)
    if match is None:
        return None
    return FixedCost(int(match.group(1)), "concurrent" in text)


# Static rules whose fix turns a loop's repeated statement into one batched statement.
_LOOP_RULES = frozenset({"DBA101", "DBA102", "DBA103", "DBA104"})


@dataclass(frozen=True, slots=True)
class Saving:
    """What the fix of one finding saves per call, at the queries its evidence counts.

    ``queries`` the fix removes of the ``explained`` queries the evidence counts (one loop's,
    one sequence's), ``ms`` their time at ``per_query_ms``, the mean those very queries showed.
    A concurrent fix removes none: its ``ms`` is the wait it takes off.
    """

    queries: int
    ms: float
    explained: int = 0
    per_query_ms: float = 0.0
    concurrent: bool = False


def saving(finding: Finding) -> Saving | None:
    """Queries and time the fix of ``finding`` saves, from its evidence; None if unknown."""
    evidence = finding.evidence
    fixed = parse_fixed_cost(finding.fixed_query_cost)
    if evidence is None or fixed is None or evidence.queries <= 0 or fixed.queries <= 0:
        return None
    per_query = evidence.total_ms / evidence.queries
    if fixed.concurrent:
        # each run of ``fixed.queries`` queries waits about as long as one of them; a static
        # sequence may count fewer queries than the run measured (a guard lookup before it)
        overlapped = fixed.queries * max(1, evidence.queries // fixed.queries)
        wait = per_query * overlapped * (1 - 1 / fixed.queries)
        return Saving(0, wait, overlapped, per_query, concurrent=True)
    removed = max(0, evidence.queries - queries_in_their_place(finding, fixed.queries))
    return Saving(removed, per_query * removed, evidence.queries, per_query)


def queries_in_their_place(finding: Finding, fixed_queries: int) -> int:
    """How many queries the fix sends instead of the ones ``finding``'s evidence counts.

    A runtime finding's fixed cost is for those queries (``"1"`` for an N+1 group). A static
    finding's is for its whole function (``1 + N + N·M`` -> ``3``), so it is not compared with
    one loop's measured share: a loop's queries become one batched statement, and a sequence
    of lookups becomes what the fixed function sends beyond the unit's other queries (a JOIN
    that folds three lookups into the first fetch sends nothing more for them).
    """
    evidence = finding.evidence
    explained = evidence.queries if evidence is not None else 0
    if finding.source != "static":
        return min(fixed_queries, explained)
    if finding.rule in _LOOP_RULES:
        return min(1, explained)
    total = evidence.unit_queries if evidence is not None and evidence.unit_queries else explained
    others = max(0, total - explained)
    return min(explained, max(0, fixed_queries - others))


def modelled_metrics(units: Iterable[UnitRecord]) -> tuple[OperationMetric, ...]:
    """One metric per unit whose findings a fix would change, in first-seen order."""
    worst: dict[str, UnitRecord] = {}
    for unit in units:
        seen = worst.get(unit.name)
        if seen is None or unit.queries > seen.queries:
            worst[unit.name] = unit
    metrics = []
    for unit in worst.values():
        savings = [s for s in (saving(f) for f in unit.findings) if s is not None]
        if not savings:
            continue
        saved_queries = sum(s.queries for s in savings)
        saved_ms = sum(s.ms for s in savings)
        metrics.append(
            OperationMetric(
                name=unit.name,
                queries_before=unit.queries,
                queries_after=max(0, unit.queries - saved_queries),
                ms_before=unit.db_time_ms,
                ms_after=round(max(0.0, unit.db_time_ms - saved_ms), 3),  # the file's precision
                measured=False,
            )
        )
    return tuple(metrics)
