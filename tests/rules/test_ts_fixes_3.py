"""TypeScript shapes read in formbricks' findings (written anew here, not copied): loops over
chunks, pages and retries; a query shaped per item; counts of bounded queries; callbacks
handed to a tool registry."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.findings import Finding
from dbaudit.frontends.typescript import parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ts_fixes_3"


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


def test_a_chunk_loop_is_recognised_as_batching() -> None:
    module = parse("x.ts", (FIXTURES / "loops_that_are_not_per_item.ts").read_text()).module
    fn = module.function("workspaceIdsBySurvey")
    assert fn is not None
    [loop, _] = fn.loops
    assert loop.chunked and loop.targets == ("i",)
    pair = module.function("everyOther")
    assert pair is not None and not pair.loops[0].chunked


def test_an_endless_for_is_a_while() -> None:
    module = parse("x.ts", (FIXTURES / "loops_that_are_not_per_item.ts").read_text()).module
    fn = module.function("fileUrlsOfSurvey")
    assert fn is not None
    assert fn.loops[0].kind == "while"


def test_a_retry_bound_by_a_local_constant_is_small() -> None:
    module = parse("x.ts", (FIXTURES / "loops_that_are_not_per_item.ts").read_text()).module
    fn = module.function("assignMembership")
    assert fn is not None
    assert fn.loops[0].constant_size is not None and fn.loops[0].constant_size <= 3


def test_a_count_keeps_a_where_written_as_a_call() -> None:
    [finding] = _in("countDone")
    assert finding.fix is not None
    assert 'prisma.survey.count({ where: baseWhere(workspaceId, "done") })' in finding.fix.code
    assert "{  }" not in finding.fix.code


def test_a_key_the_same_on_every_turn_gets_no_in_list_of_guessed_ids() -> None:
    [finding] = _in("matchingSegments")
    assert finding.fix is not None and finding.fix.code == ""
    [keyed] = _in("contactsOfSegments")
    assert keyed.fix is not None
    assert "segments.map((segment) => segment.contactId)" in keyed.fix.code


def test_a_limit_taken_only_for_a_page_is_no_limit() -> None:
    module = parse("x.ts", (FIXTURES / "optional_page.ts").read_text()).module
    fn = module.function("membershipsOf")
    assert fn is not None
    [op] = fn.db_ops
    assert not op.has_limit


def test_a_count_over_a_join_per_item_gets_no_plain_rows_fix() -> None:
    [finding] = _in("soleOwnedWorkspaces")
    assert finding.fix is not None and finding.fix.code == ""
    [plain] = _in("pagesOf")
    assert plain.fix is not None
    assert "inArray(page.workspaceId, keys)" in plain.fix.code


def test_drizzle_count_names_its_table_and_filter() -> None:
    module = parse("x.ts", (FIXTURES / "drizzle_count_helper.ts").read_text()).module
    fn = module.function("runningMonitors")
    assert fn is not None
    [op] = fn.db_ops
    assert op.tables == ("monitor",) and op.kind == "count"
    assert [f.column for f in op.filters] == ["workspaceId", "active"]
    [finding] = _in("startAll")
    assert "queries monitor once per user" in finding.message


def test_a_generic_call_after_await_is_the_awaited_query() -> None:
    module = parse("x.ts", (FIXTURES / "generic_awaited_calls.ts").read_text()).module
    fn = module.function("reserveRun")
    assert fn is not None
    assert [op.kind for op in fn.db_ops] == ["insert"]
    assert fn.db_ops[0].awaited and fn.db_ops[0].tables == ("monitor_run",)


def test_sqlite_get_keeps_one_row_and_is_no_list() -> None:
    found = {f.line: f for f in _findings() if Path(f.path).name == "sqlite_get.ts"}
    assert "to keep only the first: add a LIMIT 1" in found[10].message
    assert found[10].fix is not None
    assert found[10].fix.code.endswith(".limit(1).get()")
    assert "lists apiKey rows without a LIMIT" in found[15].message


def test_the_arms_of_an_or_are_not_anded_into_a_count() -> None:
    [finding] = _in("canSeeDocument")
    assert finding.fix is not None
    code = finding.fix.code
    assert "canView: true, canDownload: true" not in code
    assert "OR: [{ canView: true }, { canDownload: true }]" in code
    module = parse("x.ts", (FIXTURES / "or_conditions.ts").read_text()).module
    fn = module.function("canSeeDocument")
    assert fn is not None
    ops = {f.column: f.op for f in fn.db_ops[0].filters}
    assert ops == {"groupId": "==", "itemId": "==", "canView": "or ==", "canDownload": "or =="}
    [cut] = _in("canSeeDocumentInGroup")
    assert cut.fix is not None
    assert "canView: true" not in cut.fix.code
    assert "other conditions" in cut.fix.code


def test_a_drizzle_or_is_no_key() -> None:
    [finding] = _in("visibleDocs")
    assert finding.fix is not None and finding.fix.code == ""
