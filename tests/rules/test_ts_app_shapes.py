"""Shapes met in real TypeScript apps (written anew here, not copied) and what the audit says."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.frontends.typescript import parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ts_app_shapes"


def _findings(name: str) -> list[tuple[str, str]]:
    path = FIXTURES / name
    with contextlib.chdir(FIXTURES):
        findings = analyze([parse(path.name, path.read_text()).module]).findings
    return [(f.rule, f.message) for f in findings]


def test_a_counted_for_loop_is_named_as_written() -> None:
    [(rule, message)] = _findings("counted_for_loop.ts")
    assert rule == "DBA101"
    assert "inside `for (...; attempt < total; ...)`" in message
    assert " of attempt < total" not in message
