"""DBA101: query in a loop.

## What it does
Finds a database call made directly inside a ``for``, ``while`` or ``async for`` loop or a
comprehension: ``session.execute``, ``session.get``, ``session.query(...).all()``,
``Model.objects.get``, ``cursor.execute``, asyncpg ``fetch``/``fetchrow``/``fetchval``, ...

Not reported: loops over a small literal collection (``for kind in ("a", "b")``), batched
queries inside a loop over chunks of keys (``for chunk in chunked(ids, 1000)`` with ``IN``),
keyset/offset pagination (a ``while`` loop around a query with ``LIMIT``), queries handed to
``asyncio.gather``, and writes (DBA103 reports those).

## Why is this bad?
Every iteration is a network round trip: with N items the code issues ``1 + N`` queries where
one or two would do. At 1 ms of latency, 200 items cost 200 ms before the database does any
work, and the cost grows with the data, so the page that was fast in development is slow in
production.

## Example
```python
projects = (await session.scalars(select(Project).where(Project.user_id == user_id))).all()
for project in projects:
    count = await session.scalar(
        select(func.count(Render.id)).where(Render.project_id == project.id)
    )
```

## Use instead
```python
counts = dict((await session.execute(
    select(Render.project_id, func.count(Render.id))
    .where(Render.project_id.in_([p.id for p in projects]))
    .group_by(Render.project_id)
)).tuples().all())
```

## References
- SQLAlchemy: "Selecting with IN", https://docs.sqlalchemy.org/en/20/orm/queryguide/select.html
- Django: "Database access optimization", https://docs.djangoproject.com/en/stable/topics/db/optimization/
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import (
    Program,
    per_group_of_keys,
    per_item_connections,
    per_item_loops,
    per_item_transactions,
    per_table,
    runs_once_in_loop,
    significant_loops,
    through,
)
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import DbOp, Filter, Function, Loop
from dbaudit.model.expressions import free_names
from dbaudit.rules._shared import (
    ASYNC_STREAM_NOTE,
    batched_in,
    batched_select_code,
    fanned_out,
    fixed_cost,
    foreign_key_attribute,
    is_write,
    key_filter,
    language,
    loop_header,
    noun,
    only_element,
    root_name,
    same_every_item,
    written_tables,
)
from dbaudit.rules._typescript import is_typescript

CODE = "DBA101"
NAME = "query-in-loop"
CATEGORY = "queries"


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if not fn.loops or not fn.db_ops:
            continue
        for op in fn.db_ops:
            if (
                not op.loops
                or is_write(op)
                or op.kind == "ddl"
                or runs_once_in_loop(op.targets)
                or per_table(op)
                or op.result_shape == "subquery"  # SQL of the query it is embedded in
            ):
                continue
            loops = per_item_loops(
                fn, significant_loops(fn, op.loops), op.targets, op.branch, op.seq
            )
            if not loops:
                continue
            inner = loops[-1]
            header = loop_header(inner, language(ref))
            if through(op.receiver, per_item_connections(program, fn, inner)):
                continue  # one tenant's schema or database per item: nothing to batch
            if through(op.receiver, per_item_transactions(fn, inner)):
                continue  # a transaction per item: one atomic unit of several statements
            if (
                op.result_shape == "queryset"
                and op.targets
                and any(later.seq > op.seq and later.reads & set(op.targets) for later in fn.db_ops)
            ):
                continue  # a lazy queryset: the query is where it is evaluated (reported there)
            if _shaped_by_item(program, fn, op, inner):
                continue  # one query per filter rule, each of another shape: nothing to batch
            if op.result_shape == "queryset" and _combined(fn, op):
                continue  # ``qs = qs.union(q)``: one statement built over the loop, run once
            concurrent = op.in_gather and fanned_out(fn, inner)
            if op.in_gather and not concurrent:
                continue  # gathered with other work inside a loop body: reported by the loop
            if any(loop.chunked for loop in loops) and (
                op.batched or _in_list_per_chunk(program, fn, op, loops)
            ):
                continue  # chunked batching: one IN query per batch of keys
            if op.batched and per_group_of_keys(program, fn, inner, op.reads):
                continue  # one IN query per group of keys (a DataLoader's keys by channel)
            if inner.kind == "while" and op.has_limit:
                continue  # pagination: each page is one bounded query
            cost = program.reach(ref).cost
            lang = language(ref)
            nested = len(loops) >= 2
            item = noun(inner)
            table = op.tables[0] if op.tables else ""
            on_table = f" on {table}" if table else ""
            from_rows = any(
                inner.reads & program.derived(fn, other.targets, until=op.seq)
                for other in fn.db_ops
                if other.seq < op.seq and not other.loops
            )
            message = (
                f"`{op.api}` runs a query{on_table} per {item}, fanned out concurrently "
                f"over `{header}` (N round trips and N connections)"
                if concurrent
                else f"`{op.api}` runs a query{on_table} per {item} inside `{header}` (N+1)"
            )
            fix = _fix(program, ref, op, inner, item, table, lang)
            if lang == "python" and same_every_item(
                program,
                fn,
                inner,
                op.reads | {root_name(op.receiver)},
                _built_in_loop(fn, inner, op),
            ):
                if _loop_writes(program, ref, inner, op.tables):
                    # a get-or-create: the row the first item adds is the next item's answer
                    fix = Fix(fix.summary, "", lang)
                else:
                    # no IN list over a constant (``keys = ['site_name' for t in things]``)
                    message = (
                        f"`{op.api}` runs the same query{on_table} once per {item} inside "
                        f"`{header}`: it reads nothing that changes with the {item}, N round "
                        "trips for one answer"
                    )
                    fix = Fix(
                        f"The query does not depend on the {item}: run it once before the "
                        "loop and reuse its result, unless the loop changes those rows.",
                        "",
                        lang,
                    )
            yield program.finding(
                rule=CODE,
                severity=Severity.MEDIUM
                if concurrent
                else (Severity.CRITICAL if nested else Severity.HIGH),
                message=message,
                ref=ref,
                span=op.span,
                query_cost=str(cost),
                fixed_query_cost=fixed_cost(cost),
                fix=fix,
                problem=(
                    f"`{op.text}` sits inside `{header}` (line {inner.span.line}), so "
                    f"`{fn.qualname}` makes one round trip per {item}: {cost} queries in total. "
                    "Latency adds up linearly with the number of items."
                ),
                confidence="high" if from_rows or op.library != "dbapi" else "medium",
                code_span=inner.span,
            )


def _fix(
    program: Program, ref: FunctionRef, op: DbOp, loop: Loop, item: str, table: str, lang: str
) -> Fix:
    summary = (
        f"Fetch {table or 'the rows'} for every {item} in one query before the loop "
        f"({batched_in(op, lang)}, or a JOIN / GROUP BY), then look rows up in a "
        f"{'Map' if lang != 'python' else 'dict'}."
    )
    if loop.is_async and not is_typescript(lang):
        summary += ASYNC_STREAM_NOTE
    if op.api.endswith(".refresh"):
        return Fix(
            f"`{op.api}` reloads each {item} with a SELECT of its own. Keep the state the "
            "objects already have (a session with expire_on_commit=False is not emptied by the "
            "commit), or reload them all with one query: select(...).where(<key>.in_(ids)) "
            "with .execution_options(populate_existing=True) refreshes every object it returns.",
            "",
            lang,
        )
    if is_typescript(lang):
        computed = frozenset(program.derived(ref.function, loop.targets, until=op.seq))
        return Fix(summary, batched_select_code(op, loop, language=lang, per_item=computed), lang)
    key, known = program.key_before_loop(ref, key_filter(op, loop), loop, op.span.line)
    if not op.tables or not known:
        # the table is chosen at run time, or the key is only known once an earlier query of
        # the same turn has run (``field = get(f["id"]); entry = get(field_id=field.id)``):
        # no IN list can be written before the loop
        return Fix(summary, "", lang)
    if key is not None and key.op == "in":
        # ``User.objects.filter(id__in=entry["users"])``: each item's key is a collection;
        # one key in a literal (``[entry["user"]]``) is that key, anything else would make
        # the fix's keys lists of keys, no values one IN can take
        element = only_element(key.value)
        if element is None:
            return Fix(
                f"{summary} Each {item} brings a collection of keys (`{key.value}`): fetch "
                f"the rows of all of them with one IN over their union and pick each {item}'s "
                "rows by membership.",
                "",
                lang,
            )
        key = Filter(key.column, key.op, element, key.table, key.part_of_unread)
    set_per_item = _set_in_body(ref.function, loop, op, key)
    if set_per_item:
        # ``BenefitGrant.member_id == target_member_id``, ``target_member_id`` worked out per
        # item in the body: written into the one query before the loop, it would be another
        # value (or no name yet), and the rows it picks other rows
        names = ", ".join(f"`{n}`" for n in sorted(set_per_item))
        return Fix(
            f"{summary} A condition besides the key reads {names}, which the loop body sets "
            f"for each {item}: fetch by the key alone and check that condition on each "
            f"{item}'s rows in the loop.",
            "",
            lang,
        )
    code = batched_select_code(
        op,
        loop,
        key=key,
        language=lang,
        own_query=True,
        row_attribute=foreign_key_attribute(program, op, key),
    )
    return Fix(summary, code, lang)


def _set_in_body(fn: Function, loop: Loop, op: DbOp, key: Filter | None) -> set[str]:
    """The names a condition of ``op`` besides its key reads that the loop body assigns
    (not the names the loop header binds, whose conditions become checks on each row)."""
    assigned = {root_name(t) for a in fn.assigns if loop.id in a.loops for t in a.targets}
    assigned -= set(loop.targets)
    if not assigned:
        return set()
    read: set[str] = set()
    for flt in op.filters:
        if key is not None and (flt.column, flt.op, flt.table) == (key.column, key.op, key.table):
            continue
        read |= free_names(flt.value)
    for condition in op.unread_conditions:
        read |= free_names(condition)
    return read & assigned


def _built_in_loop(fn: Function, loop: Loop, op: DbOp) -> tuple[str, ...]:
    """The filter values of ``op`` computed on each item: not those of the queryset it refines
    when that was built before the loop and not again in it (``custom_fields =
    CustomField.objects.filter(id__in=[int(f) for f, _ in fields])``, then
    ``custom_fields.get(id=field_id)`` per item), computed once however many calls they hold."""
    values = (*(f.value for f in op.filters), *op.unread_conditions)
    receiver = root_name(op.receiver)
    assigned = [a for a in fn.assigns if receiver in a.targets]
    if not assigned or any(loop.id in a.loops for a in assigned):
        return values
    return tuple(v for v in values if v in op.text)


def _in_list_per_chunk(program: Program, fn: Function, op: DbOp, loops: list[Loop]) -> bool:
    """An ``IN`` filter of ``op`` reads the batch a chunked loop cuts (``uid_chunk =
    uids[i : i + BATCH]`` in ``for i in range(0, len(uids), BATCH)``, the queryset refined
    before it is run): paperless-ngx's ProcessedMail lookups by chunks of uids were an N+1."""
    chunked = [loop for loop in loops if loop.chunked]
    per_chunk = {n for loop in chunked for n in program.derived(fn, loop.targets)}
    return any(f.op == "in" and free_names(f.value) & per_chunk for f in op.filters)


def _loop_writes(program: Program, ref: FunctionRef, loop: Loop, read: tuple[str, ...]) -> bool:
    """The loop's body writes the tables ``read`` (the query's), itself or through a helper it
    calls, or writes where the table is unknown. Writes that all go to other tables do not
    change the query's answer (paperless-ngx's ``custom_fields.get(id=field_id)`` per document,
    the loop writing ``CustomFieldInstance`` rows): the same query, N round trips for one
    answer, as DBA102 says of a helper that reads one table and writes another."""
    fn = ref.function
    tables = set(read)
    for op in fn.db_ops:
        if (
            loop.id in op.loops
            and is_write(op)
            and (not op.tables or not tables or tables & set(op.tables))
        ):
            return True
    for call, target in program.graph.callees(ref):
        if loop.id not in call.loops or not program.reach(target).writes:
            continue
        written = written_tables(program, target)
        if written is None or not tables or written & tables:
            return True
    return False


# what a loop item hands a query builder when it is a rule, not a key: ``f.expression``
_SHAPE_ARGUMENT = re.compile(
    r"\.(?:expression|expr|filters?|conditions?|criteria|where|rules?|spec|predicate|query)$"
)


def _shaped_by_item(program: Program, fn: Function, op: DbOp, loop: Loop) -> bool:
    """``for f in signal.filters: q = session.query(X).filter(X.signal_id == s.id); q =
    apply_filters(q, f.expression)``: the loop runs over filter rules, and each turn builds a
    query of another shape from its rule; the key filters are the same every turn. No IN list
    merges queries that differ in their WHERE clause, and the number of rules is set by
    configuration, not by the data."""
    per_item = program.derived(fn, loop.targets)
    if any(f.value.split(".")[0].split("[")[0] in per_item for f in op.filters):
        return False  # keyed by the item: the classic N+1
    names = set(op.targets)
    return bool(names) and any(
        call.seq > op.seq
        and set(call.targets) & names
        and call.reads & names
        and not call.callee.startswith(tuple(f"{n}." for n in names))
        and any(_SHAPE_ARGUMENT.search(arg) for arg in call.args)
        for call in fn.calls
    )


_SET_OPERATION = re.compile(r"\.(union|union_all|intersect|intersect_all|except_|except_all)\(|\|")


def _combined(fn: Function, op: DbOp) -> bool:
    """The unrun query is merged into another by UNION/INTERSECT/EXCEPT (or Django's ``|``)."""
    names = set(op.targets)
    return bool(names) and any(
        a.seq > op.seq and a.reads & names and _SET_OPERATION.search(a.value) for a in fn.assigns
    )
