"""Every rule against small TypeScript apps, line by line, the way real code reaches its database.

Each folder of ``typescript_fixtures/`` is a tree of TypeScript modules (its README says what it
imitates); a line carrying ``// expect: DBAxxx`` must be flagged by that rule at ``low`` or above,
and no other line may be. The whole folder is analysed at once, so calls across modules (helper
modules, default-exported objects, destructured helpers) are followed as in a real audit.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from dbaudit.analysis import analyze
from dbaudit.findings import Severity
from dbaudit.frontends.typescript import SUFFIXES, parse

FIXTURES = Path(__file__).parent / "typescript_fixtures"
_EXPECT = re.compile(r"//.*\bexpect:\s*([A-Z0-9, ]+)")
AT_LEAST_LOW = {Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL}


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.endswith(SUFFIXES))


def expected(root: Path) -> set[tuple[str, int, str]]:
    marks = set()
    for path in sources(root):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _EXPECT.search(line)
            if match:
                for rule in match.group(1).split(","):
                    marks.add((path.relative_to(root).as_posix(), number, rule.strip()))
    return marks


@pytest.mark.parametrize("root", sorted(FIXTURES.iterdir()), ids=lambda p: p.name)
def test_fixture_app_flags_exactly_the_expected_lines(root: Path) -> None:
    with contextlib.chdir(root):  # relative paths, as a user auditing the app sees them
        modules = [parse(p.as_posix(), p.read_text()).module for p in sources(Path("."))]
        findings = analyze(modules).findings
    found = {(f.path, f.line, f.rule) for f in findings if f.severity in AT_LEAST_LOW}
    assert found == expected(root)


@pytest.mark.parametrize("root", sorted(FIXTURES.iterdir()), ids=lambda p: p.name)
def test_fixture_app_has_positive_and_negative_cases(root: Path) -> None:
    assert len(expected(root)) >= 3
    assert (root / "README.md").is_file()
