"""The rule table: code -> Rule. Codes are never reused; a retired rule keeps its row.

``dbaudit rules`` lists this table and ``dbaudit rule ID`` prints a rule's docstring, which has
fixed headings (What it does / Why is this bad? / Example / Use instead / References).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from dbaudit.findings import Finding, Severity
from dbaudit.rules import (
    dba101_query_in_loop,
    dba102_query_in_loop_through_helpers,
    dba103_per_item_writes,
    dba104_lazy_load_in_loop,
    dba105_sequential_independent_awaits,
    dba106_dependent_lookups,
    dba107_combinable_queries,
    dba108_rows_fetched_to_count,
    dba109_query_answer_already_known,
    dba110_unbounded_list_query,
    dba201_engine_pool_settings,
)

if TYPE_CHECKING:
    from dbaudit.analysis.program import Program

Status = Literal["stable", "preview", "deprecated", "removed"]
Check = Callable[["Program"], Iterator[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity  # the default; a finding may be raised (e.g. nested loops) or lowered
    status: Status
    check: Check
    doc: str
    category: str = "queries"


def _rule(module: ModuleType, severity: Severity, status: Status = "stable") -> Rule:
    code = module.CODE
    doc = (module.__doc__ or "").strip()
    return Rule(code, module.NAME, severity, status, module.check, doc, module.CATEGORY)


RULES: tuple[Rule, ...] = (
    _rule(dba101_query_in_loop, Severity.HIGH),
    _rule(dba102_query_in_loop_through_helpers, Severity.HIGH),
    _rule(dba103_per_item_writes, Severity.HIGH),
    _rule(dba104_lazy_load_in_loop, Severity.HIGH),
    _rule(dba105_sequential_independent_awaits, Severity.MEDIUM),
    _rule(dba106_dependent_lookups, Severity.MEDIUM),
    _rule(dba107_combinable_queries, Severity.LOW),
    _rule(dba108_rows_fetched_to_count, Severity.MEDIUM),
    _rule(dba109_query_answer_already_known, Severity.LOW),
    _rule(dba110_unbounded_list_query, Severity.INFO),
    _rule(dba201_engine_pool_settings, Severity.MEDIUM),
)

REGISTRY: dict[str, Rule] = {rule.code: rule for rule in RULES}


def get_rule(code: str) -> Rule | None:
    return REGISTRY.get(code.strip().upper())
