"""Small helpers the rule modules share: loop descriptions and fix code written for the code."""

from __future__ import annotations

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.cost import Cost
from dbaudit.model import DbOp, Filter, Function, Loop
from dbaudit.rules import _typescript as ts

_NESTED_BY_DEPTH = {1: "a query per {noun}", 2: "queries per {noun} of each outer item"}


def loop_header(loop: Loop, language: str = "python") -> str:
    """The loop as its language writes it, for messages and call-chain hops."""
    if ts.is_typescript(language):
        return ts.loop_header(loop)
    target = ", ".join(loop.targets) or "_"
    if loop.kind == "while":
        return f"while {loop.iterable}"
    keyword = "async for" if loop.is_async else "for"
    return f"{keyword} {target} in {loop.iterable}"


def noun(loop: Loop) -> str:
    return loop.targets[0].split(".")[-1] if loop.targets else "iteration"


def fixed_cost(cost: Cost) -> str:
    """The cost once every per-item query is batched: one query per query site."""
    total = cost.total_constant + sum(c for m, c in cost.terms if m)
    return str(max(total, 1))


def key_filter(op: DbOp | None, loop: Loop | None = None) -> Filter | None:
    """The filter that ties a per-item query to the loop variable (``project_id == p.id``)."""
    if op is None:
        return None
    targets = set(loop.targets) if loop is not None else set()
    for flt in op.filters:
        base = flt.value.split(".")[0].split("[")[0]
        if flt.op in {"==", "in"} and (not targets or base in targets):
            return flt
    return next((f for f in op.filters if f.op == "=="), None)


def main_table(op: DbOp | None, fallback: str = "Row") -> str:
    if op is not None and op.tables:
        return op.tables[0]
    return fallback


def is_write(op: DbOp) -> bool:
    return op.kind in {"insert", "update", "delete", "flush"}


def language(ref: FunctionRef) -> str:
    """The language fixes are written in: the one of the module the finding is in."""
    return ts.module_language(ref.module)


def is_typescript(ref: FunctionRef) -> bool:
    return ts.is_typescript(ref.module.language)


def batched_in(op: DbOp | None, language: str) -> str:
    """How the fix batches the keys, in the words of the library (for fix summaries)."""
    if not ts.is_typescript(language):
        return "IN / ANY on the keys"
    library = ts.library_of(op)
    if library == "prisma":
        return "`{ in: keys }` in the where"
    if library == "knex":
        return "`whereIn` on the keys"
    if library in {"pg", "mysql2"}:
        return "`= ANY($1)` on the keys"
    return "`inArray` on the keys"


def batched_select_code(
    op: DbOp | None,
    loop: Loop,
    library: str = "",
    key: Filter | None = None,
    language: str = "python",
) -> str:
    """``for p in projects: <query keyed by p.id>`` rewritten as one IN query and a dict."""
    if ts.is_typescript(language):
        return ts.batched_select_code(op, loop, key or key_filter(op, loop), language)
    table = main_table(op)
    item = noun(loop)
    flt = key or key_filter(op, loop)
    column = flt.column if flt else "id"
    value = flt.value if flt and flt.value else f"{item}.id"
    library = library or (op.library if op else "sqlalchemy")
    lines = []
    items = loop.iterable
    if "(" in items or "await" in items:
        items = f"{item}s" if not item.endswith("s") else f"{item}_list"
        lines.append(f"{items} = {loop.iterable}")
    lines.append(f"keys = [{value} for {item} in {items}]")
    if library == "django":
        lines.append(f"rows = list({table}.objects.filter({column}__in=keys))")
    elif library == "asyncpg":
        sql = f"SELECT * FROM {table} WHERE {column} = ANY($1)"
        lines.append(f'rows = await conn.fetch("{sql}", keys)')
    elif library in {"psycopg", "psycopg2", "sqlite3", "dbapi"}:
        sql = f"SELECT * FROM {table} WHERE {column} = ANY(%s)"
        lines.append(f'cursor.execute("{sql}", (keys,))')
        lines.append("rows = cursor.fetchall()")
    else:
        query = f"select({table}).where({table}.{column}.in_(keys))"
        if op is not None and not op.awaited:
            lines.append(f"rows = session.scalars({query}).all()")
        else:
            lines.append(f"rows = (await session.scalars({query})).all()")
    lines[-1] += "  # one query for all of them"
    lines += [
        "by_key: dict = {}",
        "for row in rows:",
        f"    by_key.setdefault(row.{column}, []).append(row)",
        f"for {item} in {items}:",
        f"    ...  # use by_key.get({value}, [])",
    ]
    return "\n".join(lines)


def loops_of(fn: Function, ids: tuple[int, ...]) -> list[Loop]:
    return [fn.loops[i] for i in ids]


def fanned_out(fn: Function, loop: Loop) -> bool:
    """The loop is inside an ``asyncio.gather(...)``/``Promise.all(...)`` call: the per-item
    queries run concurrently, but there are still N of them (N round trips, N connections)."""
    return any(
        g.span.line <= loop.span.line and loop.span.end_line <= g.span.end_line for g in fn.gathers
    )
