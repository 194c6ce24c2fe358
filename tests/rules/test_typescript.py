"""Fixes for findings in TypeScript code are written in TypeScript, with the names of the code.

Runs the whole analysis on the TypeScript fixture app (``tests/fixtures/ts_render_platform``:
Drizzle ``naive/``, ``prisma/``, Knex/node-postgres ``legacy/``) and reads each rule's fix.
"""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import pytest

from dbaudit.analysis import AnalysisResult, analyze
from dbaudit.findings import Finding, Severity
from dbaudit.frontends.typescript import SUFFIXES, parse

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ts_render_platform"
PYTHON_ONLY = (
    "asyncio",
    "session.",
    "lambda",
    "dict",
    "async with",
    "(select(",
    ".in_(",
    "outerjoin",
)


def audit(variant: str) -> AnalysisResult:
    # paths as a user auditing the app sees them (under tests/ everything is test code), and
    # the cwd the frontend resolves tsconfig.json aliases from
    with contextlib.chdir(FIXTURE):
        files = sorted(p for p in Path(variant).rglob("*") if p.name.endswith(SUFFIXES))
        return analyze([parse(p.as_posix(), p.read_text()).module for p in files])


@pytest.fixture(scope="module")
def naive() -> AnalysisResult:
    return audit("naive")


@pytest.fixture(scope="module")
def prisma() -> AnalysisResult:
    return audit("prisma")


@pytest.fixture(scope="module")
def legacy() -> AnalysisResult:
    return audit("legacy")


def one(result: AnalysisResult, rule: str, function: str) -> Finding:
    (found,) = [f for f in result.findings if f.rule == rule and f.function == function]
    assert found.fix.language == ("javascript" if found.path.endswith("js") else "typescript")
    assert not any(token in found.fix.code for token in PYTHON_ONLY), found.fix.code
    return found


def test_every_fix_in_typescript_code_is_typescript(
    naive: AnalysisResult, prisma: AnalysisResult, legacy: AnalysisResult
) -> None:
    findings = [*naive.findings, *prisma.findings]
    assert {f.rule for f in findings} >= {"DBA101", "DBA102", "DBA103", "DBA105", "DBA106"}
    for finding in findings:
        assert finding.fix.language == "typescript", finding
        assert "asyncio" not in finding.fix.summary and " dict" not in finding.fix.summary
    # .js/.cjs files: plain JavaScript, no type arguments
    assert {f.path for f in legacy.findings} == {"legacy/reports.cjs"}
    for finding in legacy.findings:
        assert finding.fix.language == "javascript", finding
        assert "<" not in finding.fix.code, finding.fix.code


def test_dba102_batches_with_in_array_and_groups_in_a_map(naive: AnalysisResult) -> None:
    (outer, inner) = sorted(
        (f for f in naive.findings if f.function == "ChainService.userChainsWithRenders"),
        key=lambda f: f.line,
    )
    code = outer.fix.code
    assert code.startswith("const projects = await ProjectsDAL.listForUser(userId);\n")
    assert "const keys = projects.map((project) => project.id);" in code
    assert (
        "await db.select().from(renderChains).where(inArray(renderChains.projectId, keys))" in code
    )
    assert "new Map" in code and "byKey.get(project.id) ?? []" in code
    assert "`inArray`" in outer.fix.summary and "Map" in outer.fix.summary
    assert "inArray(renders.chainId, keys)" in inner.fix.code
    # the loop is quoted the way TypeScript writes it, in the message and the call chain
    assert "`for (const project of await ProjectsDAL.listForUser(userId))`" in outer.message
    assert "for (const chain of" in inner.call_chain[0].detail


def test_dba103_one_update_where_in_array(naive: AnalysisResult) -> None:
    code = one(naive, "DBA103", "ChainService.deleteChain").fix.code
    assert "const ids = renders.map((render) => render.id);" in code
    assert ".update(renders)" in code and ".where(inArray(renders.id, ids));" in code
    assert ".set({ chainId: null, chainPosition: null, updatedAt: new Date() })" in code


def test_dba105_promise_all_on_pools(naive: AnalysisResult, prisma: AnalysisResult) -> None:
    fix = one(naive, "DBA105", "profileStats").fix
    assert fix.code.startswith("const [counts, credits, recent, allRenders] = await Promise.all([")
    assert "  RendersDAL.recentForUser(userId, PROFILE_RECENT_RENDERS),\n" in fix.code
    assert "Promise.all" in fix.summary and "pool" in fix.summary
    fix = one(prisma, "DBA105", "dashboard").fix
    assert "`prisma` is a pool" in fix.summary and "own session" not in fix.summary
    assert "prisma.user.findUnique({ where: { id: userId } })," in fix.code


def test_dba105_a_transaction_handle_is_one_connection() -> None:
    source = """
        import { db } from "./db";
        export async function load(userId: number) {
          return db.transaction(async (tx) => {
            const user = await tx.select().from(users).where(eq(users.id, userId));
            const credit = await tx.select().from(credits).where(eq(credits.userId, userId));
            return { user, credit };
          });
        }
    """
    result = analyze([parse("lib/load.ts", textwrap.dedent(source)).module])
    (finding,) = [f for f in result.findings if f.rule == "DBA105"]
    assert "`tx`" in finding.fix.summary and "one connection" in finding.fix.summary
    assert "db.select().from(users)" in finding.fix.code and "tx." not in finding.fix.code
    assert finding.fix.code.startswith("const [user, credit] = await Promise.all([")


def test_dba106_left_joins_with_aliased_self_joins(naive: AnalysisResult) -> None:
    fix = one(naive, "DBA106", "renderWithContext").fix
    assert 'const parent = alias(renders, "parent");' in fix.code
    assert 'const reference = alias(renders, "reference");' in fix.code
    assert ".leftJoin(parent, eq(parent.id, renders.parentRenderId))" in fix.code
    assert ".leftJoin(renderChains, eq(renderChains.id, renders.chainId))" in fix.code
    assert ".where(eq(renders.id, renderId))" in fix.code
    assert "`leftJoin`" in fix.summary and "alias" in fix.summary


def test_dba107_left_join(naive: AnalysisResult) -> None:
    fix = one(naive, "DBA107", "creditsWithReset").fix
    assert ".leftJoin(userSubscriptions, eq(userSubscriptions.userId, userCredits.userId))" in (
        fix.code
    )
    assert ".where(eq(userCredits.userId, userId))" in fix.code


def test_dba108_count_in_sql(naive: AnalysisResult) -> None:
    found = one(naive, "DBA108", "profileStats")
    assert "`allRenders.length`" in found.message and "len()" not in found.message
    assert ".select({ allRendersCount: count() })" in found.fix.code
    assert ".where(eq(projects.userId, userId))" in found.fix.code
    assert "sql<number>`count(*)`" in found.fix.summary


def test_prisma_fixes(prisma: AnalysisResult) -> None:
    found = one(prisma, "DBA101", "projectOverviews")
    assert "over `projects.map((project) => ...)`" in found.message
    code = found.fix.code
    assert "await prisma.render.findMany({ where: { projectId: { in: keys } } })" in code
    code = one(prisma, "DBA103", "archiveRenders").fix.code
    assert code.startswith(
        "await prisma.render.updateMany({ where: { id: { in: renderIds } }, "
        'data: { status: "archived" } });'
    )


def test_node_postgres_and_knex_fixes(legacy: AnalysisResult) -> None:
    code = one(legacy, "DBA101", "chainReport").fix.code
    assert 'pool.query("SELECT * FROM renders WHERE chain_id = ANY($1)", [chainIds])' in code
    assert "$1 for" not in code and "byKey.get(id)" in code
    code = one(legacy, "DBA103", "touchAll").fix.code
    assert 'await knex("renders").whereIn("id", ids).update({ ... });' in code


def test_dba110_pages_with_limit(naive: AnalysisResult) -> None:
    fix = one(naive, "DBA110", "RendersDAL.getByChainId").fix
    assert fix.code.startswith("db.select().from(renders)") and ".limit(pageSize)" in fix.code


def test_findings_in_typescript_tests_are_info() -> None:
    source = """
        import { db } from "../lib/db";
        export async function seed(ids: number[]) {
          for (const id of ids) {
            await db.update(renders).set({ status: "done" }).where(eq(renders.id, id));
          }
        }
    """
    # seeding scripts run once too (``prisma/seed.ts``)
    for path in ("src/renders.spec.ts", "src/__tests__/seed.ts", "e2e/seed.ts", "prisma/seed.ts"):
        (finding,) = analyze([parse(path, textwrap.dedent(source)).module]).findings
        assert finding.rule == "DBA103" and finding.severity == Severity.INFO, path
    (finding,) = analyze([parse("src/jobs.ts", textwrap.dedent(source)).module]).findings
    assert finding.severity == Severity.HIGH


DBA103_ONCE_PER_LOOP = """
import { db } from "./db";

export async function claimFirstFree(seats: Seat[], userId: string) {
  for (const seat of seats) {
    if (seat.free) {
      await db.update(seats).set({ userId }).where(eq(seats.id, seat.id));
      break;
    }
  }
}

export async function adoptFirst(candidates: Candidate[]) {
  for (const candidate of candidates) {
    if (!candidate.ready) continue;
    await db.delete(queue).where(eq(queue.id, candidate.id));
    return candidate;
  }
}

export async function syncNamed(releases: Release[]) {
  for (const release of releases) {
    const name = release.name;
    if (name === STABLE_NAME) {
      await db.update(releases).set({ pin: true }).where(eq(releases.id, release.id));
    }
  }
}

export async function renameOwn(rows: Row[], slug: string) {
  for (const row of rows) {
    if (row.slug === slug && row.active) {
      await db.update(rowsTable).set({ title: "x" }).where(eq(rowsTable.id, row.id));
    }
  }
}

export async function inTransaction(ids: string[]) {
  for (const id of ids) {
    await db.transaction(async (tx) => {
      await tx.delete(renders).where(eq(renders.id, id)); // expect: DBA103
      return id;
    });
  }
}

export async function everyPending(rows: Row[]) {
  for (const row of rows) {
    if (row.status === "pending") {
      await db.delete(rowsTable).where(eq(rowsTable.id, row.id)); // expect: DBA103
    }
  }
}

export async function returnedFromCallback(ids: string[]) {
  await Promise.all(
    ids.map(async (id) => {
      return db.update(renders).set({ a: 1 }).where(eq(renders.id, id)); // expect: DBA103
    }),
  );
}

export async function untilTold(ids: string[], skip: Set<string>) {
  for (const id of ids) {
    await db.delete(renders).where(eq(renders.id, id)); // expect: DBA103
    if (skip.has(id)) continue;
    break;
  }
}
"""


def test_dba103_writes_that_run_once_per_loop_are_not_flagged() -> None:
    # a write that a break/return follows, or in an arm taken for one item (``row.slug ===
    # slug``), runs once per loop; a callback's ``return`` only ends that item's callback
    module = parse("lib/once.ts", DBA103_ONCE_PER_LOOP).module
    found = {f.line for f in analyze([module], select=["DBA103"]).findings}
    lines = DBA103_ONCE_PER_LOOP.splitlines()
    expected = {n for n, line in enumerate(lines, start=1) if "expect: DBA103" in line}
    assert found == expected


def test_dba201_only_engines_a_running_service_keeps() -> None:
    db = """
        import { Pool } from "pg";
        import { drizzle } from "drizzle-orm/node-postgres";
        export const pool = new Pool({ connectionString: process.env.DATABASE_URL });
        export const db = drizzle(pool);
    """
    service = """
        import { db } from "./db";
        export async function list() { return db.select().from(users).limit(10); }
    """
    migrate = """
        import postgres from "postgres";
        export async function migrateAll(url: string) {
          const sql = postgres(url, { max: 1 });
          await runMigrations(sql);
          await sql.end();
        }
        export async function ping(url: string) {
          const client = new Client({ connectionString: url });
          await client.connect();
          await client.query("select 1");
        }
    """
    modules = [
        parse("lib/db.ts", textwrap.dedent(db)).module,
        parse("lib/service.ts", textwrap.dedent(service)).module,
        parse("lib/migrate.ts", textwrap.dedent(migrate)).module,
    ]
    findings = analyze(modules, select=["DBA201"]).findings
    assert [(f.path, f.line) for f in findings] == [("lib/db.ts", 4)]


DBA105_NOT_SEQUENTIAL = """
import { prisma } from "./db";
import { after } from "next/server";

export async function guarded(spaceId: string, userId: string) {
  if (!(await prisma.space.count({ where: { id: spaceId } }))) {
    return null;
  }
  return prisma.user.findUnique({ where: { id: userId } });
}

export async function eitherList(pollId: string, userId: string | undefined, mine: boolean) {
  if (mine) {
    return await prisma.comment.findMany({ where: { pollId, userId } });
  }
  return await prisma.comment.findMany({ where: { pollId } });
}

export async function afterTheResponse(spaceId: string, userId: string) {
  const space = await prisma.space.findUnique({ where: { id: spaceId } });
  after(async () => {
    const user = await prisma.user.findUnique({ where: { id: userId } });
    await sendEmail(user);
  });
  return space;
}

export async function countAfterDelete(pollId: string, ids: string[]) {
  const poll = await prisma.poll.findUnique({ where: { id: pollId } });
  await prisma.option.deleteMany({ where: { id: { in: ids } } });
  const remaining = await prisma.option.count({ where: { pollId } });
  return { poll, remaining };
}

export async function independent(pollId: string, userId: string) {
  const poll = await prisma.poll.findUnique({ where: { id: pollId } }); // expect: DBA105
  const user = await prisma.user.findUnique({ where: { id: userId } });
  return { poll, user };
}
"""


def test_dba105_guards_exclusive_returns_deferred_callbacks_and_writes() -> None:
    # a query behind an unnamed guard depends on it; two returns never both run; ``after``'s
    # callback runs once the response is sent; a count after a delete needs the delete
    module = parse("lib/sequential.ts", DBA105_NOT_SEQUENTIAL).module
    found = {f.line for f in analyze([module], select=["DBA105"]).findings}
    lines = DBA105_NOT_SEQUENTIAL.splitlines()
    expected = {n for n, line in enumerate(lines, start=1) if "expect: DBA105" in line}
    assert found == expected


def test_dba105_a_prisma_client_is_a_pool_whatever_it_is_called() -> None:
    # umami keeps its client as ``client``: still a pool, so no "one connection" advice; its
    # transaction handle ``tx`` is one connection
    source = """
        import { PrismaClient } from "@prisma/client";
        const client = new PrismaClient();
        export async function paged(where: object) {
          const rows = await client.user.findMany({ where, take: 20 });
          const total = await client.user.count({ where });
          return { rows, total };
        }
    """
    (finding,) = analyze([parse("lib/paged.ts", textwrap.dedent(source)).module]).findings
    assert finding.rule == "DBA105"
    assert "one connection" not in finding.fix.summary.split(":")[0]
    assert "Promise.all" in finding.fix.summary and "`client` is a pool" in finding.fix.summary
