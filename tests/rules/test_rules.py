"""Every rule against its fixtures, line by line: each ``# expect: DBAxxx`` line is flagged by
that rule, and no other line is.

A fixture is a file ``fixtures/DBAxxx_<name>.py`` or a folder ``fixtures/DBAxxx_<name>/`` (a
small multi-module tree, for rules that follow calls across modules).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.python import parse_module
from dbaudit.model import ModuleModel
from dbaudit.rules.registry import REGISTRY

FIXTURES = Path(__file__).parent / "fixtures"
_EXPECT = re.compile(r"#.*\bexpect:\s*([A-Z0-9, ]+)")


def fixture_paths() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if re.match(r"DBA\d{3}_", p.name))


def load(path: Path) -> list[ModuleModel]:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    base = path if path.is_dir() else path.parent
    return [parse_module(f.relative_to(base).as_posix(), f.read_text()) for f in files]


def expected(path: Path, rule: str) -> set[tuple[str, int]]:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    base = path if path.is_dir() else path.parent
    marks = set()
    for file in files:
        for number, line in enumerate(file.read_text().splitlines(), start=1):
            match = _EXPECT.search(line)
            if match and rule in {c.strip() for c in match.group(1).split(",")}:
                marks.add((file.relative_to(base).as_posix(), number))
    return marks


def run(path: Path, rule: str) -> list[Finding]:
    return analyze(load(path), select=[rule]).findings


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_fixture_flags_exactly_the_expected_lines(path: Path) -> None:
    rule = path.name[:6]
    findings = run(path, rule)
    assert {(f.path, f.line) for f in findings} == expected(path, rule)


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_fixture_has_three_positive_and_three_negative_cases(path: Path) -> None:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    text = "\n".join(f.read_text() for f in files)
    rule = path.name[:6]
    assert len(expected(path, rule)) >= 3
    assert "real world false positives" in text
    negatives = re.split(r"# -+ okay", text, maxsplit=1)
    assert len(negatives) == 2
    assert len(re.findall(r"^(?:async )?def ", negatives[1], re.M)) >= 3


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.name)
def test_every_finding_is_complete(path: Path) -> None:
    for finding in run(path, path.name[:6]):
        assert finding.message and "\n" not in finding.message
        assert finding.severity == REGISTRY[finding.rule].severity or finding.rule in {
            "DBA101",
            "DBA102",
            "DBA201",
        }
        assert finding.end_line >= finding.line
        assert finding.fix is not None and finding.fix.summary
        assert finding.problem
        if finding.rule != "DBA201":
            assert finding.function and finding.code and finding.query_cost
            assert finding.fixed_query_cost


def test_every_rule_has_a_fixture() -> None:
    covered = {p.name[:6] for p in fixture_paths()}
    assert covered == set(REGISTRY)
