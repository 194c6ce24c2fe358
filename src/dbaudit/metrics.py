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


@dataclass(frozen=True, slots=True)
class Saving:
    queries: int
    ms: float


def saving(finding: Finding) -> Saving | None:
    """Queries and time the fix of ``finding`` saves, from its evidence; None if unknown."""
    evidence = finding.evidence
    fixed = parse_fixed_cost(finding.fixed_query_cost)
    if evidence is None or fixed is None or evidence.queries <= 0 or fixed.queries <= 0:
        return None
    if fixed.concurrent:
        # each run of ``fixed.queries`` queries waits about as long as one of them
        return Saving(0, evidence.total_ms - evidence.total_ms / fixed.queries)
    removed = max(0, evidence.queries - fixed.queries)
    return Saving(removed, evidence.total_ms * removed / evidence.queries)


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
