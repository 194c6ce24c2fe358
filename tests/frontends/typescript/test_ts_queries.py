# ruff: noqa: E501  (TypeScript snippets and model assertions read best on one line)
"""Which calls are database round trips, and what the model says about each (queries.py)."""

from __future__ import annotations

from dbaudit.frontends.typescript import parse
from dbaudit.model import DbOp, Filter, Function, ModuleModel


def build(source: str, path: str = "app/lib/module.ts") -> ModuleModel:
    """The model of a snippet, imports kept as written (no file system)."""
    return parse(path, source, resolve_files=False).module


def function(module: ModuleModel, qualname: str) -> Function:
    found = module.function(qualname)
    assert found is not None, [f.qualname for f in module.functions]
    return found


def only_op(source: str, qualname: str = "f") -> DbOp:
    ops = function(build(source), qualname).db_ops
    assert len(ops) == 1, ops
    return ops[0]


def test_drizzle_select_with_where_limit_and_order() -> None:
    op = only_op(
        "async function f(id: number) {\n"
        "  const [r] = await db.select().from(renders).where(eq(renders.id, id))"
        ".orderBy(desc(renders.createdAt)).limit(1);\n  return r;\n}"
    )
    assert (op.library, op.kind, op.tables) == ("drizzle", "select", ("renders",))
    assert op.filters == (Filter("id", "==", "id", "renders"),)
    assert op.single_key and op.has_limit and op.result_shape == "row"
    assert op.order_by == ("desc(renders.createdAt)",)
    assert op.awaited and op.targets == ("r",)


def test_drizzle_in_array_is_batched_and_a_single_element_array_is_not() -> None:
    batched = only_op(
        "async function f(ids) { return db.select().from(t).where(inArray(t.id, ids)); }"
    )
    assert batched.batched and batched.filters[0].op == "in"
    single = only_op(
        "async function f(x) { return db.select().from(t).where(inArray(t.id, [x])); }"
    )
    assert not single.batched


def test_drizzle_window_group_by_and_aggregates() -> None:
    window = only_op(
        "async function f(ids) { return db.select({ n: sql<number>`ROW_NUMBER() OVER (PARTITION BY"
        " ${t.p})` }).from(t).where(inArray(t.p, ids)); }"
    )
    assert window.window and window.batched
    grouped = only_op(
        "async function f(u) { return db.select({ id: p.id, n: count(r.id) }).from(p)"
        ".leftJoin(r, eq(r.projectId, p.id)).where(eq(p.userId, u)).groupBy(p.id); }"
    )
    assert grouped.group_by and grouped.aggregate == ("count",) and grouped.joins == ("r",)
    assert grouped.kind == "select"
    counted = only_op(
        "async function f(u) { return db.select({ n: count() }).from(r).where(eq(r.u, u)); }"
    )
    assert counted.kind == "count"


def test_drizzle_writes() -> None:
    update = only_op(
        "async function f(id) { await db.update(renders).set({ a: 1 }).where(eq(renders.id, id)); }"
    )
    assert (update.kind, update.tables, update.single_key, update.batched) == (
        "update",
        ("renders",),
        True,
        False,
    )
    insert_one = only_op("async function f(row) { await db.insert(renders).values(row); }")
    assert insert_one.kind == "insert" and not insert_one.batched
    insert_many = only_op("async function f(rows) { await db.insert(renders).values(rows); }")
    assert insert_many.batched
    delete = only_op("async function f(id) { await tx.delete(chains).where(eq(chains.id, id)); }")
    assert (delete.kind, delete.receiver) == ("delete", "tx")


def test_drizzle_relational_query_with_eager_loads() -> None:
    op = only_op(
        "async function f(id) { return db.query.projects.findMany({ where: (p, { eq }) => eq(p.userId, id),"
        " with: { renders: { with: { chain: true } } }, limit: 10 }); }"
    )
    assert op.api == "db.query.projects.findMany" and op.tables == ("projects",)
    assert op.eager_loads == ("renders", "renders.chain")
    assert op.filters == (Filter("userId", "==", "id", "projects"),) and op.has_limit
    first = only_op(
        "async function f(id) { return db.query.users.findFirst({ where: eq(users.id, id) }); }"
    )
    assert first.result_shape == "row" and first.single_key


def test_drizzle_execute_sql_template_and_subqueries() -> None:
    raw = only_op(
        "async function f(id) { return db.execute(sql`SELECT count(*) FROM renders WHERE user_id = ${id}`); }"
    )
    assert (
        raw.kind == "count" and raw.tables == ("renders",) and raw.sql.startswith("SELECT count(*)")
    )
    merged = only_op(
        "async function f(ids) {\n const sq = db.select({ n: sql`ROW_NUMBER() OVER (PARTITION BY x)` })"
        ".from(renders).where(inArray(renders.p, ids)).as('sq');\n"
        " return await db.select().from(sq).where(sql`${sq.n} <= 4`);\n}"
    )
    assert merged.tables == ("renders",) and merged.window and merged.batched


def test_builders_that_are_not_queries() -> None:
    module = build(
        "async function f(m, list) {\n"
        "  cache.delete(key); m.select(1); list.update(x); redis.get('k'); db.select();\n"
        "  const s = sql`SELECT 1`;\n}"
    )
    assert function(module, "f").db_ops == ()


def test_prisma_reads_writes_and_eager_loading() -> None:
    op = only_op(
        "async function f(id) { return prisma.project.findMany({ where: { userId: id, status: 'open' },"
        " include: { renders: { include: { chain: true } }, _count: true }, take: 5 }); }"
    )
    assert (op.library, op.kind, op.tables) == ("prisma", "select", ("project",))
    assert [f.column for f in op.filters] == ["userId", "status"]
    assert op.eager_loads == ("renders", "renders.chain") and op.has_limit
    unique = only_op(
        "async function f(id) { return this.prisma.user.findUnique({ where: { id } }); }"
    )
    assert unique.single_key and unique.receiver == "self.prisma"
    many = only_op(
        "async function f(ids) { await prisma.render.updateMany({ where: { id: { in: ids } }, data: {} }); }"
    )
    assert many.batched and many.kind == "update"
    raw = only_op(
        "async function f(id) { return prisma.$queryRaw`SELECT * FROM renders WHERE id = ${id}`; }"
    )
    assert raw.kind == "select" and raw.tables == ("renders",)


def test_knex_chains() -> None:
    op = only_op(
        "async function f(ids) { return knex('renders').whereIn('id', ids).orderBy('id'); }"
    )
    assert (op.library, op.tables, op.batched) == ("knex", ("renders",), True)
    first = only_op("async function f(id) { return db('users').where({ id }).first(); }")
    assert first.result_shape == "row" and first.single_key
    insert = only_op("async function f(row) { await knex.insert(row).into('renders'); }")
    assert insert.kind == "insert" and insert.tables == ("renders",)


def test_node_postgres_queries() -> None:
    op = only_op(
        "async function f(id) { return pool.query('SELECT * FROM renders WHERE chain_id = $1', [id]); }"
    )
    assert (op.library, op.kind, op.tables) == ("pg", "select", ("renders",))
    assert op.filters[0].column == "chain_id"
    client = only_op(
        "async function f(ids) { return client.query({ text: 'SELECT 1 FROM t WHERE id = ANY($1)', values: [ids] }); }"
    )
    assert client.batched
    assert function(build("async function f(c) { return http.query('x'); }"), "f").db_ops == ()


def test_transaction_callbacks_run_inline_with_their_handle() -> None:
    fn = function(
        build(
            "async function f(id) {\n  await db.transaction(async (trx) => {\n"
            "    await trx.update(renders).set({ a: 1 }).where(eq(renders.chainId, id));\n"
            "    await trx.delete(chains).where(eq(chains.id, id));\n  });\n}"
        ),
        "f",
    )
    assert [op.kind for op in fn.db_ops] == ["update", "delete"]
    assert all(op.receiver == "trx" for op in fn.db_ops)


def test_negated_conditions_are_not_key_lookups() -> None:
    drizzle = only_op(
        "async function f(s, id) { return db.select().from(p).where(and(eq(p.storeId, s), not(eq(p.id, id)))).limit(4); }"
    )
    assert [(x.column, x.op) for x in drizzle.filters] == [("storeId", "=="), ("id", "!=")]
    assert not drizzle.single_key and drizzle.result_shape == "rows"
    prisma = only_op(
        "async function f(id) { return prisma.post.findMany({ where: { NOT: { id } } }); }"
    )
    assert [(x.column, x.op) for x in prisma.filters] == [("id", "!=")] and not prisma.single_key


def test_typeorm_repositories_managers_and_query_builders() -> None:
    find = only_op(
        "async function f(ids) { return this.userRepository.find({ where: { id: In(ids) }, relations: ['posts'], take: 10 }); }"
    )
    assert (find.library, find.tables, find.batched, find.eager_loads) == (
        "typeorm",
        ("user",),
        True,
        ("posts",),
    )
    assert find.has_limit and find.receiver == "self.userRepository"
    one = only_op("async function f(id) { return manager.findOneBy(Post, { id }); }")
    assert one.tables == ("Post",) and one.single_key and one.result_shape == "row"
    save = only_op("async function f(rows) { await dataSource.getRepository(Render).save(rows); }")
    assert save.kind == "insert" and save.batched and save.tables == ("Render",)
    built = only_op(
        "async function f(ids) { return repo.createQueryBuilder('r').leftJoinAndSelect('r.chain', 'c')"
        ".where('r.id IN (:...ids)', { ids }).getMany(); }"
    )
    assert built.batched and built.eager_loads == ("chain",) and built.kind == "select"
    # building an entity in memory is not a query
    assert (
        function(
            build("async function f() { return this.userRepository.create({ name: 'x' }); }"), "f"
        ).db_ops
        == ()
    )


def test_supabase_chains() -> None:
    op = only_op(
        "async function f(id) { const { data } = await supabase.from('renders').select('*').eq('chain_id', id).order('position'); return data; }"
    )
    assert (op.library, op.kind, op.tables, op.filters[0].column) == (
        "supabase",
        "select",
        ("renders",),
        "chain_id",
    )
    one = only_op(
        "async function f(id) { return supabase.from('users').select().eq('id', id).single(); }"
    )
    assert one.single_key and one.result_shape == "row"
    many = only_op(
        "async function f(ids) { return supabaseAdmin.from('users').update({ a: 1 }).in('id', ids); }"
    )
    assert many.kind == "update" and many.batched


PRISMA_HELPER_MODULE = """
import { PrismaClient } from "@/generated/prisma/client";
const client = (globalThis.prismaClient || new PrismaClient().$extends({})) as any;
async function raw(sql: string, params: unknown[]) {
  if (process.env.REPLICA) return client.$replica().$queryRawUnsafe(sql, ...params);
  return client.$queryRawUnsafe(sql, ...params);
}
async function paged(model: string, where: object) {
  const rows = await client[model].findMany({ where, take: 20 });
  const first = await client["user"].findFirst({ where });
  return { rows, first };
}
"""


def test_a_client_known_by_its_prisma_only_methods_and_models_picked_at_run_time() -> None:
    # ``client`` is no database name, but only a Prisma client has ``$queryRawUnsafe``
    module = build(PRISMA_HELPER_MODULE)
    replica, primary = function(module, "raw").db_ops
    assert (replica.library, replica.kind, replica.api) == (
        "prisma",
        "raw",
        "client.$replica().$queryRawUnsafe",
    )
    assert (primary.library, primary.api) == ("prisma", "client.$queryRawUnsafe")
    rows, first = function(module, "paged").db_ops
    assert (rows.api, rows.kind, rows.tables, rows.has_limit) == (
        "client[model].findMany",
        "select",
        (),
        True,
    )
    assert (first.api, first.tables) == ("client.user.findFirst", ("user",))


def test_prisma_reached_through_a_helper_module_or_under_another_name() -> None:
    module = build(
        'import prisma from "@/lib/prisma";\nimport store from "@/lib/prisma";\n'
        'import { prisma as p } from "./client";\nimport { db as database2 } from "./db";\n'
        'import cache from "@/lib/redis";\n'
        "async function f(id: string) {\n"
        "  await prisma.client.website.findUnique({ where: { id } });\n"
        "  await store.client.share.findMany({ where: { id } });\n"
        "  await p.user.count();\n"
        "  await database2.select().from(users);\n"
        "  await cache.client.set(id, 1);\n"
        "}\n"
    )
    ops = function(module, "f").db_ops
    assert [(op.library, op.api) for op in ops] == [
        ("prisma", "prisma.client.website.findUnique"),
        ("prisma", "store.client.share.findMany"),
        ("prisma", "p.user.count"),
        ("drizzle", "database2.select().from()"),
    ]


def test_helpers_destructured_from_a_handle_are_its_members() -> None:
    module = build(
        'import prisma from "@/lib/prisma";\n'
        "async function f(id: string) {\n"
        "  const { client, rawQuery, transaction } = prisma;\n"
        "  await client.team.findMany({ where: { id } });\n"
        "  await rawQuery(`select 1`, {});\n"
        "  return transaction(async (tx) => tx.team.delete({ where: { id } }));\n"
        "}\n"
    )
    fn = function(module, "f")
    assert [op.api for op in fn.db_ops] == ["client.team.findMany", "tx.team.delete"]
    assert fn.db_ops[0].library == "prisma"
    assert [c.callee for c in fn.calls] == ["prisma.rawQuery"]
