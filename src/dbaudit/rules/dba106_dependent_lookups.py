"""DBA106: dependent related-row lookups.

## What it does
Finds a query that fetches one row, followed by two or more queries that each fetch a related
row by one of its foreign keys (``render.parent_render_id``, ``render.chain_id``, ...), one at
a time, directly or through helpers such as ``RendersDAL.get_by_id``.

## Why is this bad?
Each lookup is a round trip that could not start before the first one finished: the latency
is the sum of all of them (``≤ 1 + k`` sequential queries). One query with LEFT JOINs (with
aliases for self-references) returns the row and all its related rows at once.

## Example
```python
render = await session.get(Render, render_id)
parent = await session.get(Render, render.parent_render_id)
chain = await session.get(RenderChain, render.chain_id)
```

## Use instead
```python
parent = aliased(Render)
row = (await session.execute(
    select(Render, parent, RenderChain)
    .outerjoin(parent, parent.id == Render.parent_render_id)
    .outerjoin(RenderChain, RenderChain.id == Render.chain_id)
    .where(Render.id == render_id)
)).first()
```

## References
- SQLAlchemy joins and aliases: https://docs.sqlalchemy.org/en/20/orm/queryguide/select.html#joins
- PostgreSQL joined tables: https://www.postgresql.org/docs/current/queries-table-expressions.html
"""

from __future__ import annotations

from collections.abc import Iterator

from dbaudit.analysis.program import Program
from dbaudit.analysis.sequences import Lookups, dependent_lookups
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import DbOp, Span
from dbaudit.rules import _typescript as ts
from dbaudit.rules._shared import language

CODE = "DBA106"
NAME = "dependent-lookups"
CATEGORY = "queries"


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if len(fn.db_ops) + len(fn.calls) < 3:
            continue
        for group in dependent_lookups(program, ref):
            base = group.base
            row = group.row_name
            table = base.tables[0] if base.tables else "Row"
            count = 1 + len(group.lookups)
            conditional = any(e.branch for e in group.lookups)
            cost = f"{'≤ ' if conditional else ''}{count} (sequential)"
            joins = []
            for attr, event in zip(group.attributes, group.lookups, strict=True):
                other = event.tables[0] if event.tables else "Related"
                alias = attr.removesuffix("_id").removesuffix("_render") or attr
                if other == table:
                    joins.append(f"    .outerjoin({alias}, {alias}.id == {table}.{attr})")
                else:
                    joins.append(f"    .outerjoin({other}, {other}.id == {table}.{attr})")
            aliases = [
                f"{attr.removesuffix('_id').removesuffix('_render')} = aliased({table})"
                for attr, event in zip(group.attributes, group.lookups, strict=True)
                if (event.tables[0] if event.tables else "") == table
            ]
            key = base.keys[0].value if base.keys and base.keys[0].value else f"{row}_id"
            code = "\n".join(
                [
                    *aliases,
                    "row = (await session.execute(",
                    f"    select({table}, ...)",
                    *joins,
                    f"    .where({table}.id == {key})",
                    ")).first()",
                ]
            )
            span = Span(base.span.line, group.lookups[-1].span.end_line, base.span.col)
            attrs = ", ".join(f"`{row}.{a}`" for a in group.attributes)
            lang = language(ref)
            summary = (
                f"Fetch `{row}` and its related rows in one query with LEFT JOINs on "
                f"{attrs} (aliases for self-references)."
            )
            if ts.is_typescript(lang):
                op = base.op or (
                    program.reach(base.target).first_op if base.target is not None else None
                )
                code, summary = _typescript_fix(group, op, table, row, attrs)
            yield program.finding(
                rule=CODE,
                severity=Severity.MEDIUM,
                message=f"`{row}` is fetched, then {len(group.lookups)} related rows are looked "
                f"up one at a time by its foreign keys ({attrs}); one JOIN query would do",
                ref=ref,
                span=span,
                query_cost=cost,
                fixed_query_cost="1",
                fix=Fix(summary, code, lang),
                problem=(
                    f"`{fn.qualname}` loads `{row}` with `{base.name}`, then runs "
                    + ", ".join(f"`{e.name}`" for e in group.lookups)
                    + f" one after another, each keyed by a foreign key of `{row}`: {cost} round "
                    "trips, each waiting for the previous one."
                ),
                confidence="high",
            )


def _typescript_fix(
    group: Lookups, op: DbOp | None, table: str, row: str, attrs: str
) -> tuple[str, str]:
    """``leftJoin`` per foreign key, ``alias(renders, "parent")`` for self-references
    (Drizzle), ``include`` (Prisma)."""
    base = group.base
    key = base.keys[0].value if base.keys and base.keys[0].value else f"{row}Id"
    joins = []
    for attr, event in zip(group.attributes, group.lookups, strict=True):
        other = event.tables[0] if event.tables else "related"
        joins.append((attr, other, ts.self_alias(attr) if other == table else ""))
    code = ts.joined_lookup_code(op, row, table, key, joins)
    library = ts.library_of(op)
    if library == "prisma":
        how = "one `findUnique` with `include` for the relations"
    elif library in {"knex", "pg", "mysql2"}:
        how = "one query with LEFT JOINs (table aliases for self-references)"
    else:
        how = "one query with `leftJoin`s, `alias(...)` for the self-references"
    return code, f"Fetch `{row}` and its related rows ({attrs}) in {how}."
