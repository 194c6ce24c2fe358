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


def _fixes(name: str) -> dict[str, str]:
    path = FIXTURES / name
    with contextlib.chdir(FIXTURES):
        findings = analyze([parse(path.name, path.read_text()).module]).findings
    return {f.function: f.fix.code for f in findings if f.fix is not None}


def test_a_bulk_update_says_when_each_item_sets_its_own_values() -> None:
    fixes = _fixes("per_item_writes.ts")
    assert fixes["renameEach"].startswith("// each item sets values of its own: ")
    assert "values of its own" not in fixes["archiveAll"]


def test_a_bulk_write_keeps_only_the_items_the_loop_writes() -> None:
    fixes = _fixes("per_item_writes.ts")
    # the if around the write filters the keys (a note above code over every item was not
    # the fix: applied as written it wrote the rows the loop leaves alone)
    assert fixes["resetMonthly"].startswith(
        'const ids = entries.filter((entry) => entry.period === "monthly").map('
    )
    assert "condition lets through" not in fixes["resetMonthly"]
    assert ".filter(" not in fixes["archiveAll"]


def test_the_fetched_rows_do_not_take_the_name_the_items_are_read_from() -> None:
    fix = _fixes("per_item_writes.ts")["firstOfEach"]
    assert "const found = await db.select().from(owners)" in fix
    assert "const rows =" not in fix


def test_a_compound_unique_selector_is_batched_on_its_fields() -> None:
    fix = _fixes("compound_unique_lookup.ts")["rulesOfKinds"]
    assert "await prisma.rule.findMany({ where: { kind: { in: kinds }, ownerId } })" in fix
    assert "ownerId_kind" not in fix
