"""Shapes met in real TypeScript apps (documenso, dokploy, openstatus), one fixture file each.

Each file of ``tests/fixtures/ts_real_shapes/`` imitates one shape, with the case dbaudit must
stay quiet on and the case it must still flag: a line carrying ``// expect: DBAxxx`` is
flagged by that rule at ``low`` or above, and no other line is.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from dbaudit.analysis import analyze
from dbaudit.findings import Severity
from dbaudit.frontends.typescript import parse

SHAPES = Path(__file__).parents[1] / "fixtures" / "ts_real_shapes"
_EXPECT = re.compile(r"//.*\bexpect:\s*([A-Z0-9, ]+)")
AT_LEAST_LOW = {Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL}


def expected(path: Path) -> set[tuple[int, str]]:
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            marks.update((number, rule.strip()) for rule in match.group(1).split(","))
    return marks


@pytest.mark.parametrize("path", sorted(SHAPES.glob("*.ts")), ids=lambda p: p.stem)
def test_shape_flags_exactly_the_expected_lines(path: Path) -> None:
    with contextlib.chdir(SHAPES):
        findings = analyze([parse(path.name, path.read_text()).module]).findings
    found = {(f.line, f.rule) for f in findings if f.severity in AT_LEAST_LOW}
    assert found == expected(path)
    assert expected(path), "each shape keeps a case that must still be flagged"
