"""Generated TypeScript and JavaScript fed through the whole static pipeline, as for Python.

Sources mix statements real Node data layers use (Drizzle, Prisma, Knex, node-postgres calls,
loops, awaits, Promise.all, classes) with arbitrary text. Whatever comes in, the audit
finishes: each file is analyzed or listed with a reason, never an internal error, and every
reporter renders the result.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbaudit.audit import AuditOptions, scan
from dbaudit.report import FORMATS, render

EXPRESSIONS = (
    "x",
    "await db.select().from(renders).where(eq(renders.id, x))",
    "await db.select().from(renders).where(inArray(renders.id, ids))",
    "await db.query.renders.findMany({ with: { chain: true } })",
    "await db.update(renders).set({ status: 'done' }).where(eq(renders.id, x))",
    "await prisma.render.findUnique({ where: { id: x } })",
    "await prisma.render.findMany({ include: { chain: true } })",
    "await knex('renders').where({ id: x }).first()",
    "await pool.query('SELECT * FROM renders WHERE id = $1', [x])",
    "await RendersDAL.getById(x)",
    "await this.repo.find(x)",
    "await Promise.all(ids.map(async (i) => db.select().from(renders).where(eq(renders.id, i))))",
    "rows.length",
    "ids.map((i) => i * 2)",
    "x ? await load(x) : null",
    "sql`SELECT count(*) FROM renders`",
    "new Pool({ connectionString })",
    "`${x}`",
    "null",
)
TARGETS = ("x", "rows", "[row]", "{ id, name }", "result")
HEADERS = (
    "for (const x of ids) {",
    "for await (const x of stream) {",
    "while (x) {",
    "ids.forEach(async (x) => {",
    "if (x) {",
    "export async function load(ids: number[]) {",
    "class RendersDAL { static async getById(x: number) {",
    "try {",
)


@st.composite
def statement(draw: st.DrawFn) -> str:
    expression = draw(st.sampled_from(EXPRESSIONS))
    kind = draw(st.sampled_from(("const", "return", "expr", "raw")))
    if kind == "const":
        return f"const {draw(st.sampled_from(TARGETS))} = {expression};"
    if kind == "return":
        return f"return {expression};"
    if kind == "raw":
        return draw(st.text(max_size=30))
    return f"{expression};"


@st.composite
def source(draw: st.DrawFn) -> str:
    lines = ['import { db } from "@/lib/db";']
    depth = 0
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            lines.append("  " * depth + draw(st.sampled_from(HEADERS)))
            depth += 1
        lines.append("  " * depth + draw(statement()))
        if depth and draw(st.booleans()):
            depth -= 1
            lines.append("  " * depth + "}")
    if draw(st.booleans()):  # sometimes leave blocks open: a syntax error to recover from
        lines.extend("}" for _ in range(depth))
    return "\n".join(lines) + "\n"


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    files=st.lists(
        st.tuples(st.sampled_from((".ts", ".tsx", ".js", ".mjs", ".d.ts")), source()),
        min_size=1,
        max_size=4,
    )
)
def test_the_audit_never_fails_on_generated_typescript(files: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "tsconfig.json").write_text('{"compilerOptions": {"paths": {"@/*": ["./*"]}}}')
        for number, (suffix, text) in enumerate(files):
            (root / "lib").mkdir(exist_ok=True)
            (root / "lib" / f"m{number}{suffix}").write_text(text, encoding="utf-8")
        run = scan(["lib"], AuditOptions(cwd=folder, use_cache=False, jobs=1))
        audit = run.audit
        reasons = [s.reason for s in audit.skipped]
        assert not any(r.startswith("internal error") for r in reasons), reasons
        analyzed = {f.path for f in audit.files}
        skipped = {s.path for s in audit.skipped if not s.reason.startswith("partly analyzed")}
        assert len(analyzed | skipped) == len(files)
        for fmt in FORMATS:
            assert render(audit, fmt)
