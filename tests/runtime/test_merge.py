"""Static findings confirmed by runtime findings: shown once, with the runtime evidence."""

from __future__ import annotations

from dbaudit.findings import Audit, CallHop, Finding, RuntimeEvidence, Severity
from dbaudit.runtime.merge import confirms, merge, same_file


def static(rule: str, path: str, line: int, end_line: int) -> Finding:
    return Finding(rule, Severity.HIGH, "static", path, line, end_line, source="static")


def runtime(rule: str, path: str, line: int, chain: tuple[tuple[str, int], ...]) -> Finding:
    return Finding(
        rule,
        Severity.HIGH,
        "runtime",
        path,
        line,
        line,
        source="runtime",
        call_chain=tuple(CallHop(p, n, "f") for p, n in chain),
        evidence=RuntimeEvidence(51, 412.0, "test_x", "abc"),
    )


LOOP = static("DBA102", "app/services/projects.py", 35, 35)
N1 = runtime(
    "DBA101",
    "app/dal/renders.py",
    23,
    (("app/services/projects.py", 35), ("app/dal/renders.py", 23)),
)


def test_runtime_n_plus_one_confirms_the_static_loop() -> None:
    assert confirms(N1, LOOP)
    merged = merge(Audit(findings=[LOOP]), Audit(findings=[N1]))
    [finding] = merged.findings
    assert finding.source == "static" and finding.rule == "DBA102"
    assert finding.evidence == RuntimeEvidence(51, 412.0, "test_x", "abc")
    assert finding.confidence == "high"


def test_no_confirmation_for_another_place_or_another_pattern() -> None:
    elsewhere = static("DBA102", "app/services/projects.py", 40, 44)
    assert not confirms(N1, elsewhere)
    sequential = static("DBA105", "app/services/projects.py", 35, 35)
    assert not confirms(N1, sequential)
    merged = merge(Audit(findings=[elsewhere]), Audit(findings=[N1]))
    assert [(f.source, f.evidence is not None) for f in merged.findings] == [
        ("static", False),
        ("runtime", True),  # what static analysis did not see is kept
    ]


def test_a_read_repeated_on_the_line_of_a_per_item_write_confirms_no_write() -> None:
    # paperless views.py:3019: LogEntry written per document (static DBA103) with the
    # document's correspondent lazy-loaded in its arguments (runtime DBA101, a read)
    write = static("DBA103", "app/views.py", 3019, 3019)
    lazy_load = runtime("DBA101", "app/views.py", 3019, (("app/views.py", 3019),))
    assert not confirms(lazy_load, write)
    [kept_write, kept_read] = merge(Audit(findings=[write]), Audit(findings=[lazy_load])).findings
    assert (kept_write.evidence, kept_read.source) == (None, "runtime")
    # the write repeated at runtime does confirm it, and a read confirms a read
    assert confirms(runtime("DBA103", "app/views.py", 3019, ()), write)
    assert confirms(lazy_load, static("DBA104", "app/views.py", 3018, 3020))


def test_paths_from_different_working_directories() -> None:
    assert same_file("src/app/dal.py", "/home/ci/project/src/app/dal.py")
    assert not same_file("src/app/dal.py", "src/other/dal.py")
    assert not same_file("pp/dal.py", "app/dal.py")


def test_the_units_totals_stay_with_the_evidence_a_static_finding_gains() -> None:
    evidence = RuntimeEvidence(50, 40.0, "get_projects", "abc", unit_queries=51, unit_ms=42.0)
    observed = Finding(
        "DBA101",
        Severity.HIGH,
        "runtime",
        "app/dal/renders.py",
        23,
        23,
        source="runtime",
        call_chain=N1.call_chain,
        evidence=evidence,
    )
    [finding] = merge(Audit(findings=[LOOP]), Audit(findings=[observed])).findings
    assert finding.evidence == evidence
    assert (finding.evidence.unit_queries, finding.evidence.unit_ms) == (51, 42.0)
