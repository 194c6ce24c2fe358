# ruff: noqa: E501  (TypeScript snippets and model assertions read best on one line)
"""Functions, loops, awaits, concurrency and data flow in the model (builder.py)."""

from __future__ import annotations

from dbaudit.frontends.typescript import parse
from dbaudit.model import Function, ModuleModel


def build(source: str, path: str = "app/lib/module.ts") -> ModuleModel:
    return parse(path, source, resolve_files=False).module


def function(module: ModuleModel, qualname: str) -> Function:
    found = module.function(qualname)
    assert found is not None, [f.qualname for f in module.functions]
    return found


SHAPES = """
'use server';
import { db } from '@/lib/db';
export async function declared(a: number, { b, c }: Opts = {}, ...rest: string[]) {}
export const arrow = async (id: string) => db.select().from(t).where(eq(t.id, id));
const plain = function (x) { return x; };
export class RendersDAL extends BaseDAL {
  private cache = new Map();
  constructor(private readonly chains: ChainsDAL) { super(); this.dal = new UsersDAL(); }
  static async getByChainId(chainId: string) { return db.select().from(renders).where(eq(renders.chainId, chainId)); }
  async instance() { return this.chains.list(); }
  handler = async () => this.instance();
}
export const actions = {
  async run(id) { return RendersDAL.getByChainId(id); },
  other: async (id) => 1,
};
exports.legacy = async function (x) { return x; };
export default async function main() {}
"""


def test_functions_of_every_shape() -> None:
    module = build(SHAPES)
    names = {f.qualname for f in module.functions}
    assert {
        "declared",
        "arrow",
        "plain",
        "RendersDAL.getByChainId",
        "RendersDAL.instance",
        "RendersDAL.handler",
        "RendersDAL.constructor",
        "actions.run",
        "actions.other",
        "legacy",
        "main",
    } <= names
    # ``import main from "./module"`` reaches it through the module's own "default" entry
    assert ("default", "app.lib.module", "main") in {
        (i.local, i.module, i.name) for i in module.imports
    }
    declared = function(module, "declared")
    assert declared.params == ("a", "b", "c", "rest") and declared.is_async
    assert ("a", "number") in declared.param_annotations
    assert declared.decorators == ("use server",)  # exported from a 'use server' file
    assert function(module, "plain").decorators == ()  # not exported: not a server action
    static = function(module, "RendersDAL.getByChainId")
    assert static.is_staticmethod and static.class_name == "RendersDAL"
    assert static.db_ops[0].targets == ("<return>",) and static.db_ops[0].awaited
    assert len(function(module, "arrow").db_ops) == 1
    (info,) = module.classes
    assert info.bases == ("BaseDAL",)
    assert dict(info.attribute_types) == {"chains": "ChainsDAL", "dal": "UsersDAL", "cache": "Map"}
    call = function(module, "RendersDAL.instance").calls[0]
    assert call.callee == "self.chains.list" and call.receiver_type == "ChainsDAL"
    assert function(module, "RendersDAL.handler").calls[0].callee == "self.instance"
    assert function(module, "actions.run").calls[0].callee == "RendersDAL.getByChainId"


def test_nested_functions_are_locals_of_their_parent() -> None:
    module = build(
        "async function outer(ids) {\n  const load = async (id) => db.select().from(t).where(eq(t.id, id));\n"
        "  function helper() { return 1; }\n  for (const id of ids) { await load(id); }\n}"
    )
    assert {"outer.<locals>.load", "outer.<locals>.helper"} <= {
        f.qualname for f in module.functions
    }
    outer = function(module, "outer")
    assert outer.db_ops == ()
    assert [(c.callee, c.loops) for c in outer.calls] == [("load", (0,))]


LOOPS = """
async function f(items, ids) {
  for (let i = 0; i < items.length; i++) { await A.one(items[i]); }
  for (const item of items) { await A.two(item); }
  for await (const row of stream()) { await A.three(row); }
  while (await A.more()) { await A.four(); }
  items.forEach(async (item) => { await A.five(item); });
  const mapped = items.map((item) => A.six(item));
  const total = items.reduce(async (acc, item) => (await acc) + (await A.seven(item)), 0);
  for (const chunk of chunks(ids, 500)) { await A.eight(chunk); }
  for (const k of [1, 2, 3]) { await A.nine(k); }
}
"""


def test_loops_of_every_shape() -> None:
    fn = function(build(LOOPS), "f")
    kinds = [(loop.kind, loop.iterable, loop.targets) for loop in fn.loops]
    assert kinds[0][0] == "for" and kinds[0][2] == ()
    assert kinds[1] == ("for", "items", ("item",))
    assert kinds[2] == ("async for", "stream()", ("row",)) and fn.loops[2].is_async
    assert kinds[3][0] == "while"
    assert kinds[4] == ("for", "items", ("item",))  # forEach
    assert kinds[5] == ("comprehension", "items", ("item",))  # map
    assert kinds[6] == ("for", "items", ("item",))  # reduce: the item is the second parameter
    assert fn.loops[7].chunked and fn.loops[8].constant_size == 3
    loops_of = {c.callee: c.loops for c in fn.calls}
    assert loops_of["A.one"] == (0,) and loops_of["A.two"] == (1,) and loops_of["A.three"] == (2,)
    assert loops_of["A.more"] == (3,) and loops_of["A.four"] == (3,)  # the condition runs each time
    assert loops_of["A.five"] == (4,) and loops_of["A.six"] == (5,) and loops_of["A.seven"] == (6,)


def test_promise_all_over_map_is_n_concurrent_queries() -> None:
    fn = function(
        build(
            "async function f(projects) {\n  return Promise.all(projects.map(async (p) => {\n"
            "    const rows = await db.select().from(renders).where(eq(renders.projectId, p.id));\n"
            "    return rows;\n  }));\n}"
        ),
        "f",
    )
    (op,) = fn.db_ops
    assert op.loops == (0,) and op.in_gather and op.awaited
    assert fn.loops[0].kind == "comprehension" and fn.loops[0].iterable == "projects"
    assert fn.gathers[0].api == "Promise.all" and fn.gathers[0].arity == 0


def test_promise_all_of_an_array_destructures_each_target() -> None:
    fn = function(
        build(
            "async function f(u) {\n  const [user, credits] = await Promise.all([Users.get(u), Credits.get(u)]);\n"
            "  return user;\n}"
        ),
        "f",
    )
    assert [(c.callee, c.targets, c.in_gather, c.awaited) for c in fn.calls] == [
        ("Users.get", ("user",), True, True),
        ("Credits.get", ("credits",), True, True),
    ]
    assert fn.gathers[0].arity == 2


def test_named_callbacks_in_map_are_calls_per_item() -> None:
    fn = function(
        build(
            "import { loadUser } from './users';\nasync function f(ids) { return Promise.all(ids.map(loadUser)); }"
        ),
        "f",
    )
    (call,) = fn.calls
    assert call.callee == "loadUser" and call.loops == (0,) and call.in_gather


def test_data_flow_destructuring_conditionals_and_guards() -> None:
    fn = function(
        build(
            "async function f(renderId) {\n"
            "  const [render] = await db.select().from(renders).where(eq(renders.id, renderId)).limit(1);\n"
            "  if (!render) return null;\n"
            "  const [parent] = render.parentId\n"
            "    ? await db.select().from(renders).where(eq(renders.id, render.parentId)).limit(1)\n"
            "    : [null];\n"
            "  const chain = render.chainId ? await Chains.get(render.chainId) : null;\n"
            "  return { render, parent, chain };\n}"
        ),
        "f",
    )
    first, second = fn.db_ops
    assert first.targets == ("render",) and "renderId" in first.reads
    assert second.targets == ("parent",) and "render" in second.reads
    assert "render" in second.control_reads and second.branch
    (call,) = fn.calls
    assert call.targets == ("chain",) and call.awaited and "render" in call.control_reads
    assert call.branch != second.branch
    assert {"render", "parent", "chain"} <= fn.returns_reads
    assert [a.targets for a in fn.assigns if a.kind == "assign"] == [
        ("render",),
        ("parent",),
        ("chain",),
    ]
    assert len(fn.awaits) == 3


def test_length_reads_are_counted_like_len() -> None:
    fn = function(
        build(
            "async function f(u) {\n  const all = await R.list(u);\n  return { total: all.length };\n}"
        ),
        "f",
    )
    assert any(c.callee == "len" and c.reads == frozenset({"all"}) for c in fn.calls)
    assert dict(fn.name_loads)["all"] == 1


def test_attribute_reads_on_loop_variables() -> None:
    fn = function(
        build(
            "async function f(ps) { for (const p of ps) { console.log(p.renders); await p.chain.load(); } }"
        ),
        "f",
    )
    assert [(a.base, a.attr, a.call) for a in fn.attr_accesses] == [
        ("p", "renders", ""),
        ("p", "chain", "load"),
    ]


def test_module_level_code_and_engines() -> None:
    module = build(
        "import { Pool } from 'pg';\nexport const pool = new Pool({ max: 10, ...extra });\n"
        "for (const id of ids) { await pool.query('DELETE FROM t WHERE id = $1', [id]); }"
    )
    (engine,) = module.engines
    assert engine.library == "pg" and engine.keywords == ("max",) and engine.has_kwargs_splat
    top = function(module, "<module>")
    assert top.db_ops[0].loops == (0,)
    assert ("pool", "Pool") in module.global_types


def test_imports_of_every_kind() -> None:
    module = build(
        "import def, { a, b as c } from './x';\nimport * as ns from '@/y';\n"
        "export { d } from './d';\nexport * from './e';\nconst { f: g } = require('./f');\n"
        "const h = require('h');\n"
    )
    imports = {(i.local, i.module, i.name) for i in module.imports}
    assert imports == {
        ("def", "./x", "default"),
        ("a", "./x", "a"),
        ("c", "./x", "b"),
        ("ns", "@/y", ""),
        ("d", "./d", "d"),
        ("*", "./e", "*"),
        ("g", "./f", "f"),
        ("h", "h", ""),
    }
    assert module.language == "typescript"


def test_builders_kept_in_variables_are_one_round_trip_where_awaited() -> None:
    module = build(
        "async function f(userId, limit) {\n"
        "  let q = db.select().from(projects).where(eq(projects.userId, userId)).$dynamic();\n"
        "  if (limit) q = q.limit(limit);\n"
        "  return await q;\n}\n"
        "async function g() {\n  const q = db.select().from(t);\n  return helper(q);\n}\n"
        "async function h(flag) {\n  const q = knex('renders').where({ flag });\n"
        "  if (flag) { return await q.first(); }\n  return await q;\n}\n"
    )
    (op,) = function(module, "f").db_ops
    assert op.has_limit and op.awaited and op.targets == ("<return>",)
    assert op.filters[0].column == "userId" and op.span.line == 4
    assert "db.select()" in op.text  # the excerpt shows the builder, not just ``q``
    (kept,) = function(module, "g").db_ops  # handed to a helper: recorded where built
    assert not kept.awaited and kept.span.line == 7
    first, rest = function(module, "h").db_ops  # one run per arm
    assert first.result_shape == "row" and first.branch and rest.result_shape == "rows"


def test_pool_options_built_elsewhere_are_unknown_not_missing() -> None:
    module = build(
        "import { Pool } from 'pg';\nconst a = new Pool(options);\n"
        "const b = new Pool({ connectionString: process.env.DATABASE_URL });\n"
        "const c = postgres(process.env.DATABASE_URL, { max: 5 });\n"
    )
    first, second, third = module.engines
    assert first.has_kwargs_splat and first.keywords == ()
    assert not second.has_kwargs_splat and second.keywords == ("connectionString",)
    assert third.url == "process.env.DATABASE_URL" and third.keywords == ("max",)


def test_functions_nested_in_config_objects_and_wrappers() -> None:
    module = build(
        "export const authOptions = {\n"
        "  providers: [Email({ sendVerificationRequest: async ({ identifier }) => {\n"
        "    const user = await db.user.findUnique({ where: { email: identifier } });\n  } })],\n"
        "  callbacks: { async jwt({ token }) { return db.user.findFirst({ where: { email: token.email } }); } },\n"
        "};\n"
        "export const POST = withAuth(async (req) => db.post.create({ data: req.body }));\n"
    )
    names = {f.qualname for f in module.functions}
    assert {
        "authOptions.providers.sendVerificationRequest",
        "authOptions.callbacks.jwt",
        "POST",
    } <= names
    assert all(len(function(module, n).db_ops) == 1 for n in ("authOptions.callbacks.jwt", "POST"))


def test_next_navigation_helpers_end_a_guard() -> None:
    fn = function(
        build(
            "export default async function Page({ params }) {\n"
            "  const store = await db.query.stores.findFirst({ where: eq(stores.id, params.id) });\n"
            "  if (!store) {\n    notFound()\n  }\n"
            "  const orders = await db.select().from(orders).where(eq(orders.storeId, params.id));\n}"
        ),
        "Page",
    )
    assert "store" in fn.db_ops[1].control_reads


def test_trpc_procedures_are_named_after_their_router_key() -> None:
    module = build(
        "export const appRouter = router({\n"
        "  byId: publicProcedure.input(z.string()).query(async ({ input }) => {\n"
        "    return db.query.posts.findFirst({ where: eq(posts.id, input) });\n  }),\n"
        "});\n"
    )
    assert len(function(module, "appRouter.byId").db_ops) == 1


def test_registered_callbacks_are_functions_of_their_own() -> None:
    module = build(
        "test('creates a user', async () => {\n  await prisma.user.create({ data: {} });\n});\n"
        "test('deletes a user', async () => {\n  await prisma.user.delete({ where: { id: 1 } });\n});\n"
        "app.get('/users', async (req, res) => {\n  res.json(await pool.query('SELECT * FROM users'));\n});\n"
        "describe('suite', () => {\n  it('runs', async () => { await db.select().from(t); });\n});\n"
    )
    names = {f.qualname: f for f in module.functions}
    assert "test(creates a user)@1" in names and "test(deletes a user)@4" in names
    route = names["app.get(/users)@7"]
    assert route.decorators == ("app.get",) and route.db_ops[0].tables == ("users",)
    assert "describe(suite)@10.<locals>.it(runs)@11" in names
    assert names["<module>"].db_ops == ()  # at import time only the registrations run


def test_promises_collected_then_awaited_together_are_concurrent() -> None:
    module = build(
        "async function mapped(items) {\n  const jobs = items.map((i) => Loader.load(i));\n"
        "  return await Promise.all(jobs);\n}\n"
        "async function pushed(items) {\n  const jobs = [];\n"
        "  for (const i of items) { jobs.push(db.select().from(t).where(eq(t.id, i))); }\n"
        "  await Promise.all([...jobs]);\n}\n"
        "async function sequential(items) {\n  for (const i of items) { await Loader.load(i); }\n}\n"
    )
    (load,) = function(module, "mapped").calls
    assert load.loops == (0,) and load.in_gather and load.awaited
    (op,) = function(module, "pushed").db_ops
    assert op.loops == (0,) and op.in_gather and op.awaited
    (plain,) = function(module, "sequential").calls
    assert not plain.in_gather


def test_async_foreach_is_a_concurrent_fan_out() -> None:
    fn = function(
        build("async function f(ids) { ids.forEach(async (id) => { await Users.touch(id); }); }"),
        "f",
    )
    (call,) = fn.calls
    assert call.loops == (0,) and call.in_gather


def test_loops_fetching_pages_are_batches() -> None:
    fn = function(
        build(
            "async function f() {\n  let offset = 0;\n  while (true) {\n"
            "    const page = await db.select().from(t).orderBy(t.id).limit(500).offset(offset);\n"
            "    if (page.length === 0) break;\n    offset += 500;\n  }\n}\n"
        ),
        "f",
    )
    assert fn.loops[0].kind == "while" and fn.loops[0].chunked


def test_iterating_helpers_run_their_callback_per_item() -> None:
    module = build(
        "async function f(ids) {\n  await pMap(ids, async (id) => Users.load(id), { concurrency: 5 });\n"
        "  await async.eachSeries(ids, async (id) => { await Users.save(id); });\n}"
    )
    concurrent, sequential = function(module, "f").calls[-2:]
    assert concurrent.callee == "Users.load" and concurrent.loops == (0,) and concurrent.in_gather
    assert (
        sequential.callee == "Users.save" and sequential.loops == (1,) and not sequential.in_gather
    )


def test_javascript_classes_keep_their_base() -> None:
    module = build(
        "class RendersDAL extends BaseDAL { async list() { return db.select().from(t); } }", "a.js"
    )
    assert module.classes[0].bases == ("BaseDAL",)
    assert build("class A extends B implements C {}").classes[0].bases == ("B",)


def test_decorated_controller_methods_keep_their_decorators() -> None:
    module = build(
        "@Controller('users')\nexport class UsersController {\n"
        "  constructor(private readonly users: UsersService) {}\n"
        "  @Get(':id')\n  async get(@Param('id') id: string) { return this.users.find(id); }\n}\n"
    )
    method = function(module, "UsersController.get")
    assert method.decorators == ("Get",) and method.params == ("id",)
    assert method.calls[0].receiver_type == "UsersService"


def test_walker_context_shortcuts_equal_the_general_copy() -> None:
    from dbaudit.frontends.typescript.builder import Ctx

    contexts = [
        Ctx(),
        Ctx(targets=("rows",)),
        Ctx(awaited=True),
        Ctx(loops=(1,), branch=((2, 0),), control=frozenset({"x"}), in_gather=True),
        Ctx(loops=(3,), awaited=True, targets=("a", "b"), in_query=True),
    ]
    for ctx in contexts:
        assert ctx.plain() == ctx.but(targets=())
        assert ctx.argument() == ctx.but(targets=(), awaited=False)
        # unchanged contexts are shared, changed ones are copies (the original stays as it was)
        assert (ctx.plain() is ctx) == (not ctx.targets)
        assert (ctx.argument() is ctx) == (not ctx.targets and not ctx.awaited)
    assert Ctx(awaited=True).but(awaited=False) == Ctx()
    assert Ctx(awaited=True).awaited


def test_an_object_of_this_modules_names_is_a_namespace() -> None:
    # ``export default { client, rawQuery }``: ``prisma.rawQuery`` in an importer reaches
    # this module's ``rawQuery``; a renamed member points at the function it names
    module = build(
        "async function rawQuery(sql) { return sql; }\nasync function listAll() {}\n"
        "export const api = { list: listAll, rawQuery };\n"
        "export default { rawQuery, list: listAll };\n"
        "export const config = { retries: 3, rawQuery };\n",
        path="lib/prisma.ts",
    )
    imports = {(i.local, i.module, i.name) for i in module.imports}
    assert imports == {
        ("api", "lib.prisma", ""),
        ("default", "lib.prisma", ""),
        ("list", "lib.prisma", "listAll"),
    }


def test_functions_of_one_object_are_exclusive_alternatives() -> None:
    # ``runQuery({ [PRISMA]: () => a(), [CLICKHOUSE]: () => b() })`` runs one of them
    module = build(
        "async function f(id) {\n"
        "  return runQuery({ [PRISMA]: () => viaPrisma(id), [CLICKHOUSE]: () => viaClickhouse(id) });\n"
        "}\n"
        "async function g(id) { return track({ name: label(id), onDone: () => done(id) }); }\n"
    )
    calls = {c.callee: c.branch for c in function(module, "f").calls}
    (statement_a, arm_a), (statement_b, arm_b) = calls["viaPrisma"][0], calls["viaClickhouse"][0]
    assert statement_a == statement_b and arm_a != arm_b
    assert calls["runQuery"] == ()
    # one function in an object is no table of alternatives
    assert all(c.branch == () for c in function(module, "g").calls)
