"""DBA110: unbounded list query in request-serving code (advisory).

## What it does
Finds a query returning rows with no ``LIMIT`` (no ``.limit()``, ``[:n]``, ``first()``...),
no aggregate and no batched key list, in a function that serves a request: a route handler
(``@app.get``, ``@router.post``, ``@api_view``, ...), code under ``views``/``handlers``/
``routes``/``api``/``actions``, or anything they call.

A TypeScript query whose first row only is kept (``const [row] = await db.select()...``),
with no LIMIT and no key, is no list returned but still fetches every matching row: the
finding asks for a LIMIT 1 (``.limit(1)``, Prisma's ``findFirst``) instead. Keyed by the row's
id (written in place, or in an array of conditions the where spreads), it is one row.

It is ``info``: many such lists are bounded by the data model (a user's few projects), which a
static tool cannot know. It never fails ``dbaudit check``.

## Why is this bad?
A list without a bound grows with the data. The endpoint that returns 50 rows today returns
500,000 for the largest customer, with the memory, latency and payload that goes with it.

## Example
```python
return (await session.scalars(select(Render).where(Render.user_id == user_id))).all()
```

## Use instead
```python
query = select(Render).where(Render.user_id == user_id).order_by(Render.id).limit(page_size)
```

## References
- PostgreSQL LIMIT and OFFSET: https://www.postgresql.org/docs/current/queries-limit.html
- Keyset pagination: https://use-the-index-luke.com/no-offset
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pglast
import pglast.parser
import pglast.visitors

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import Program
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import DbOp
from dbaudit.rules import _typescript as ts

CODE = "DBA110"
NAME = "unbounded-list-query"
CATEGORY = "queries"

_FROM = re.compile(r"\bFROM\b", re.IGNORECASE)
_DRIVERS = frozenset({"asyncpg", "psycopg", "psycopg2", "sqlite3", "dbapi"})


def check(program: Program) -> Iterator[Finding]:
    serving = program.serving
    for ref in program.functions:
        if ref.id not in serving:
            continue
        for op in ref.function.db_ops:
            if op.kind != "select" or op.result_shape != "rows":
                continue
            if op.has_limit or op.batched or op.aggregate or op.single_key or op.loops:
                continue
            if not op.tables and not op.sql:
                continue  # nothing says what it lists (a driver call on a statement variable)
            if _reads_no_table(op):
                continue  # ``SELECT 1``, ``SELECT now()``: one row, whatever the data
            if _read_as_one_row(ref, op):
                continue  # ``result = await s.execute(q); row = result.scalar_one_or_none()``
            table = op.tables[0] if op.tables else "rows"
            lang = ts.module_language(ref.module)
            if op.first_row_only and ts.is_typescript(lang):
                yield _first_row_finding(program, ref, op, table, lang)
                continue
            if ts.is_typescript(lang):
                code = ts.bounded_list_code(op)
            elif op.sql and op.library in _DRIVERS:
                code = _bounded_sql(op, table)
            elif op.library == "django":
                code = f"{op.api}(...).order_by('id')[:page_size]"
            else:
                code = f"select({table}).where(...).order_by({table}.id).limit(page_size)"
            yield program.finding(
                rule=CODE,
                severity=Severity.INFO,
                message=f"`{op.api}` lists {table if op.tables else 'its'} rows without a LIMIT "
                "in request-serving code",
                ref=ref,
                span=op.span,
                query_cost="1 (rows grow with the data)",
                fixed_query_cost="1 (bounded page)",
                fix=Fix(
                    "Bound the list: a LIMIT with keyset pagination, or a documented maximum.",
                    code,
                    lang,
                ),
                problem=(
                    f"`{ref.function.qualname}` serves a request and returns every matching "
                    f"{table + ' ' if op.tables else ''}row; the response grows with the data."
                ),
                confidence="low",
            )


# Result methods that read one row (SQLAlchemy's ``Result``/``ScalarResult``, DB-API cursors):
# the same the frontend takes as a bound when chained on the call itself
_ONE_ROW_METHODS = frozenset(
    {
        "first",
        "one",
        "one_or_none",
        "scalar",
        "scalar_one",
        "scalar_one_or_none",
        "fetchone",
    }
)


# Result methods that give the same rows in another form
_SAME_ROWS = frozenset({"unique()", "scalars()", "tuples()", "mappings()"})


def _read_as_one_row(ref: FunctionRef, op: DbOp) -> bool:
    """The query's result, kept in one name, is read only as one row after it
    (``result.scalar_one_or_none()``): what ``(await s.execute(q)).scalar_one_or_none()``
    says in one expression, which the frontend already takes as no list. Any other read of
    the name (iterated, returned, handed on, ``.scalars().all()``) keeps it a list."""
    if len(op.targets) != 1 or not op.targets[0].isidentifier():
        return False
    name = op.targets[0]
    fn = ref.function
    calls = [c.callee for c in fn.calls if c.seq > op.seq and c.callee.startswith(f"{name}.")]
    # each read of the name is one chain: ``result.unique().scalar_one_or_none()`` is the
    # calls ``result.unique`` and ``result.unique().scalar_one_or_none``, its last one
    chains = [c for c in calls if not any(o != c and o.startswith(f"{c}().") for o in calls)]
    if not chains:
        return False
    for chain in chains:
        *between, last = chain.removeprefix(f"{name}.").split(".")
        if last not in _ONE_ROW_METHODS or any(p not in _SAME_ROWS for p in between):
            return False
    return dict(fn.name_loads).get(name, 0) == len(chains)


def _first_row_finding(
    program: Program, ref: FunctionRef, op: DbOp, table: str, lang: str
) -> Finding:
    """``const [row] = await db.select()...`` with no LIMIT and no key: the list is not
    returned, but every matching row still crosses the wire for the first to be kept (and,
    under FOR UPDATE, is locked). A LIMIT 1 says what the code means."""
    locks = ".for(" in op.text or "forUpdate(" in op.text
    return program.finding(
        rule=CODE,
        severity=Severity.INFO,
        message=f"`{op.api}` fetches every matching {table} row to keep only the first: "
        "add a LIMIT 1",
        ref=ref,
        span=op.span,
        query_cost="1 (every matching row fetched, one kept)",
        fixed_query_cost="1 (one row)",
        fix=Fix(
            "Ask for the one row the code keeps (LIMIT 1), with an ORDER BY if which one "
            "matters."
            + (
                " Under FOR UPDATE a LIMIT 1 also locks only that row: keep every matching "
                "row locked only if that is the point."
                if locks
                else ""
            ),
            ts.first_row_code(op),
            lang,
        ),
        problem=(
            f"`{ref.function.qualname}` keeps the first row of a query on {table} with no "
            "LIMIT and no key: the database sends every row the filter matches."
        ),
        confidence="medium",
    )


def _reads_no_table(op: DbOp) -> bool:
    """SQL text, whole, with no FROM: it computes one row (a health check's ``SELECT 1``)
    instead of listing a table's rows, however the driver call returns it. A FROM of
    subqueries that read no table either (``SELECT true FROM (SELECT
    pg_advisory_xact_lock(...)) lock``, a lock taken through ``$queryRaw``) is one row too;
    a set-returning function (``generate_series``) is a source of rows like a table."""
    if not op.sql or op.sql.endswith("…"):
        return False
    if not _FROM.search(op.sql):
        return True
    try:
        tree = pglast.parse_sql(op.sql)
    except pglast.parser.ParseError:
        return False  # not PostgreSQL's syntax, or not whole: nothing known
    sources: list[object] = []

    class _Sources(pglast.visitors.Visitor):
        def visit_RangeVar(self, parent: object, node: object) -> None:
            sources.append(node)

        def visit_RangeFunction(self, parent: object, node: object) -> None:
            sources.append(node)

    _Sources()(tree)
    return not sources


def _bounded_sql(op: DbOp, table: str) -> str:
    """The driver's own statement, given a keyset page (asyncpg, psycopg, sqlite3, DB-API)."""
    placeholder = ("$1", "$2") if op.library == "asyncpg" else ("%s", "%s")
    if op.library == "sqlite3":
        placeholder = ("?", "?")
    statement = (
        f'"SELECT ... FROM {table} WHERE ... AND id > {placeholder[0]} '
        f'ORDER BY id LIMIT {placeholder[1]}"'
    )
    if op.library == "asyncpg":
        return f"await {op.receiver or 'conn'}.fetch({statement}, after, page_size)"
    return f"{op.receiver or 'cursor'}.execute({statement}, (after, page_size))"
