"""What every stage hands to the reporters: findings, good practices and files not analyzed.

Static rules, runtime detectors and the live database review all produce these same
dataclasses, so one ``Audit`` object can carry everything a report shows (DESIGN.md,
"Reports"). They are frozen and slotted so they pickle cheaply across worker processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Literal


class Severity(IntEnum):
    """Ordered, so ``severity >= Severity.LOW`` reads as it should; ``INFO`` never fails a check."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    def __str__(self) -> str:
        return self.name.lower()


Confidence = Literal["low", "medium", "high"]
FindingSource = Literal["static", "runtime", "live"]


@dataclass(frozen=True, slots=True)
class CallHop:
    """One step of the chain from a loop down to the query it ends up issuing."""

    path: str
    line: int
    function: str
    detail: str = ""  # e.g. "calls RendersDAL.get_by_chain_id" or "session.execute(select(Render))"


@dataclass(frozen=True, slots=True)
class Fix:
    """A concrete fix, written for the code it was found in."""

    summary: str
    code: str = ""
    language: str = "python"


@dataclass(frozen=True, slots=True)
class RuntimeEvidence:
    """What a runtime profile measured for a finding: the proof that a static finding is real."""

    queries: int
    total_ms: float
    unit: str = ""  # test id, request path or profile name
    fingerprint: str = ""
    # The whole unit's totals (every query it sent, their summed time), so a report compares
    # the function's measured count with the fix's count for the whole function, not the
    # queries of one loop with it; 0 when not known (events files of older versions).
    unit_queries: int = 0
    unit_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CallSignature:
    """How the function a finding is in is called: what a report needs to write a regression
    test that calls it (``report/regression_tests.py``).

    ``params`` are in declaration order, without Python's ``self``/``cls``. ``owner`` is the
    class a method belongs to ("" for a module-level function or an object literal's method,
    whose object is the head of ``Finding.function``).
    """

    params: tuple[str, ...] = ()
    is_async: bool = False
    owner: str = ""
    binding: Literal["function", "method", "staticmethod", "classmethod"] = "function"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    path: str
    line: int
    end_line: int
    function: str = ""
    col: int = 0
    query_cost: str = ""
    fixed_query_cost: str = ""
    call_chain: tuple[CallHop, ...] = ()
    fix: Fix | None = None
    confidence: Confidence = "medium"
    source: FindingSource = "static"
    code: str = ""  # the source excerpt the finding points at
    problem: str = ""  # the longer explanation a report prints under the message
    evidence: RuntimeEvidence | None = None
    signature: CallSignature | None = None  # None when not known (runtime and live findings)

    def advisory(self, why: str) -> Finding:
        """This finding reported as info, with ``why`` added to its problem: code that runs
        once (tests, migrations) is no place where a repeated query costs a user anything.
        Info never fails ``dbaudit check``."""
        if self.severity <= Severity.INFO:
            return self
        return replace(self, severity=Severity.INFO, problem=f"{self.problem} {why}".strip())

    def baseline_key(self) -> str:
        """Stable across moves: rule, file, function and the code's shape, never line numbers."""
        shape = " ".join(self.code.split())
        digest = hashlib.sha256(
            "\x1f".join((self.rule, self.path, self.function, shape)).encode()
        ).hexdigest()
        return digest[:16]


@dataclass(frozen=True, slots=True)
class GoodPractice:
    """An operation that is already optimal, listed so a report can say what not to touch."""

    # "batched IN", "window function", "aggregation", "eager loading", "concurrent awaits", ...
    kind: str
    path: str
    line: int
    end_line: int
    function: str
    description: str
    query_cost: str = ""
    code: str = ""


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file that was not analyzed, and why (every "no" has a reason)."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileSummary:
    path: str
    lines: int
    layer: str = "other"  # "data access" | "services" | "handlers/actions" | "models" | "other"
    language: str = "python"


@dataclass(frozen=True, slots=True)
class OperationMetric:
    """Queries and time for one operation, before and after its fix.

    ``measured`` is True when both sides were measured against a database (``dbaudit demo``
    runs the naive and the optimized variant); False when "after" (or both sides) is modelled
    from the fixed query cost and the measured per-query latency, so reports label it an estimate.
    ``timed`` says what the milliseconds are, so a report labels them truly: "database" the
    time the statements spent in the database (summed query durations), "call" the whole call
    (application code, network round trips and the database), "unspecified" when not said.
    """

    name: str
    queries_before: int
    queries_after: int
    ms_before: float
    ms_after: float
    measured: bool = True
    timed: Literal["database", "call", "unspecified"] = "unspecified"


@dataclass(frozen=True, slots=True)
class StatementCost:
    """One workload statement's planner cost (and, with ``--verify``, measured time) before and
    after the recommended indexes."""

    label: str
    query: str  # normalised: literals and parameters as placeholders, never values
    calls: float
    cost_before: float
    cost_after: float
    ms_before: float | None = None
    ms_after: float | None = None


@dataclass(frozen=True, slots=True)
class IndexRecommendation:
    """An index the planner judged worth its bytes and its write cost for the workload."""

    ddl: str  # CREATE INDEX CONCURRENTLY ...
    table: str
    priority: Literal["high", "medium"]
    size_bytes: int
    reason: str
    statements: tuple[StatementCost, ...] = ()


@dataclass(frozen=True, slots=True)
class IndexNotRecommended:
    """A candidate index the advisor tried and did not recommend: every "no" has a reason."""

    ddl: str
    table: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExistingIndex:
    """An index the schema already has: what a report lists under "already indexed"."""

    table: str
    name: str
    definition: str  # CREATE INDEX ... as the catalog (or the model) prints it
    size_bytes: int | None = None
    scans: int | None = None  # since the last stats reset; None when not known (static schema)
    backs_constraint: str | None = None  # the primary key / unique constraint it backs


@dataclass(frozen=True, slots=True)
class DatabaseReview:
    """What the live PostgreSQL review saw (``--db``), beside its findings in ``Audit.findings``
    (DBA401..DBA406 index advice and health, DBA501..DBA505 connection settings, all with
    ``source="live"``). ``source`` "static" when the schema came from models or DDL files and no
    database was asked: then there is no planner, no workload cost and no settings."""

    database: str  # the URL with its password redacted, or the model files' root
    source: Literal["live", "static"] = "live"
    server_version: str = ""
    tables: int = 0
    planner: str = ""  # "hypopg" | "rollback"; "" when the advisor did not run
    workload_source: str = ""  # "pg_stat_statements", a file, "runtime events", "static audit"
    workload_statements: int = 0
    workload_cost_before: float = 0.0
    workload_cost_after: float = 0.0
    recommendations: tuple[IndexRecommendation, ...] = ()
    not_recommended: tuple[IndexNotRecommended, ...] = ()
    existing_indexes: tuple[ExistingIndex, ...] = ()
    # ("max_connections", "100"), ("statement_timeout", "0"), ... as the server reports them
    settings: tuple[tuple[str, str], ...] = ()
    connections_by_state: tuple[tuple[str, int], ...] = ()
    problems: tuple[str, ...] = ()  # what could not be reviewed, one line each


@dataclass(slots=True)
class Audit:
    """The one result object every reporter reads."""

    roots: tuple[str, ...] = ()
    files: list[FileSummary] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    good_practices: list[GoodPractice] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    metrics: tuple[OperationMetric, ...] = ()  # per operation, where something was measured
    database: DatabaseReview | None = None  # the schema/index/connection review, when one ran

    def findings_at_or_above(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]
