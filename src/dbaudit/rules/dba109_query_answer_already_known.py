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
from dbaudit.model import Function
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
        # a helper that writes, or an awaited call dbaudit cannot see into (a lock taken in
        # Redis, the action a test checks, an insert that failed on a concurrent one): what
        # the second query sees may have changed, as after a write of the function's own
        resolved = set()
        for call, target in program.graph.callees(ref):
            resolved.add(call.seq)
            if program.reach(target).writes:
                writes.append(call.seq)
        writes += [c.seq for c in fn.calls if c.awaited and c.seq not in resolved]
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
            yield program.finding(
                rule=CODE,
                severity=Severity.LOW,
                message=f"`{event.name}` repeats the query of line {first.span.line} "
                "with the same arguments; reuse its result",
                ref=ref,
                span=event.span,
                query_cost="2",
                fixed_query_cost="1",
                fix=_fix(fn, first, event, ts.module_language(ref.module)),
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


# a queryset not evaluated where it is built, and one embedded in another query's SQL
_LAZY_SHAPES = frozenset({"queryset", "subquery"})


def _lazy(program: Program, event: QueryEvent) -> bool:
    """A Django queryset that is built but not evaluated here runs no query by itself."""
    if event.op is not None:
        return event.op.result_shape in _LAZY_SHAPES
    if event.target is not None:
        returned = program.reach(event.target).returned_op
        return returned is not None and returned.result_shape in _LAZY_SHAPES
    return False


def _fix(fn: Function, first: QueryEvent, event: QueryEvent, language: str) -> Fix:
    """Reuse the name the first query's result was bound to, when that name still holds it
    at the repeat; else run the query once, before the first, and use its result in both
    places."""
    line = first.span.line
    reuse = _holding_name(fn, first, event)
    names = [t for t in event.targets if not t.startswith("<")]
    if reuse and names == [reuse]:
        # ``user = get_user()`` twice: the name already holds the answer
        return Fix(
            f"`{reuse}` already holds the result of line {line}: drop this query.", "", language
        )
    if reuse:
        return Fix(
            f"Reuse the result of line {line} (`{reuse}`) instead of querying again.",
            _assign_code(", ".join(names) or "result", reuse, language),
            language,
        )
    # the first result is not kept, or kept only on some paths to the repeat
    name = names[0] if len(names) == 1 else next(_bound_names(first), "result")
    return Fix(
        f"Run the query once, before line {line}, keep its result in `{name}` and use it "
        "there and here instead of querying again.",
        _assign_code(name, _query_text(event), language)
        + _comment(f"once, before line {line}", language),
        language,
    )


def _bound_names(event: QueryEvent) -> Iterator[str]:
    """Names the query's result is bound to (not its use in a condition or a return)."""
    return (t for t in event.targets if not t.startswith("<"))


def _holding_name(fn: Function, first: QueryEvent, event: QueryEvent) -> str:
    """The name bound to the first result that still holds it where the repeat runs: the
    first query ran on every path to the repeat (its branch arms are among the repeat's),
    and nothing assigned the name in between."""
    if not set(first.branch) <= set(event.branch):
        return ""  # ``if visible: user = get_user()`` ... ``user = get_user()``
    # by line: the assignment of a call's result is numbered before the call itself
    between = range(first.span.end_line + 1, event.span.line)
    for name in _bound_names(first):
        if not any(a.span.line in between and name in a.targets for a in fn.assigns):
            return name
    return ""


def _query_text(event: QueryEvent) -> str:
    wait = "await " if event.awaited else ""
    if event.call is not None:
        return f"{wait}{event.call.callee}({', '.join(event.call.args)})"
    return f"{wait}{event.text}"


def _comment(text: str, language: str) -> str:
    return f"  // {text}" if ts.is_typescript(language) else f"  # {text}"


def _assign_code(targets: str, value: str, language: str) -> str:
    if ts.is_typescript(language):
        return f"const {targets} = {value};"
    return f"{targets} = {value}"
