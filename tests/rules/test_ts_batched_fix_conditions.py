"""A batched fix for a TypeScript query per item keeps the query's other conditions.

``for (const p of projects) await db.select().from(renders).where(and(eq(renders.projectId,
p.id), eq(renders.tenantId, tenantId)))`` got ``inArray(renders.projectId, keys)`` alone: the
fix, applied as written, returned other tenants' rows. Conditions every item shares stay as
written; one that reads the item besides its key becomes each item's own match; one the
frontend could not write back is named in a comment.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.frontends.typescript import parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ts_batched_conditions"


def _fixes() -> dict[str, str]:
    path = FIXTURES / "batched_fix_conditions.ts"
    with contextlib.chdir(FIXTURES):
        findings = analyze([parse(path.name, path.read_text()).module]).findings
    return {f.function: f.fix.code for f in findings if f.fix is not None}


def test_drizzle_keeps_the_tenant_filter_next_to_in_array() -> None:
    assert (
        "const rows = await db.select().from(renders).where(and(inArray(renders.projectId, "
        "keys), eq(renders.tenantId, tenantId), isNull(renders.deletedAt))); "
    ) in _fixes()["rendersOfTenant"]


def test_prisma_keeps_the_shorthand_tenant_and_its_or() -> None:
    assert (
        "await prisma.render.findMany({ where: { projectId: { in: keys }, tenantId, "
        "OR: [{ a: 1 }, { b: 2 }] } })"
    ) in _fixes()["prismaRendersOfTenant"]


def test_a_drizzle_where_callback_is_written_with_the_tables_name() -> None:
    assert (
        ".where(and(inArray(renders.projectId, keys), eq(renders.tenantId, tenantId)))"
    ) in _fixes()["relationalRendersOfTenant"]


def test_a_condition_reading_the_item_besides_its_key_is_each_items_own_match() -> None:
    fixes = _fixes()
    drizzle = fixes["rendersSince"]
    assert (
        ".where(and(or(...projects.map((p) => and(eq(renders.projectId, p.id), "
        "gt(renders.createdAt, p.since)))), eq(renders.tenantId, tenantId)))"
    ) in drizzle
    assert "inArray" not in drizzle and "const keys" not in drizzle
    assert "check: gt(renders.createdAt, p.since)" in drizzle
    # a where object holds one OR: the query's own and the items' go into AND
    assert (
        "where: { AND: [{ OR: projects.map((p) => ({ projectId: p.id, createdAt: { gt: "
        "p.since } })) }, { OR: [{ a: 1 }] }] }"
    ) in fixes["prismaRendersSince"]


def test_knex_keeps_its_other_where_steps() -> None:
    assert (
        'await knex("renders").whereIn("project_id", keys).where({ tenant_id: tenantId })'
        '.whereNull("deleted_at");'
    ) in _fixes()["knexRendersOfTenant"]


def test_conditions_not_read_as_written_are_named_not_dropped() -> None:
    fix = _fixes()["pgRendersOfTenant"]
    assert (
        "// and the loop query's other conditions, which dbaudit could not read as written: "
        "tenant_id = $2"
    ) in fix


def test_a_bulk_write_keeps_the_tenant_and_each_items_version() -> None:
    fixes = _fixes()
    delete = fixes["deleteRendersOfTenant"]
    assert delete.startswith("const keys = ids.map((item) => item.id);\n")
    assert ".where(and(inArray(renders.id, keys), eq(renders.tenantId, tenantId)));" in delete
    assert fixes["archiveRendersOfVersion"].startswith(
        "await prisma.render.updateMany({ where: { OR: items.map((item) => ({ id: item.id, "
        "version: item.version })) }, data: { archived: true } });"
    )


def test_a_query_keyed_by_the_item_alone_gets_the_plain_batched_query() -> None:
    fix = _fixes()["rendersOf"]
    assert ".where(inArray(renders.projectId, keys)); // one query for all of them" in fix
    assert "//" not in fix.replace("// one query for all of them", "").replace("// ...", "")
