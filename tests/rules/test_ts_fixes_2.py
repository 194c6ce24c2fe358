"""TypeScript shapes read in real apps' findings (written anew here, not copied): object
literals handed to helpers, the first row kept of a query, a helper writing on a rare path."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.findings import Finding, Severity
from dbaudit.frontends.typescript import parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ts_fixes_2"


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


def test_an_object_literal_fills_the_helpers_destructured_parameter() -> None:
    [finding] = _in("processNotifications")
    assert "once per n inside" in finding.message
    assert finding.fix is not None
    assert "notifications.map((n) => n.subscriptionId)" in finding.fix.code
    assert "watchEmailsSubscriptionId: { in: keys }" in finding.fix.code


def test_a_field_the_literal_lacks_is_no_key() -> None:
    # ``where.email`` given ``{ accountKey: key }`` is undefined: a query per account, no key
    [finding] = _in("syncAccounts")
    assert "once per account inside" in finding.message
    assert "same query" not in finding.message and ".email" not in finding.message
    assert finding.fix is not None and finding.fix.code == ""


def test_a_key_the_loop_body_computes_changes_with_the_item() -> None:
    [finding] = _in("processEach")
    assert "once per notification inside" in finding.message
    assert "same query" not in finding.message
    # ``subscriptionId`` is the body's own name: no code that would key on notification.id
    assert finding.fix is not None and finding.fix.code == ""


def test_a_key_from_outside_the_loop_is_one_answer() -> None:
    [finding] = _in("processOne")
    assert "runs the same query on emailAccount (key `id`)" in finding.message


def test_a_lock_keyed_by_id_through_a_spread_filter_array_is_one_row() -> None:
    assert _in("rerollKey") == []


def test_a_first_row_kept_of_a_query_with_no_limit_asks_for_a_limit_of_one() -> None:
    [finding] = _in("firstKeyOf")
    assert finding.rule == "DBA110"
    assert "fetches every matching keys row to keep only the first" in finding.message
    assert "lists" not in finding.message
    assert finding.fix is not None
    assert finding.fix.code == (
        "db.select().from(schema.keys).where(eq(schema.keys.workspaceId, workspaceId)).limit(1)"
    )
    assert _in("firstKeyBounded") == []


def test_a_returned_list_stays_an_unbounded_list() -> None:
    [finding] = _in("keysOf")
    assert "lists keys rows without a LIMIT" in finding.message


def test_a_helpers_write_in_a_catch_block_runs_per_item_only_on_that_path() -> None:
    [finding] = _in("GET")
    assert finding.severity == Severity.MEDIUM
    assert "one UPDATE" not in finding.message
    assert (
        "can issue an UPDATE on driveConnection per connection inside `for (const connection "
        "of connections)`, but only on an error path (a catch block in `refreshToken`, line 15)"
    ) in finding.message
    assert finding.fix is not None and finding.fix.summary.startswith("The write runs only on")


def test_a_helpers_write_under_a_condition_keeps_its_finding() -> None:
    # a condition is not told apart from a guard that returns early (the write after it runs
    # on nearly every call) nor from one arm of an if/else that writes in both: no rare path
    [finding] = _in("POST")
    assert finding.severity == Severity.HIGH
    assert "issues one UPDATE on driveConnection per connection" in finding.message


def test_a_helpers_write_on_every_call_stays_one_per_item() -> None:
    [finding] = _in("DELETE")
    assert finding.severity == Severity.HIGH
    assert "issues one UPDATE on driveConnection per connection" in finding.message


def test_a_helper_that_also_writes_outside_its_catch_block_has_no_rare_path() -> None:
    [finding] = _in("PUT")
    assert finding.severity == Severity.HIGH
    assert "error path" not in finding.message
