"""One problem, shown once: static findings confirmed by runtime findings.

A runtime finding *confirms* a static finding when their rules describe the same pattern and the
runtime call chain passes through the static finding's lines (the loop, the sequence of awaits).
The static finding is kept (it has the code, the call chain and the fix written for it), gains
the runtime evidence ("confirmed at runtime: 51 queries, 412 ms") and high confidence; the runtime
duplicate is dropped. Runtime findings that confirm nothing are kept: they are what static
analysis could not see (dynamic dispatch, ORM lazy loads, SQL built at run time).

Pure: two ``Audit`` objects in, one out.
"""

from __future__ import annotations

import os
from dataclasses import replace

from dbaudit.findings import Audit, Finding, RuntimeEvidence

# runtime rule -> the static rules that describe the same problem. A runtime DBA101 is a
# repeated read, a runtime DBA103 a repeated write: a read repeated on the line of a loop's
# per-item write (a lazy load in the write's arguments) is another problem than the write.
CONFIRMS: dict[str, frozenset[str]] = {
    "DBA101": frozenset({"DBA101", "DBA102", "DBA104"}),  # N+1: a read per item
    "DBA103": frozenset({"DBA103", "DBA102"}),  # the same write once per item
    "DBA105": frozenset({"DBA105", "DBA106", "DBA107"}),  # sequential, could overlap or join
    "DBA301": frozenset({"DBA109"}),  # the same query twice
}


def merge(static: Audit, runtime: Audit) -> Audit:
    """``static`` with the runtime findings folded in (see module docstring)."""
    evidence: dict[int, list[RuntimeEvidence]] = {}
    unconfirmed: list[Finding] = []
    for observed in runtime.findings:
        matches = [i for i, f in enumerate(static.findings) if confirms(observed, f)]
        if not matches or observed.evidence is None:
            unconfirmed.append(observed)
            continue
        for index in matches:
            evidence.setdefault(index, []).append(observed.evidence)
    findings = [
        replace(f, evidence=_strongest(evidence[i]), confidence="high") if i in evidence else f
        for i, f in enumerate(static.findings)
    ]
    return Audit(
        roots=static.roots + tuple(r for r in runtime.roots if r not in static.roots),
        files=list(static.files),
        findings=findings + unconfirmed,
        good_practices=list(static.good_practices),
        skipped=list(static.skipped),
        metrics=static.metrics or runtime.metrics,
        database=static.database or runtime.database,
    )


def confirms(observed: Finding, static: Finding) -> bool:
    """True when runtime finding ``observed`` is the same problem as ``static``."""
    if static.source != "static" or static.rule not in CONFIRMS.get(observed.rule, ()):
        return False
    places = [(observed.path, observed.line)] + [
        (hop.path, hop.line) for hop in observed.call_chain
    ]
    return any(
        same_file(path, static.path) and static.line <= line <= max(static.end_line, static.line)
        for path, line in places
    )


def same_file(a: str, b: str) -> bool:
    """Paths from different working directories: equal, or one a suffix of the other."""
    a, b = os.path.normpath(a), os.path.normpath(b)
    if a == b:
        return True
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer.endswith(os.sep + shorter.lstrip(os.sep))


def _strongest(evidence: list[RuntimeEvidence]) -> RuntimeEvidence:
    return max(evidence, key=lambda e: (e.queries, e.total_ms))
