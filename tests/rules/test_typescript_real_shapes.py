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


def test_a_count_fix_keeps_every_condition_of_the_query() -> None:
    path = SHAPES / "count_with_other_conditions.ts"
    findings = analyze([parse(path.name, path.read_text()).module], select=["DBA108"]).findings
    fixes = {f.function: f.fix.code for f in findings}
    assert "subscription: { is: null }" in fixes["assertFreePlanLimit"]
    assert fixes["assertFreePlanLimit"].startswith("const unpaidCount = await prisma.team.count(")
    assert "isNull(monitors.deletedAt)" in fixes["liveMonitorCount"]
    # the excerpt cut the long where short: the equalities, and a note for what is missing
    assert "workspaceId, acceptedAt: null" in fixes["pendingInvites"]
    assert "gte" not in fixes["pendingInvites"]
    assert "/* and the query's other conditions */" in fixes["pendingInvites"]
    assert (
        fixes["membersOf"]
        == "const membersCount = await prisma.member.count({ where: { workspaceId } });"
    )


def test_an_upsert_per_row_gets_a_bulk_upsert_not_create_many() -> None:
    path = SHAPES / "upsert_per_row.ts"
    findings = analyze([parse(path.name, path.read_text()).module], select=["DBA103"]).findings
    fixes = {f.function: f.fix for f in findings}
    prisma_upsert = fixes["savePrefs"]
    assert "Prisma has no bulk upsert" in prisma_upsert.summary
    assert "skipDuplicates: true" in prisma_upsert.summary
    assert not prisma_upsert.code.startswith("await tx.pref.createMany")
    assert "await tx.$executeRaw`" in prisma_upsert.code
    assert 'ON CONFLICT ("userId", "key") DO UPDATE SET "value" = EXCLUDED."value"' in (
        prisma_upsert.code
    )
    assert "Prisma.join(entries.map((e) => Prisma.sql`(${userId}, ${e.key}, ${e.value})`))" in (
        prisma_upsert.code
    )
    # a plain create per row: createMany is the bulk form
    assert fixes["logPrefs"].code.startswith("await prisma.prefLog.createMany(")
    drizzle_upsert = fixes["syncPrefs"].code
    assert ".values(entries.map((e) => ({ key: e.key, value: e.value })))" in drizzle_upsert
    assert "target: prefs.key," in drizzle_upsert
    assert "value: sql.raw(`excluded.${prefs.value.name}`)" in drizzle_upsert


def test_a_batched_fix_collects_the_key_the_query_filters_on() -> None:
    path = SHAPES / "query_key_computed_from_item.ts"
    findings = analyze([parse(path.name, path.read_text()).module], select=["DBA101"]).findings
    (fix,) = [f.fix.code for f in findings if f.function == "recipientsOf"]
    assert fix.startswith("const keys = links.map((link) => Number(link.recipientId));\n")
    assert "prisma.recipient.findMany({ where: { id: { in: keys } } })" in fix
    assert "byKey.get(Number(link.recipientId))" in fix
    assert "link.id" not in fix


def test_a_raw_select_of_no_table_is_no_unbounded_list() -> None:
    path = SHAPES / "info" / "raw_select_without_table.ts"
    findings = analyze([parse(path.name, path.read_text()).module], select=["DBA110"]).findings
    assert {(f.line, f.rule) for f in findings} == expected(path)
    fixes = {f.function: f.fix.code for f in findings}
    assert fixes["activeUsers"] == (
        'prisma.$queryRaw`SELECT ... FROM "User" WHERE ... AND id > ${after} ORDER BY id '
        "LIMIT ${pageSize}`"
    )
    assert fixes["auditTrail"].startswith("db.execute(sql`SELECT ... FROM audit_log WHERE")
    assert all("rows rows" not in f.message for f in findings)


def test_a_count_fix_names_a_computed_column_once() -> None:
    path = SHAPES / "count_with_computed_column.ts"
    findings = analyze([parse(path.name, path.read_text()).module], select=["DBA108"]).findings
    (fix,) = [f.fix.code for f in findings]
    assert "eq(snapshots[`${kind}Id`], serviceId)" in fix
    assert "snapshots.snapshots" not in fix
    assert 'eq(snapshots.status, "done")' in fix


def _fixes(path: Path, rule: str) -> dict[str, str]:
    with contextlib.chdir(SHAPES):
        findings = analyze([parse(path.name, path.read_text()).module], select=[rule]).findings
    return {f.function: f.fix.code for f in findings if f.fix is not None}


_BY_KEY = """const byKey = new Map<unknown, typeof {rows}>();
for (const row of {rows}) {{
  const group = byKey.get(row.{column}) ?? [];
  group.push(row);
  byKey.set(row.{column}, group);
}}
"""


def test_a_batched_fix_maps_the_items_with_the_loops_own_destructuring() -> None:
    fixes = _fixes(SHAPES / "destructured_loop_items.ts", "DBA101")
    assert fixes["recipientsOf"] == (
        "const keys = links.map(({ recipientId }) => Number(recipientId));\n"
        "const rows = await prisma.recipient.findMany({ where: { id: { in: keys } } }); "
        "// one query for all of them\n"
        + _BY_KEY.format(rows="rows", column="id")
        + "for (const { recipientId } of links) {\n"
        "  const related = byKey.get(Number(recipientId)) ?? [];\n"
        "  // ...\n"
        "}"
    )
    # a renamed field is kept as written; the items are objects, not the keys themselves
    assert fixes["labelsOf"] == (
        "const keys = tags.map(({ id, name: label }) => id);\n"
        "const rows = await prisma.tagOwner.findMany({ where: { tagId: { in: keys } } }); "
        "// one query for all of them\n"
        + _BY_KEY.format(rows="rows", column="tagId")
        + "for (const { id, name: label } of tags) {\n"
        "  const related = byKey.get(id) ?? [];\n"
        "  // ...\n"
        "}"
    )
    # nested with a default; the fetched rows do not take the name of the items (`rows`)
    assert fixes["seatsOf"] == (
        'const keys = rows.map(({ member: { seatId, role = "viewer" } }) => seatId);\n'
        "const found = await db.select().from(seats).where(inArray(seats.id, keys)); "
        "// one query for all of them\n"
        + _BY_KEY.format(rows="found", column="id")
        + 'for (const { member: { seatId, role = "viewer" } } of rows) {\n'
        "  const related = byKey.get(seatId) ?? [];\n"
        "  // ...\n"
        "}"
    )


def test_a_bulk_write_fix_maps_the_items_with_the_loops_own_destructuring() -> None:
    fixes = _fixes(SHAPES / "destructured_loop_items.ts", "DBA103")
    assert fixes["moveTeams"] == (
        "const items = Object.entries(byTeam);\n"
        "const ids = items.map(([teamId, memberIds]) => teamId);\n"
        "await db\n"
        "  .update(members)\n"
        "  .set({ moved: true })\n"
        "  .where(inArray(members.id, ids)); // one statement for every teamId"
    )
    # the callback's type annotation is not part of the binding
    assert fixes["markEach"] == (
        "const ids = entries.map(({ memberId }) => memberId);\n"
        "await prisma.member.updateMany({ where: { id: { in: ids } }, data: { seen: true } }); "
        "// one statement for every memberId"
    )


def test_a_loop_header_shows_the_binding_as_written() -> None:
    path = SHAPES / "destructured_loop_items.ts"
    with contextlib.chdir(SHAPES):
        findings = analyze([parse(path.name, path.read_text()).module]).findings
    messages = {f.function: f.message for f in findings}
    assert "inside `for (const { recipientId } of links)`" in messages["recipientsOf"]
    assert "over `tags.map(({ id, name: label }) => ...)`" in messages["labelsOf"]


def test_a_batched_fix_keys_on_the_filter_that_reads_the_loop_variable() -> None:
    fixes = _fixes(SHAPES / "query_key_among_filters.ts", "DBA101")
    # `teamId` comes first but is the function's; `id: Number(recipientId)` is per item
    assert fixes["recipientsOfTeam"] == (
        "const keys = links.map(({ recipientId }) => Number(recipientId));\n"
        "const rows = await prisma.recipient.findMany({ where: { id: { in: keys }, teamId } }); "
        "// one query for all of them\n"
        + _BY_KEY.format(rows="rows", column="id")
        + "for (const { recipientId } of links) {\n"
        "  const related = byKey.get(Number(recipientId)) ?? [];\n"
        "  // ...\n"
        "}"
    )
    # both read the item: the row's id wins over the first written (`ownerId`), and each
    # item's owner stays its own (an OR over the items, not an IN that drops it)
    assert fixes["documentsOf"].startswith(
        "const found = await prisma.document.findMany({ where: { OR: rows.map((row) => "
        "({ id: row.documentId, ownerId: row.ownerId })) } }); "
    )
    assert "byKey.get(row.documentId)" in fixes["documentsOf"]
    # several read the item and none is the id: the first written is the key, every time
    assert fixes["invitesOf"].startswith(
        "const rows = await db.select().from(invites).where(and(or(...emails.map(("
        "{ address, team }) => and(eq(invites.team, team), eq(invites.email, address)))), "
        "eq(invites.workspaceId, workspaceId))); "
    )
    assert "byKey.get(team)" in fixes["invitesOf"]
