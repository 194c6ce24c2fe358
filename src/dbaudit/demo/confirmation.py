"""Confirm the static audit at runtime: the naive app's operations run under dbaudit's profiler.

After the measured before/after runs, ``dbaudit demo`` calls every operation of the reference
app's naive variant once more, each in its own ``dbaudit.runtime.profile`` unit, on the naive
database and over an engine of its own (not the measured one, and not behind the delay proxy:
the profiler's overhead never reaches the before/after table). The runtime findings are folded
into the static audit with :func:`dbaudit.runtime.merge.merge`: a static finding the profiler saw
is kept once, marked confirmed with the measured queries and time; a runtime finding no static
finding explains is kept as runtime-only. Every static finding left unconfirmed carries the
reason why (no runtime detector looks for its pattern, or the operations did not trigger it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbaudit.findings import Audit, CallHop, Finding
from dbaudit.runtime import Unit, instrument, profile, uninstrument
from dbaudit.runtime.export import UnitRecord, finding_to_dict, to_audit
from dbaudit.runtime.merge import CONFIRMS, merge

# static rules some runtime detector can confirm (DBA102 through a DBA101 N+1, ...)
CONFIRMABLE = frozenset().union(*CONFIRMS.values())
NO_DETECTOR = "no runtime detector looks for this pattern"
NOT_TRIGGERED = "the reference operations did not run into it"


@dataclass(frozen=True, slots=True)
class ProfiledOperation:
    """One operation as the profiler saw it, next to what the operations table states."""

    name: str
    queries: int
    expected_queries: int  # the naive round trips of ``operations.OPERATIONS``
    db_time_ms: float
    findings: int


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    finding: Finding
    reason: str


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The static audit with the runtime folded in, and what the folding came to."""

    audit: Audit
    operations: tuple[ProfiledOperation, ...]
    confirmed: tuple[Finding, ...]  # static findings now carrying runtime evidence
    unconfirmed: tuple[Unconfirmed, ...]
    runtime_only: tuple[Finding, ...]

    @property
    def static_findings(self) -> int:
        return len(self.confirmed) + len(self.unconfirmed)


async def profile_naive_operations(url: str, dataset: Any) -> list[Unit]:
    """Run each operation of the naive variant once in its own unit, named after the operation.

    ``url`` is the libpq URL of the naive database ``datagen.generate`` loaded with ``dataset``;
    a writing operation's own ``restore`` puts its rows back afterwards.
    """
    from dbaudit.reference.render_platform import naive
    from dbaudit.reference.render_platform.operations import OPERATIONS

    engine = naive.create_engine(url)
    # SQLAlchemy's first connection asks the server its version, schema and settings; those
    # statements are the driver's, not the first operation's, so they are sent before profiling.
    async with engine.connect():
        pass
    instrument(engine)
    units: list[Unit] = []
    try:
        app = naive.RenderPlatform(engine)
        for operation in OPERATIONS:
            async with profile(operation.name) as unit:
                await operation.call(app, dataset)
            units.append(unit)
            if operation.restore is not None:
                await operation.restore(url, dataset)
    finally:
        uninstrument(engine)
        await engine.dispose()
    return units


def profiled_operations(units: Sequence[Unit]) -> tuple[ProfiledOperation, ...]:
    from dbaudit.reference.render_platform.operations import OPERATIONS

    expected = {operation.name: operation.naive_round_trips for operation in OPERATIONS}
    return tuple(
        ProfiledOperation(
            name=unit.name,
            queries=unit.query_count,
            expected_queries=expected.get(unit.name, 0),
            db_time_ms=unit.db_time_ms,
            findings=len(unit.findings),
        )
        for unit in units
    )


def runtime_audit(units: Sequence[Unit], root: Path) -> Audit:
    """The units' findings as one ``Audit`` (``export.to_audit``), with paths under ``root``
    shown relative to it, as the static audit shows them."""
    records = [
        UnitRecord(
            name=unit.name,
            queries=unit.query_count,
            db_time_ms=unit.db_time_ms,
            events=(),
            findings=tuple(_relative(finding, root) for finding in unit.findings),
            suppressed=unit.detection.suppressed,
        )
        for unit in units
    ]
    return to_audit(records)


def _relative(finding: Finding, root: Path) -> Finding:
    return replace(
        finding,
        path=relative_path(finding.path, root),
        call_chain=tuple(
            CallHop(relative_path(hop.path, root), hop.line, hop.function, hop.detail)
            for hop in finding.call_chain
        ),
    )


def relative_path(path: str, root: Path) -> str:
    """``path`` relative to ``root`` when it lies under it (the profiler records call sites
    relative to the working directory, or absolute outside it); otherwise as it was."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return path


def confirm(static: Audit, units: Sequence[Unit], root: Path) -> Confirmation:
    """Fold the profiled units into ``static``; ``root`` is the folder the static paths are
    relative to (the one holding ``render_platform``)."""
    merged = merge(static, runtime_audit(units, root))
    confirmed = tuple(f for f in merged.findings if f.source == "static" and f.evidence)
    unconfirmed = tuple(
        Unconfirmed(f, NOT_TRIGGERED if f.rule in CONFIRMABLE else NO_DETECTOR)
        for f in merged.findings
        if f.source == "static" and f.evidence is None
    )
    runtime_only = tuple(f for f in merged.findings if f.source == "runtime")
    return Confirmation(merged, profiled_operations(units), confirmed, unconfirmed, runtime_only)


def _plural(count: int, word: str, many: str = "") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


def _place(finding: Finding, inside: str) -> str:
    end = f"-{finding.end_line}" if finding.end_line > finding.line else ""
    return f"{finding.path.removeprefix(inside)}:{finding.line}{end}"


def headline(confirmation: Confirmation) -> str:
    operations = confirmation.operations
    queries = sum(operation.queries for operation in operations)
    expected = sum(operation.expected_queries for operation in operations)
    db_ms = sum(operation.db_time_ms for operation in operations)
    agrees = "as" if queries == expected else "NOT as"
    return (
        f"{_plural(len(operations), 'operation')} of the naive app profiled: "
        f"{_plural(queries, 'query', 'queries')} ({agrees} the operations table states: "
        f"{expected}), {db_ms:,.1f} ms in the database"
    )


def verdict(confirmation: Confirmation) -> str:
    runtime_only = len(confirmation.runtime_only)
    return (
        f"{len(confirmation.confirmed)} of {confirmation.static_findings} static findings "
        f"confirmed at runtime, {len(confirmation.unconfirmed)} not; "
        f"{_plural(runtime_only, 'runtime-only finding')}"
    )


def confirmation_rows(confirmation: Confirmation, inside: str) -> list[tuple[str, ...]]:
    """(rule, severity, place, function, what) for each confirmed, unconfirmed and
    runtime-only finding, in that order; paths shown inside ``inside``."""
    rows: list[tuple[str, ...]] = []
    for finding in _ranked(confirmation.confirmed):
        assert finding.evidence is not None
        evidence = finding.evidence
        rows.append(
            (
                finding.rule,
                str(finding.severity),
                _place(finding, inside),
                finding.function,
                f"confirmed: {_plural(evidence.queries, 'query', 'queries')}, "
                f"{evidence.total_ms:,.1f} ms in {evidence.unit}",
            )
        )
    reasons = {id(item.finding): item.reason for item in confirmation.unconfirmed}
    for finding in _ranked(item.finding for item in confirmation.unconfirmed):
        rows.append(
            (
                finding.rule,
                str(finding.severity),
                _place(finding, inside),
                finding.function,
                f"not confirmed: {reasons[id(finding)]}",
            )
        )
    for finding in _ranked(confirmation.runtime_only):
        queries = finding.evidence.queries if finding.evidence else 0
        rows.append(
            (
                finding.rule,
                str(finding.severity),
                _place(finding, inside),
                finding.function,
                f"runtime only: {_plural(queries, 'query', 'queries')}, {finding.message}",
            )
        )
    return rows


def _ranked(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by place."""
    return sorted(findings, key=lambda f: (-f.severity, f.path, f.line))


def confirmation_json(confirmation: Confirmation) -> dict[str, Any]:
    return {
        "operations": [
            {
                "name": operation.name,
                "queries": operation.queries,
                "expected_queries": operation.expected_queries,
                "db_time_ms": round(operation.db_time_ms, 3),
                "findings": operation.findings,
            }
            for operation in confirmation.operations
        ],
        "static_findings": confirmation.static_findings,
        "confirmed": [finding_to_dict(f) for f in confirmation.confirmed],
        "unconfirmed": [
            {"reason": item.reason, "finding": finding_to_dict(item.finding)}
            for item in confirmation.unconfirmed
        ],
        "runtime_only": [finding_to_dict(f) for f in confirmation.runtime_only],
    }
