"""DBA108: rows fetched only to be counted or summed.

## What it does
Finds a query (or a helper returning rows) whose result is used only by ``len(...)`` or
``sum(...)`` in Python: every row crosses the network and is turned into objects just to be
counted.

## Why is this bad?
The database can count or sum without sending rows: ``SELECT count(*)`` returns one number
whatever the table size, while fetching all rows costs transfer time and memory proportional
to the data (and ORM object construction on top).

## Example
```python
all_renders = await RendersDAL.list_for_user_projects(session, user_id)
total = len(all_renders)
```

## Use instead
```python
total = await session.scalar(
    select(func.count(Render.id)).join(Project).where(Project.user_id == user_id)
)
```

## References
- SQLAlchemy aggregate functions: https://docs.sqlalchemy.org/en/20/tutorial/data_select.html#aggregate-functions-with-group-by-having
- Django ``count()`` / ``aggregate()``: https://docs.djangoproject.com/en/stable/topics/db/aggregation/
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import ROW_SHAPES, Program
from dbaudit.findings import CallHop, Finding, Fix, Severity
from dbaudit.model import Call, DbOp, Span
from dbaudit.rules import _typescript as ts
from dbaudit.rules._shared import language, sqlalchemy_condition

CODE = "DBA108"
NAME = "rows-fetched-to-count"
CATEGORY = "queries"


def _only_counted(program: Program, ref: FunctionRef, name: str) -> list[Call]:
    fn = ref.function
    uses = program.loads(fn, name)
    if uses == 0:
        return []
    counters = [c for c in fn.calls if c.callee in {"len", "sum"} and name in c.reads and c.seq]
    if len(counters) != uses:
        return []
    return counters


# ``sum(t.amount for t in rows)``: the column the rows are summed on
_SUMMED = re.compile(r"^[(\[]?\s*(\w+)\.(\w+)\s+for\s+(\w+)\s+in\s")


def _summed_column(counter: Call) -> str:
    """The column ``sum(...)`` adds up, when it is one attribute of each row; ""
    otherwise (``sum(r.amount * 2 for r in rows)``: the fix names no column)."""
    match = _SUMMED.match(counter.args[0]) if counter.args else None
    return match[2] if match and match[1] == match[3] else ""


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if not any(c.callee in {"len", "sum"} for c in fn.calls):
            continue
        candidates: list[tuple[DbOp, Span, str, tuple[CallHop, ...], str]] = []
        for op in fn.db_ops:
            # a LIMIT bounds what is fetched, and a count of it is no COUNT of the table:
            # ``findMany({ ..., take: limit + 1 })`` then ``rows.length > 0`` is an existence
            # check of at most a page (formbricks hasMoreRelevanceRowsInOtherBucket)
            if (
                op.kind == "select"
                and op.result_shape in ROW_SHAPES
                and not op.aggregate
                and not op.has_limit
            ):
                for target in op.targets:
                    candidates.append((op, op.span, target, (), op.text))
        for call, target_ref in program.graph.callees(ref):
            reach = program.reach(target_ref)
            returned = reach.returned_op
            if (
                returned is None
                or returned.aggregate
                or returned.has_limit
                or not reach.cost.is_constant
            ):
                continue
            if len(call.targets) > 1:
                continue  # ``const { created, skipped } = await helper()``: fields, not rows
            for target in call.targets:
                chain = (program.hop(ref, call.span.line, f"calls {call.callee}"), *reach.chain)
                candidates.append((returned, call.span, target, chain, call.callee))
        reported: set[str] = set()
        for op, span, name, chain, what in candidates:
            if "." in name or name == "<return>" or name in reported:
                continue  # ``rows = q1 | q2``: one name counted, one finding
            counters = _only_counted(program, ref, name)
            if not counters:
                continue
            how = counters[0].callee
            table = op.tables[0] if op.tables else "rows"
            aggregate = "count" if how == "len" else "sum"
            written = [sqlalchemy_condition(table, f) for f in op.filters]
            where = ", ".join(c for c in written if c)
            # the conditions no expression here says (an OR group, a BETWEEN, ``!= ANY``)
            # are named as written: a count without them counts other rows
            unread = [*op.unread_conditions]
            unread += [
                f"{f.column} {f.op} {f.value}"
                for f, c in zip(op.filters, written, strict=True)
                if not c and not f.part_of_unread
            ]
            kept = f"# keep the query's other conditions: {'; '.join(unread)}\n" if unread else ""
            summed = "id" if how == "len" else _summed_column(counters[0])
            column = f"{table}.{summed}" if summed else "..."  # the column it adds up
            code = kept + (
                f"{name}_{aggregate} = {'await ' if op.awaited else ''}session.scalar(\n"
                f"    select(func.{aggregate}({column}))"
                + "".join(f".join({j})" for j in op.joins)
                + (f".where({where})" if where else "")
                + "\n)"
            )
            if op.library == "django":
                tail = "count()" if how == "len" else "aggregate(total=Sum(...))"
                code = f"{table}.objects.filter(...).{tail}"
            lang = language(ref)
            summary = (
                f"Replace `{what}` + `{how}({name})` with a {aggregate.upper()} query that "
                "returns one number."
            )
            if ts.is_typescript(lang):
                code = ts.count_code(op, name, aggregate, lang)
                used = f"{name}.length" if how == "len" else f"the sum over {name}"
                in_sql = {
                    "prisma": f"`{ts.main_table(op)}.{aggregate if how == 'len' else 'aggregate'}`",
                    "knex": f"`.{aggregate}(...)`",
                }.get(op.library, f"`{aggregate}()` or {ts.sql_count(lang, aggregate)}")
                summary = (
                    f"Replace `{what}` + `{used}` with a {aggregate.upper()} query ({in_sql}) "
                    "that returns one number."
                )
            reported.add(name)
            verb = "counted" if how == "len" else "summed"
            last = counters[-1].span
            yield program.finding(
                rule=CODE,
                severity=Severity.MEDIUM,
                message=f"`{name}` fetches every {table} row only to be {verb} with "
                f"{f'`{name}.length`' if how == 'len' and lang != 'python' else how + '()'}; "
                f"let SQL {aggregate.upper()} do it",
                ref=ref,
                span=Span(span.line, last.end_line, span.col),
                query_cost="1 (all rows transferred)",
                fixed_query_cost="1 (one number transferred)",
                call_chain=chain,
                fix=Fix(summary, code, lang),
                problem=(
                    f"`{name}` holds all rows returned by `{what}`, but `{fn.qualname}` only "
                    f"uses it in `{how}()`. The rows are transferred and materialised for "
                    f"nothing; the work grows with the number of rows."
                ),
                confidence="high",
            )
