from __future__ import annotations

from dbaudit.findings import Finding, Severity
from dbaudit.scan.suppression import ALL_RULES, Suppressions, comment_lines


def _finding(rule: str, line: int) -> Finding:
    return Finding(rule, Severity.HIGH, "m", "a.py", line, line)


def test_comment_lines_reads_codes_and_bare_ignores() -> None:
    source = (
        "for x in xs:  # dbaudit: ignore[DBA101, dba103]\n"
        "    q(x)  # dbaudit: ignore\n"
        "y = 1  # dbaudit: ignored-not\n"
        "z = '# dbaudit ignore'\n"
    )
    assert comment_lines(source) == (
        (1, frozenset({"DBA101", "DBA103"})),
        (2, ALL_RULES),
    )
    assert comment_lines("x = 1\n") == ()


def test_a_comment_covers_its_own_line_and_the_body_of_its_loop_or_def() -> None:
    suppressions = Suppressions(
        by_line=((3, frozenset({"DBA101"})), (10, ALL_RULES)),
        blocks=((1, 1, 8), (3, 3, 5), (10, 10, 12)),
    )
    assert suppressions.covers(_finding("DBA101", 3))  # on the line
    assert suppressions.covers(_finding("DBA101", 4))  # inside the loop headed at line 3
    assert not suppressions.covers(_finding("DBA102", 4))  # another rule
    assert not suppressions.covers(_finding("DBA101", 6))  # after the loop
    assert suppressions.covers(_finding("DBA205", 11))  # bare ignore on the def line
    assert not Suppressions().covers(_finding("DBA101", 3))


def test_empty_brackets_suppress_nothing() -> None:
    lines = comment_lines("q()  # dbaudit: ignore[]\n")
    assert lines == ((1, frozenset()),)
    assert not Suppressions(lines).covers(_finding("DBA101", 1))
