"""DbOp.where: a TypeScript query's own conditions as written, one per AND-ed part."""

from __future__ import annotations

from dbaudit.frontends.typescript import parse_module

_SOURCE = """
export async function f(projects: any[], tenantId: number) {
  for (const p of projects) {
    await db.select().from(renders).where(
      and(eq(renders.projectId, p.id), and(eq(renders.tenantId, tenantId), undefined),
          or(eq(renders.a, 1), eq(renders.b, 2)), sql`${renders.x} > 1`));
    await db.query.renders.findMany({
      where: (t, { eq, and }) => and(eq(t.projectId, p.id), eq(t.tenantId, tenantId)),
    });
    await prisma.render.findMany({
      where: {
        projectId: p.id, tenantId, ...base, AND: [{ a: 1 }, { b: { gt: 2 } }], OR: [{ x: 1 }],
      },
    });
    await prisma.render.findMany({ where: filters });
    await knex("renders").where({ project_id: p.id, tenant_id: tenantId }).whereNull("deleted_at");
    await knex("renders").where("project_id", p.id).orWhere("owner_id", p.ownerId);
  }
}
"""


def _where() -> list[tuple[str, ...]]:
    module = parse_module("f.ts", _SOURCE)
    return [op.where for fn in module.functions for op in fn.db_ops]


def test_each_library_lists_its_and_ed_conditions_as_written() -> None:
    assert _where() == [
        # nested and() flattened; or() and sql`` whole; an undefined argument is no condition
        (
            "eq(renders.projectId, p.id)",
            "eq(renders.tenantId, tenantId)",
            "or(eq(renders.a, 1), eq(renders.b, 2))",
            "sql`${renders.x} > 1`",
        ),
        # a where callback's parameter is the table
        ("eq(renders.projectId, p.id)", "eq(renders.tenantId, tenantId)"),
        ("projectId: p.id", "tenantId", "...base", "a: 1", "b: { gt: 2 }", "OR: [{ x: 1 }]"),
        # a where object built elsewhere is spread: it reads the same
        ("...filters",),
        (
            "where({ project_id: p.id })",
            "where({ tenant_id: tenantId })",
            'whereNull("deleted_at")',
        ),
        # orWhere ORs with everything before it: nothing stands alone
        ('where("project_id", p.id).orWhere("owner_id", p.ownerId)',),
    ]
