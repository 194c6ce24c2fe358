"""DBA102: query in a loop through helpers.

## What it does
Finds a loop that calls a function or method which issues a query, at any depth and across
modules: module functions reached through imports, ``self.``/``cls.`` methods, methods of
attributes typed in ``__init__``, and static/class methods of data-access classes such as
``RendersDAL.get_by_chain_id``. The finding lists every hop from the loop down to the query,
with file and line.

Not reported: helpers that only issue batched queries inside a loop over chunks of keys, calls
queued elsewhere (Celery ``.delay()``/``.apply_async()``), calls under ``asyncio.gather``, loops
over small literal collections, and helpers that only write (DBA103 reports those).

## Why is this bad?
It is the same N+1 as DBA101, hidden behind a function boundary, which is why it survives code
review: the loop looks innocent, and the query is two files away. Each iteration pays a full
round trip, and nested loops multiply: ``1 + N + N·M``.

## Example
```python
for project in await ProjectsDAL.list_for_user(session, user_id):
    renders = await RendersDAL.list_for_project(session, project.id)
```

## Use instead
```python
projects = await ProjectsDAL.list_for_user(session, user_id)
renders = await RendersDAL.list_for_projects(session, [p.id for p in projects])  # IN (...)
by_project = defaultdict(list)
for render in renders:
    by_project[render.project_id].append(render)
```

## References
- "The N+1 query problem", https://docs.sqlalchemy.org/en/20/glossary.html#term-N-plus-one-problem
- SQLAlchemy ORM relationship loading: https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html
"""

from __future__ import annotations

from collections.abc import Iterator

from dbaudit.analysis.program import (
    Program,
    per_item_connections,
    per_item_loops,
    runs_once_in_loop,
    significant_loops,
)
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.rules._shared import (
    batched_in,
    batched_select_code,
    fanned_out,
    fixed_cost,
    language,
    loop_header,
    noun,
)

CODE = "DBA102"
NAME = "query-in-loop-through-helpers"
CATEGORY = "queries"


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if not fn.loops:
            continue
        for call, target in program.graph.callees(ref):
            if not call.loops or runs_once_in_loop(call.targets):
                continue
            loops = per_item_loops(
                fn, significant_loops(fn, call.loops), call.targets, call.branch, call.seq
            )
            if not loops:
                continue
            if call.reads & per_item_connections(program, fn, loops[-1]):
                continue  # the helper runs on this item's own schema or database
            concurrent = call.in_gather and fanned_out(fn, loops[-1])
            if call.in_gather and not concurrent:
                continue
            reach = program.reach(target)
            if not reach.queries or not reach.reads:
                continue  # write-only helpers: DBA103
            if reach.cost.conditional and not reach.certain and len(reach.chain) >= 3:
                continue  # every query three calls down is behind a condition: too weak
            inner = loops[-1]
            header = loop_header(inner, language(ref))
            if reach.batched_only and any(loop.chunked for loop in loops):
                continue
            if loops[-1].chunked and call.reads & program.derived(fn, loops[-1].targets):
                continue  # one call per chunk of items, handed that chunk: batching by design
            if inner.kind == "while" and reach.first_op is not None and reach.first_op.has_limit:
                continue
            cost = program.reach(ref).cost
            nested = len(loops) + reach.cost.depth >= 2
            item = noun(inner)
            op = reach.first_op
            table = op.tables[0] if op is not None and op.tables else "rows"
            chain = (
                program.hop(ref, call.span.line, f"calls {call.callee} in `{header}`"),
                *reach.chain,
            )
            per_item = str(reach.cost)
            lang = language(ref)
            yield program.finding(
                rule=CODE,
                severity=Severity.MEDIUM
                if concurrent
                else (Severity.CRITICAL if nested else Severity.HIGH),
                message=(
                    f"`{call.callee}` queries {table} once per {item}, fanned out concurrently "
                    f"over `{header}` (N round trips and N connections)"
                    if concurrent
                    else f"`{call.callee}` queries {table} once per {item} inside "
                    f"`{header}` (N+1 through {len(chain) - 1} call"
                    f"{'s' if len(chain) > 2 else ''})"
                ),
                ref=ref,
                span=call.span,
                query_cost=str(cost),
                fixed_query_cost=fixed_cost(cost),
                call_chain=chain,
                fix=Fix(
                    f"Give the data layer a batched variant of `{call.callee}` that takes every "
                    f"{item}'s key at once ({batched_in(op, lang).removesuffix(' on the keys')}"
                    f", or GROUP BY / a window function for per-{item} counts and top-k), call "
                    "it once before the loop and group the rows in a "
                    f"{'Map' if lang != 'python' else 'dict'}.",
                    batched_select_code(
                        op,
                        inner,
                        key=program.key_in_caller(call, target, inner.targets),
                        language=lang,
                    ),
                    lang,
                ),
                problem=(
                    f"`{fn.qualname}` calls `{call.callee}` for every {item} of "
                    f"`{inner.iterable}`; that helper issues {per_item} "
                    f"quer{'y' if per_item == '1' else 'ies'} each time "
                    f"({' -> '.join(h.function for h in chain[1:])}). Total: {cost} queries."
                ),
                confidence="high" if program.reach(target).chain else "medium",
                code_span=inner.span,
            )
