"""Generated Python fed through the whole static pipeline: discovery, parse, analysis, reports.

Sources are built from statements that real data layers use (ORM, Core, Django, DB-API,
asyncpg calls, loops, awaits, comprehensions, gather, nested functions, model classes) and
from arbitrary text. Whatever comes in, the audit finishes: a file is either analyzed or
listed with a reason, never an internal error, and every reporter renders the result.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbaudit.audit import AuditOptions, scan
from dbaudit.report import render

EXPRESSIONS = (
    "x",
    "ids",
    "await session.execute(select(Render).where(Render.id == x))",
    "(await session.scalars(select(Render).where(Render.chain_id.in_(ids)))).all()",
    "session.query(Render).filter(Render.id == x).all()",
    "session.query(Render).options(selectinload(Render.chain)).all()",
    "await session.get(Render, x)",
    "Render.objects.filter(project_id=x).select_related('chain').first()",
    "Render.objects.all()",
    "await conn.fetch('SELECT * FROM renders WHERE id = $1', x)",
    "await pool.fetchrow('SELECT count(*) FROM renders')",
    "cur.execute('UPDATE renders SET status = %s WHERE id = %s', (s, x))",
    "cur.executemany('INSERT INTO t VALUES (?)', rows)",
    "await RendersDAL.get_by_id(session, x)",
    "await self.dal.list_for(x)",
    "cls.helper(x)",
    "helper(x)",
    "[await session.get(Render, i) for i in ids]",
    "{r.id: r for r in rows}",
    "await asyncio.gather(*(load(i) for i in ids))",
    "len(rows)",
    "sum(r.credits for r in rows)",
    "x.renders",
    "project.owner.name",
    "session.add(Render(id=x))",
    "await session.commit()",
    "update(Render).where(Render.id.in_(ids)).values(status='done')",
    "insert(Render).values([{'id': i} for i in ids])",
    "text('SELECT 1')",
    "lambda r: r.id",
    "create_async_engine(url, pool_size=5)",
    "f'{x}'",
    "None",
)
TARGETS = ("x", "rows", "render", "project", "result", "self.cache", "a, b", "ids[0]")
LOOP_HEADERS = (
    "for x in ids:",
    "for project in projects:",
    "for chunk in chunked(ids, 500):",
    "async for row in await session.stream(select(Render)):",
    "while x:",
    "for i in range(3):",
)
BLOCK_HEADERS = (
    *LOOP_HEADERS,
    "if x:",
    "else:",
    "with session.begin():",
    "async with session_factory() as session:",
    "try:",
    "except Exception:",
    "def helper(x):",
    "async def load(session, x):",
    "@staticmethod\nasync def get_by_id(session, x):",
    "class RendersDAL:",
    "class Render(Base):",
    "async with asyncio.TaskGroup() as tg:",
)


@dataclass(frozen=True)
class Block:
    header: str
    body: tuple[object, ...]


simple_statements = st.one_of(
    st.sampled_from(EXPRESSIONS),
    st.builds(lambda t, e: f"{t} = {e}", st.sampled_from(TARGETS), st.sampled_from(EXPRESSIONS)),
    st.builds(lambda e: f"return {e}", st.sampled_from(EXPRESSIONS)),
    st.sampled_from(
        (
            "__tablename__ = 'renders'",
            "chain = relationship('RenderChain', lazy='select')",
            "chain_id = mapped_column(ForeignKey('render_chains.id'))",
            "pass",
            "break",
            "continue",
            "tg.create_task(load(session, x))",
            "from sqlalchemy import select, update, insert",
            "from app.dal.renders import RendersDAL",
            "import asyncio",
            "x += 1  # dbaudit: ignore[DBA101]",
            "rows.append(x)  # dbaudit: ignore",
        )
    ),
)

statements = st.recursive(
    simple_statements,
    lambda children: st.builds(
        Block, st.sampled_from(BLOCK_HEADERS), st.lists(children, min_size=1, max_size=4).map(tuple)
    ),
    max_leaves=25,
)


def _render(statement: object, indent: str = "") -> list[str]:
    if isinstance(statement, Block):
        lines = [indent + line for line in statement.header.splitlines()]
        for child in statement.body:
            lines.extend(_render(child, indent + "    "))
        return lines
    return [indent + str(statement)]


python_sources = st.lists(statements, min_size=1, max_size=8).map(
    lambda parts: "\n".join(line for part in parts for line in _render(part)) + "\n"
)
any_text = st.text(max_size=300).map(lambda t: "import sqlalchemy\n" + t)
sources = st.one_of(python_sources, python_sources, any_text)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(sources, min_size=1, max_size=4))
def test_the_pipeline_never_crashes(files: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "app" / "dal").mkdir(parents=True)
        names = ["app/dal/renders.py", "app/services.py", "app/views.py", "app/models.py"]
        for name, source in zip(names, files, strict=False):
            (root / name).write_text(source, encoding="utf-8", errors="surrogatepass")
        run = scan(["app"], AuditOptions(cwd=folder, use_cache=False, jobs=1))
    audit = run.audit
    internal = [s for s in audit.skipped if s.reason.startswith("internal error")]
    assert internal == [], internal
    seen = {f.path for f in audit.files} | {s.path for s in audit.skipped}
    assert seen == set(names[: len(files)])
    for finding in audit.findings:
        assert finding.path in seen and finding.line >= 1 and finding.rule.startswith("DBA")
    for fmt in ("text", "markdown"):
        assert render(audit, fmt)
    assert json.loads(render(audit, "json"))["summary"]["files_audited"] == len(audit.files)
