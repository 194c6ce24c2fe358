"""Small pieces every reporter shares: counts, query-cost arithmetic, evidence wording."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from dbaudit.findings import Audit, Finding, RuntimeEvidence, Severity

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
    if finding.evidence is not None and finding.evidence.queries > 0:
        return Improvement(finding.evidence.queries, after, measured=True)
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


def evidence_text(evidence: RuntimeEvidence) -> str:
    text = f"confirmed at runtime: {plural(evidence.queries, 'query', 'queries')}"
    text += f", {evidence.total_ms:,.0f} ms"
    if evidence.unit:
        text += f" in {evidence.unit}"
    return text


def is_estimate(audit: Audit) -> bool:
    """Numbers are estimates unless every finding carries a runtime measurement."""
    return not audit.findings or any(f.evidence is None for f in audit.findings)


def rule_names() -> dict[str, str]:
    """Rule code -> short name, from the registry."""
    from dbaudit.rules.registry import REGISTRY

    return {code: rule.name for code, rule in REGISTRY.items()}


def one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def location(finding: Finding) -> str:
    return f"{finding.path}:{finding.line}:{finding.col + 1}"


def line_range(line: int, end_line: int) -> str:
    return f"line {line}" if end_line <= line else f"lines {line}-{end_line}"
