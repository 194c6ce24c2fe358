"""DBA107: combinable queries.

## What it does
Finds two single-row queries in one function keyed by the same value (``user_id``) on tables
related by a foreign key (both reference ``users``, or one references the other), whose results
are merged into what the function returns: the typical "credits, then the active subscription
of the same user" pair. Foreign keys are read from the models in the tree.

## Why is this bad?
Two round trips fetch what one query with a JOIN returns. When the second query only runs if
the first found a row, the two cannot even be overlapped with ``gather``: the latency is the sum.

## Example
```python
credits = await CreditsDAL.get_for_user(session, user_id)
if credits is None:
    return None
subscription = await SubscriptionsDAL.active_for_user(session, user_id)
```

## Use instead
```python
row = (await session.execute(
    select(UserCredits, UserSubscription)
    .outerjoin(UserSubscription, (UserSubscription.user_id == UserCredits.user_id)
               & (UserSubscription.status == "active"))
    .where(UserCredits.user_id == user_id)
)).first()
```

## References
- SQLAlchemy joins: https://docs.sqlalchemy.org/en/20/orm/queryguide/select.html#joins
"""

from __future__ import annotations

from collections.abc import Iterator

from dbaudit.analysis.program import Program
from dbaudit.analysis.sequences import combinable_pairs
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import Span
from dbaudit.rules import _typescript as ts
from dbaudit.rules._shared import language

CODE = "DBA107"
NAME = "combinable-queries"
CATEGORY = "queries"


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if len(fn.db_ops) + len(fn.calls) < 2:
            continue
        for pair in combinable_pairs(program, ref):
            first, second = pair.first, pair.second
            table_a = first.tables[0] if first.tables else "A"
            table_b = second.tables[0] if second.tables else "B"
            col_a, col_b = pair.columns
            span = Span(first.span.line, second.span.end_line, first.span.col)
            code = (
                "row = (await session.execute(\n"
                f"    select({table_a}, {table_b})\n"
                f"    .outerjoin({table_b}, {table_b}.{col_b} == {table_a}.{col_a})  "
                "# plus the second query's other conditions\n"
                f"    .where({table_a}.{col_a} == {pair.key})\n"
                ")).first()"
            )
            lang = language(ref)
            summary = (
                f"Fetch {table_a} and {table_b} in one query: LEFT JOIN {table_b} on "
                f"{col_b} = {table_a}.{col_a}, filtered by `{pair.key}`."
            )
            if ts.is_typescript(lang):
                op = first.op or (
                    program.reach(first.target).first_op if first.target is not None else None
                )
                code = ts.combined_row_code(op, table_a, table_b, col_a, col_b, pair.key)
                how = "`include` of the relation" if ts.library_of(op) == "prisma" else "`leftJoin`"
                summary = (
                    f"Fetch {table_a} and {table_b} in one query with a {how} on "
                    f"{table_b}.{col_b} = {table_a}.{col_a}, filtered by `{pair.key}`."
                )
            yield program.finding(
                rule=CODE,
                severity=Severity.LOW,
                message=f"`{first.name}` and `{second.name}` both fetch one row keyed by "
                f"`{pair.key}` on related tables ({table_a}, {table_b}); one JOIN would do",
                ref=ref,
                span=span,
                query_cost="2 (sequential)",
                fixed_query_cost="1",
                fix=Fix(summary, code, lang),
                problem=(
                    f"`{fn.qualname}` issues two round trips for rows that one JOIN returns "
                    f"together: both are keyed by `{pair.key}` and the tables are related "
                    f"through {col_a}/{col_b}, and both results end up in what it returns."
                ),
                confidence="medium",
            )
