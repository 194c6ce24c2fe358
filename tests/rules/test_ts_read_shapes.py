"""Shapes read in real TypeScript apps' findings (written anew here, not copied): event
handlers in rendered lists, a lock before a count, update-or-create pairs, conditions on
names the loop body computes, a table behind its schema namespace, a claim per call."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.typescript import parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ts_read_shapes"


def _findings() -> list[Finding]:
    with contextlib.chdir(FIXTURES):
        modules = [parse(p.name, p.read_text()).module for p in sorted(FIXTURES.iterdir())]
        return list(analyze(modules).findings)


def _in(function: str) -> list[Finding]:
    return [f for f in _findings() if f.function.split(".<locals>.")[0] == function]


def _expected() -> set[tuple[str, int, str]]:
    marked = set()
    for path in FIXTURES.iterdir():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "// expect: " in line:
                rule = line.rsplit("// expect: ", 1)[1].split()[0]
                marked.add((path.name, number, rule))
    return marked


def test_findings_are_the_marked_lines() -> None:
    found = {(Path(f.path).name, f.line, f.rule) for f in _findings()}
    assert found == _expected()


def test_an_event_handler_in_a_list_runs_per_click_not_per_item() -> None:
    assert _in("TagList") == []
    [finding] = _in("EnableAll")
    assert finding.function == "EnableAll.<locals>.onClick@23"
    assert "per kind inside `for (const kind of kinds)`" in finding.message


def test_an_object_a_helper_was_given_keys_by_the_property_its_pattern_binds() -> None:
    # ``removeTagAction({ id: kind })`` into ``removeTagAction({ id })``: the key is ``kind``
    [finding] = _in("EnableAll")
    assert finding.fix is not None
    assert "prisma.tag.deleteMany({ where: { id: { in: kinds } } })" in finding.fix.code


def test_a_statement_run_for_its_lock_is_never_regrouped() -> None:
    assert _in("reserveSlot") == []
    [finding] = _in("overview")
    assert finding.rule == "DBA105"


def test_an_update_or_create_pair_is_one_upsert_finding() -> None:
    [finding] = _in("saveValues")
    assert finding.line == 12
    assert "(then `prisma.entryValue.create` when it matched no row)" in finding.message
    assert finding.fix is not None
    code = finding.fix.code
    assert 'ON CONFLICT ("entryId", "field") DO UPDATE' in code
    assert "@@unique([entryId, field])" in code
    assert "updateMany" not in code and "createMany" not in code


def test_conditions_on_names_the_loop_body_computes_get_no_code() -> None:
    # the old fix put { id: { in: ids } } over label.id, or the key filter on row.id
    for function in ("relabel", "petsOfEach"):
        [finding] = _in(function)
        assert finding.fix is not None and finding.fix.code == "", function


def test_a_table_behind_its_schema_namespace_keeps_it() -> None:
    [finding] = _in("tagKeys")
    assert finding.fix is not None
    code = finding.fix.code
    assert ".update(schema.keys)" in code
    assert "inArray(schema.keys.id, ids)" in code
    assert "const keys =" not in code


def test_a_query_with_no_key_filter_gets_no_guessed_id() -> None:
    [finding] = _in("listEach")
    assert finding.fix is not None and finding.fix.code == ""


def test_a_helper_claiming_each_item_in_its_own_transaction_is_no_per_item_write() -> None:
    assert _in("claimAll") == []


def test_a_lock_taken_through_a_raw_select_is_no_list() -> None:
    assert _in("lockAccount") == []
    [finding] = _in("listSenders")
    assert finding.rule == "DBA110"


def test_a_read_repeated_after_a_lock_or_a_failed_write_is_no_repeat() -> None:
    assert _in("cardWithLock") == []
    assert _in("cardAfterConflict") == []
    [finding] = [f for f in _in("cardTwice") if f.rule == "DBA109"]
    assert finding.line == 36


def test_rows_handed_to_deferred_work_are_not_only_counted() -> None:
    assert [f for f in _findings() if f.function == "POST"] == []
    [finding] = [f for f in _findings() if f.function == "GET"]
    assert finding.rule == "DBA108"


def test_each_item_setting_its_own_values_keeps_a_statement_per_item_in_one_batch() -> None:
    [finding] = _in("saveNotes")
    assert finding.fix is not None
    code = finding.fix.code
    assert code.startswith("// each item sets values of its own: ")
    assert "await prisma.$transaction(\n  notes.map((note) => prisma.note.updateMany(" in code
    assert "data: { body: note.body }" in code
    # never one updateMany whose data reads an item outside the loop
    assert not any(line.startswith("await prisma.note.updateMany") for line in code.splitlines())


def test_an_update_statement_is_keyed_by_its_where_not_its_set() -> None:
    [finding] = _in("restoreFlags")
    assert finding.fix is not None
    code = finding.fix.code
    assert 'pool.query("UPDATE \\"Flag\\" SET ... WHERE id = ANY($1)", [ids]);' in code
    assert "WHERE on = ANY" not in code and "WHERE enabled" not in code
    assert '"ownerId" = $3' in code or "ownerId = $3" in code


def test_a_helpers_conditions_are_named_as_it_writes_them_never_pasted() -> None:
    [finding] = _in("cleanAll")
    assert finding.fix is not None
    code = finding.fix.code
    assert "accountId: { in: keys }, sent: false" in code
    assert "createdAt: { lt: cutoff } (as the helper writes it)" in code
    # cutoff is the helper's local: never a condition of the caller's query
    assert "findMany({ where: { accountId: { in: keys }, sent: false } })" in code


def test_keys_spread_into_an_in_list_bound_the_rows() -> None:
    assert _in("ownedSpaces") == []


def test_a_write_in_a_catch_block_runs_per_failure_not_per_item() -> None:
    assert _in("runAll") == []
    [finding] = _in("startAll")
    assert finding.rule == "DBA103"
