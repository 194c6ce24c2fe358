"""Whole-program analysis: call graph, query-cost model, data dependencies, and the rule run.

``analyze(modules)`` is the entry point the driver calls with every parsed file's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dbaudit.analysis.cost import Cost
from dbaudit.analysis.program import Program, Reach, is_one_off_module, one_off_functions
from dbaudit.findings import Finding, GoodPractice
from dbaudit.model import ModuleModel

__all__ = ["AnalysisResult", "Cost", "Program", "Reach", "analyze"]


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    findings: list[Finding] = field(default_factory=list)
    good_practices: list[GoodPractice] = field(default_factory=list)


def analyze(
    modules: Sequence[ModuleModel], *, select: Sequence[str] | None = None
) -> AnalysisResult:
    """Run every rule of the registry (or those in ``select``) over the whole tree."""
    from dbaudit.analysis.good_practices import good_practices
    from dbaudit.rules.registry import RULES

    program = Program(sorted(modules, key=lambda m: m.path))
    findings: list[Finding] = []
    chosen = {code.upper() for code in select} if select else None
    for rule in RULES:
        if rule.status == "removed" or (chosen is not None and rule.code not in chosen):
            continue
        findings.extend(rule.check(program))
    one_off = {m.path for m in program.modules if is_one_off_module(m)}
    reached_from_one_off = {
        (ref.module.path, ref.function.qualname)
        for ref in map(program.graph.functions.__getitem__, one_off_functions(program, one_off))
    }
    findings = [
        _one_off(f) if f.path in one_off or (f.path, f.function) in reached_from_one_off else f
        for f in _deduplicate(findings)
    ]
    findings.sort(key=lambda f: (f.path, f.line, f.col, f.rule))
    practices = sorted(good_practices(program), key=lambda p: (p.path, p.line, p.kind))
    return AnalysisResult(findings, practices)


def _one_off(finding: Finding) -> Finding:
    """Tests and migrations run once, not per request: their findings are advisory."""
    return finding.advisory(ONE_OFF_NOTE)


ONE_OFF_NOTE = (
    "Reported as info: this is test, migration or management-command code (or only they call "
    "it), which runs once, not per request."
)


def _deduplicate(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int, int]] = set()
    unique = []
    for finding in findings:
        key = (finding.rule, finding.path, finding.line, finding.col)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique
