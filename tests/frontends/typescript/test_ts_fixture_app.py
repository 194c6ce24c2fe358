"""The TypeScript render platform fixture (tests/fixtures/ts_render_platform) modeled end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbaudit.frontends.typescript import SUFFIXES, parse
from dbaudit.frontends.typescript.resolution import module_key
from dbaudit.model import Call, Function, ModuleModel

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ts_render_platform"
PACKAGES = {"drizzle-orm", "pg", "@prisma", "knex"}


def load(variant: str) -> dict[str, ModuleModel]:
    """Every source file of a variant, keyed by its path relative to the variant's root."""
    root = FIXTURE / variant
    modules = {}
    for path in sorted(root.rglob("*")):
        if path.suffix in SUFFIXES or path.name.endswith(SUFFIXES):
            outcome = parse(str(path), path.read_text())
            assert outcome.notes == ()
            modules[path.relative_to(root).as_posix()] = outcome.module
    return modules


@pytest.fixture(scope="module")
def naive() -> dict[str, ModuleModel]:
    return load("naive")


@pytest.fixture(scope="module")
def optimized() -> dict[str, ModuleModel]:
    return load("optimized")


def fn(modules: dict[str, ModuleModel], path: str, qualname: str) -> Function:
    found = modules[path].function(qualname)
    assert found is not None, [f.qualname for f in modules[path].functions]
    return found


def calls(function: Function) -> list[tuple[str, tuple[int, ...]]]:
    return [(c.callee, c.loops) for c in function.calls]


def dal_calls(function: Function) -> list[Call]:
    return [c for c in function.calls if "DAL." in c.callee]


@pytest.mark.parametrize("variant", ["naive", "optimized", "prisma"])
def test_every_local_import_resolves_to_a_file_of_the_variant(variant: str) -> None:
    modules = load(variant)
    # the call graph matches Import.module against each module's dotted path
    keys = {module_key(str(FIXTURE / variant / path)) for path in modules}
    for path, module in modules.items():
        for imported in module.imports:
            if imported.module.split("/")[0] not in PACKAGES:
                assert imported.module in keys, (path, imported)


def test_alias_and_index_re_exports(naive: dict[str, ModuleModel]) -> None:
    services = naive["lib/services/profile.ts"]
    users = next(i for i in services.imports if i.local == "UsersDAL")
    dal = module_key(str(FIXTURE / "naive" / "lib" / "dal" / "index.ts"))
    assert users.module == dal and dal.endswith("naive.lib.dal")
    index = {(i.local, i.module, i.name) for i in naive["lib/dal/index.ts"].imports}
    assert ("RendersDAL", f"{dal}.renders", "RendersDAL") in index
    assert ("*", f"{dal}.users", "*") in index
    direct = naive["lib/services/chains.ts"].imports
    assert {i.module for i in direct} == {f"{dal}.chains", f"{dal}.projects", f"{dal}.renders"}


def test_naive_dal_methods_each_issue_one_query(naive: dict[str, ModuleModel]) -> None:
    get_by_id = fn(naive, "lib/dal/renders.ts", "RendersDAL.getById")
    (op,) = get_by_id.db_ops
    assert op.single_key and op.result_shape == "row" and op.targets == ("render",)
    remove = fn(naive, "lib/dal/renders.ts", "RendersDAL.removeFromChain").db_ops[0]
    assert (remove.kind, remove.tables, remove.single_key, remove.batched) == (
        "update",
        ("renders",),
        True,
        False,
    )
    counts = fn(naive, "lib/dal/projects.ts", "ProjectsDAL.renderCountsForUser").db_ops[0]
    assert counts.group_by and counts.aggregate == ("count",) and counts.joins == ("renders",)
    (listed,) = fn(naive, "lib/dal/renders.ts", "RendersDAL.getByChainId").db_ops
    assert listed.filters[0].column == "chainId" and not listed.has_limit


def test_naive_one_plus_n_through_a_service_helper(naive: dict[str, ModuleModel]) -> None:
    overviews = fn(naive, "lib/services/projects.ts", "userProjectOverviews")
    assert calls(overviews) == [("ProjectsDAL.listForUser", ()), ("projectOverview", (0,))]
    assert overviews.loops[0].iterable == "projects"
    helper = fn(naive, "lib/services/projects.ts", "projectOverview")
    assert calls(helper) == [("RendersDAL.listForProject", ()), ("len", ())]
    recent = fn(naive, "lib/services/projects.ts", "recentProjectOverviews")
    assert ("projectOverview", (0,)) in calls(recent)


def test_naive_nested_loops_one_plus_n_plus_n_m(naive: dict[str, ModuleModel]) -> None:
    chains = fn(naive, "lib/services/chains.ts", "ChainService.userChainsWithRenders")
    assert calls(chains) == [
        ("ProjectsDAL.listForUser", ()),
        ("ChainsDAL.listForProject", (0,)),
        ("RendersDAL.getByChainId", (0, 1)),
    ]
    assert chains.loops[1].parent == 0
    assert chains.is_staticmethod


def test_naive_per_item_writes(naive: dict[str, ModuleModel]) -> None:
    delete = fn(naive, "lib/services/chains.ts", "ChainService.deleteChain")
    assert calls(delete) == [
        ("RendersDAL.getByChainId", ()),
        ("RendersDAL.removeFromChain", (0,)),
        ("ChainsDAL.delete", ()),
    ]
    assert delete.loops[0].iterable == "renders" and delete.loops[0].targets == ("render",)


def test_naive_sequential_independent_awaits(naive: dict[str, ModuleModel]) -> None:
    stats = fn(naive, "lib/services/profile.ts", "profileStats")
    found = dal_calls(stats)
    assert [c.targets for c in found] == [
        ("user",),
        ("counts",),
        ("credits",),
        ("recent",),
        ("allRenders",),
    ]
    assert all(c.awaited and not c.in_gather and c.loops == () for c in found)
    assert all(
        c.reads - {"userId", "PROFILE_RECENT_RENDERS"} == {c.callee.split(".")[0]} for c in found
    )
    assert all("user" in c.control_reads for c in found[1:])  # behind ``if (!user) return null``
    assert stats.gathers == ()
    # fetched only to be counted
    assert any(c.callee == "len" and c.reads == frozenset({"allRenders"}) for c in stats.calls)
    assert dict(stats.name_loads)["allRenders"] == 1


def test_naive_dependent_lookups_and_combinable_queries(naive: dict[str, ModuleModel]) -> None:
    context = fn(naive, "lib/services/renders.ts", "renderWithContext")
    first, *related = dal_calls(context)
    assert first.targets == ("render",)
    assert [c.targets for c in related] == [("parent",), ("reference",), ("chain",)]
    assert all("render" in c.reads and "render" in c.control_reads for c in related)
    assert len({c.branch for c in related}) == 3
    credits = fn(naive, "lib/services/credits.ts", "creditsWithReset")
    assert [(c.callee, c.targets) for c in dal_calls(credits)] == [
        ("CreditsDAL.getForUser", ("credits",)),
        ("SubscriptionsDAL.activeForUser", ("found",)),
    ]


def test_server_actions_are_marked_and_call_the_services(naive: dict[str, ModuleModel]) -> None:
    actions = naive["lib/actions/index.ts"]
    assert {f.decorators for f in actions.functions} == {("use server",)}
    assert calls(fn(naive, "lib/actions/index.ts", "deleteChain")) == [
        ("ChainService.deleteChain", ())
    ]


def test_pool_settings(naive: dict[str, ModuleModel], optimized: dict[str, ModuleModel]) -> None:
    # ``drizzle(pool)`` wraps the pool: the pool is the one engine, configured where created
    (naive_pool,) = naive["lib/db/index.ts"].engines
    assert (naive_pool.library, naive_pool.keywords) == ("pg", ("connectionString",))
    (pool,) = optimized["lib/db/index.ts"].engines
    assert {"max", "idleTimeoutMillis", "connectionTimeoutMillis", "statement_timeout"} <= set(
        pool.keywords
    )


def test_optimized_never_queries_per_item(optimized: dict[str, ModuleModel]) -> None:
    for path, module in optimized.items():
        for function in module.functions:
            assert all(op.loops == () for op in function.db_ops), (path, function.qualname)
            assert all(c.loops == () for c in dal_calls(function)), (path, function.qualname)


def test_optimized_batched_window_and_join_queries(optimized: dict[str, ModuleModel]) -> None:
    latest = fn(optimized, "lib/dal/renders.ts", "RendersDAL.latestPerProject").db_ops
    assert (
        len(latest) == 1
        and latest[0].window
        and latest[0].batched
        and latest[0].tables == ("renders",)
    )
    for qualname in ("RendersDAL.forChains", "RendersDAL.getByIds", "RendersDAL.updateStatusBatch"):
        (op,) = fn(optimized, "lib/dal/renders.ts", qualname).db_ops
        assert op.batched and op.filters[0].op == "in", qualname
    (context,) = fn(optimized, "lib/dal/renders.ts", "RendersDAL.withContext").db_ops
    assert context.joins == ("renders", "renders", "renderChains") and context.single_key
    (credits,) = fn(optimized, "lib/dal/credits.ts", "CreditsDAL.withActiveSubscription").db_ops
    assert credits.joins == ("userSubscriptions", "subscriptionPlans")
    detach = fn(optimized, "lib/dal/chains.ts", "ChainsDAL.deleteDetachingRenders").db_ops
    assert [(op.kind, op.receiver) for op in detach] == [("update", "tx"), ("delete", "tx")]
    (health,) = fn(optimized, "lib/db/health.ts", "checkDatabaseHealth").db_ops
    assert health.library == "pg" and health.sql == "SELECT 1 AS ok"


def test_optimized_concurrent_and_batched_services(optimized: dict[str, ModuleModel]) -> None:
    stats = fn(optimized, "lib/services/profile.ts", "profileStats")
    assert [g.arity for g in stats.gathers] == [4]
    assert all(c.in_gather and c.awaited for c in dal_calls(stats))
    assert not any(c.callee == "len" for c in stats.calls)
    chains = fn(optimized, "lib/services/chains.ts", "ChainService.userChainsWithRenders")
    assert [c.callee for c in dal_calls(chains)] == [
        "ProjectsDAL.withRenderCounts",
        "ChainsDAL.forProjects",
        "RendersDAL.forChains",
    ]


def test_prisma_app() -> None:
    modules = load("prisma")
    naive_overviews = fn(modules, "lib/services/naive.ts", "projectOverviews")
    (op,) = naive_overviews.db_ops
    assert (op.library, op.tables, op.loops, op.in_gather) == ("prisma", ("render",), (0,), True)
    archive = fn(modules, "lib/services/naive.ts", "archiveRenders").db_ops[0]
    assert archive.kind == "update" and archive.loops == (0,) and archive.single_key
    dashboard = fn(modules, "lib/services/naive.ts", "dashboard").db_ops
    assert [(o.targets, o.in_gather) for o in dashboard] == [
        (("user",), False),
        (("credits",), False),
        (("renderCount",), False),
    ]
    with_latest = fn(modules, "lib/dal/projects.ts", "ProjectsRepository.withLatestRenders").db_ops[
        0
    ]
    assert with_latest.eager_loads == ("renders",) and "count" in with_latest.aggregate
    batched = fn(modules, "lib/services/optimized.ts", "archiveRenders").db_ops[0]
    assert batched.batched and batched.loops == ()
    assert all(o.in_gather for o in fn(modules, "lib/services/optimized.ts", "dashboard").db_ops)


def test_commonjs_node_postgres_and_knex() -> None:
    modules = load("legacy")
    report = fn(modules, "reports.cjs", "chainReport")
    (op,) = report.db_ops
    assert (op.library, op.loops, op.tables) == ("pg", (0,), ("renders",))
    assert ("formatRow", (0, 1)) in calls(report)
    batched = fn(modules, "reports.cjs", "chainReportBatched").db_ops[0]
    assert batched.batched and batched.loops == ()
    totals = fn(modules, "reports.cjs", "userTotals").db_ops[0]
    assert (totals.library, totals.batched, totals.group_by) == ("knex", True, True)
    touch = fn(modules, "reports.cjs", "touchAll").db_ops[0]
    assert touch.kind == "update" and touch.in_gather and touch.loops == (0,)
    format_import = next(i for i in modules["reports.cjs"].imports if i.local == "formatRow")
    assert format_import.module == module_key(str(FIXTURE / "legacy" / "format.js"))
