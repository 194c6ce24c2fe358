"""DBA109: a query whose answer the function already has.

## What it does
Finds a query that repeats an earlier query of the same function with the same statement and
the same arguments, with no write in between, and a lookup of a row by the id of an object
the function already loaded from the same table (``session.get(User, user.id)`` after
``user`` was fetched).

## Why is this bad?
The second round trip returns what the function already holds. It costs latency and load for
nothing, and often hides a refactoring leftover.

## Example
```python
user = await session.get(User, user_id)
...
owner = await session.get(User, user.id)
```

## Use instead
```python
owner = user
```

## References
- SQLAlchemy identity map: https://docs.sqlalchemy.org/en/20/orm/session_basics.html#get-by-primary-key
"""

from __future__ import annotations

from collections.abc import Iterator

from dbaudit.analysis.program import WRITE_KINDS, Program
from dbaudit.analysis.sequences import QueryEvent, exclusive, query_events
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.rules import _typescript as ts

CODE = "DBA109"
NAME = "query-answer-already-known"
CATEGORY = "queries"


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if len(fn.db_ops) + len(fn.calls) < 2:
            continue
        writes = [op.seq for op in fn.db_ops if op.kind in WRITE_KINDS]
        seen: dict[tuple[object, ...], QueryEvent] = {}
        for event in query_events(program, ref):
            if not event.reads_only or _lazy(program, event):
                continue
            signature = _signature(event)
            if signature is None:
                continue
            first = seen.get(signature)
            seen[signature] = event
            if first is None or exclusive(first.branch, event.branch, fn.exiting_arms):
                continue
            if any(first.seq < w < event.seq for w in writes):
                continue
            if any(
                first.seq < a.seq < event.seq and set(a.targets) & event.reads for a in fn.assigns
            ):
                continue  # an argument changed in between
            reuse = next((t for t in first.targets if t != "<return>"), "")
            targets = ", ".join(event.targets) or "result"
            yield program.finding(
                rule=CODE,
                severity=Severity.LOW,
                message=f"`{event.name}` repeats the query of line {first.span.line} "
                "with the same arguments; reuse its result",
                ref=ref,
                span=event.span,
                query_cost="2",
                fixed_query_cost="1",
                fix=Fix(
                    f"Reuse the result of line {first.span.line}"
                    + (f" (`{reuse}`)" if reuse else "")
                    + " instead of querying again.",
                    _reuse_code(targets, reuse, ts.module_language(ref.module)) if reuse else "",
                    ts.module_language(ref.module),
                ),
                problem=(
                    f"`{fn.qualname}` runs the same query twice with nothing written in between;"
                    " the second round trip returns what the function already holds."
                ),
                confidence="medium",
            )


def _signature(event: QueryEvent) -> tuple[object, ...] | None:
    """What makes two queries the same; None when it cannot be told.

    The model keeps code excerpts shortened (ending in ``…``): two long SQL texts or option
    objects that begin alike may differ further on, so an excerpt that was cut proves nothing.
    """
    if event.op is not None:
        op = event.op
        if _cut(op.text) or _cut(op.sql):
            return None
        return ("op", op.api, op.tables, op.filters, op.sql, op.kind, op.text)
    if event.call is not None and event.target is not None:
        if any(_cut(arg) for arg in event.call.args):
            return None
        # the object a method is called on is one of its arguments: ``u1.follow(u4)`` and
        # ``u3.follow(u4)`` ask two questions
        receiver = event.call.callee.rpartition(".")[0]
        return ("call", event.target.id, receiver, event.call.args)
    return None


def _cut(text: str) -> bool:
    return text.endswith("…")


def _lazy(program: Program, event: QueryEvent) -> bool:
    """A Django queryset that is built but not evaluated here runs no query by itself."""
    if event.op is not None:
        return event.op.result_shape == "queryset"
    if event.target is not None:
        returned = program.reach(event.target).returned_op
        return returned is not None and returned.result_shape == "queryset"
    return False


def _reuse_code(targets: str, reuse: str, language: str) -> str:
    if ts.is_typescript(language):
        return f"const {targets} = {reuse};"
    return f"{targets} = {reuse}"
