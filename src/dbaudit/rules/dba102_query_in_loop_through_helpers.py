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

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import (
    Program,
    passed_arguments,
    per_group_of_keys,
    per_item_connections,
    per_item_loops,
    runs_once_in_loop,
    significant_loops,
)
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import Call, Filter, Loop
from dbaudit.model.expressions import free_names
from dbaudit.rules._shared import (
    ASYNC_STREAM_NOTE,
    batched_in,
    batched_select_code,
    builds_lazy_queryset,
    fanned_out,
    fixed_cost,
    foreign_key_attribute,
    language,
    loop_header,
    noun,
    only_element,
    per_item_names,
    root_name,
    same_every_item,
    stays_lazy,
    written_tables,
)
from dbaudit.rules._typescript import condition_reads, is_key_part, is_typescript, library_of

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
            if builds_lazy_queryset(program, target) and stays_lazy(
                program, ref, call.seq, call.span, call.targets
            ):
                continue  # a queryset built per item, combined into one query run later
            inner = loops[-1]
            header = loop_header(inner, language(ref))
            if reach.batched_only and any(loop.chunked for loop in loops):
                continue
            if loops[-1].chunked and call.reads & program.derived(fn, loops[-1].targets):
                continue  # one call per chunk of items, handed that chunk: batching by design
            if reach.batched_only and per_group_of_keys(program, fn, inner, call.reads):
                continue  # one batched call per group of keys (per channel): by design
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
            key, code = _batch_key(program, ref, call, target, inner, lang)
            summary = (
                f"Give the data layer a batched variant of `{call.callee}` that takes every "
                f"{item}'s key at once ({batched_in(op, lang).removesuffix(' on the keys')}"
                f", or GROUP BY / a window function for per-{item} counts and top-k), call "
                "it once before the loop and group the rows in a "
                f"{'Map' if lang != 'python' else 'dict'}."
            )
            if inner.is_async and not is_typescript(lang):
                summary += ASYNC_STREAM_NOTE
            severity = (
                Severity.MEDIUM if concurrent else (Severity.CRITICAL if nested else Severity.HIGH)
            )
            message = (
                f"`{call.callee}` queries {table} once per {item}, fanned out concurrently "
                f"over `{header}` (N round trips and N connections)"
                if concurrent
                else f"`{call.callee}` queries {table} once per {item} inside "
                f"`{header}` (N+1 through {len(chain) - 1} call"
                f"{'s' if len(chain) > 2 else ''})"
            )
            if (
                key is None
                and not reach.writes
                and same_every_item(
                    program, fn, inner, call.reads | {root_name(call.callee)}, call.args
                )
            ):
                # no filter reads what the call passes, and it passes the same on every item
                # (all_drafts(session, 10)): no key to batch on, one answer asked N times
                message = (
                    f"`{call.callee}` runs the same query on {table} once per {item} inside "
                    f"`{header}`: it is passed nothing that changes with the {item}, N round "
                    "trips for one answer"
                )
                summary = (
                    f"The query does not depend on the {item}: call `{call.callee}` once before "
                    "the loop and reuse its result, unless the loop changes those rows."
                )
                code = ""
            elif (
                key is not None
                and not free_names(key.value) & (changing := per_item_names(program, fn, inner))
                and not _conditions_vary(program, call, target, key, changing)
            ):
                # every item hands the helper the same key: one row asked N times, not N rows
                if reach.writes and _writes_what_it_reads(program, target):
                    severity = Severity.LOW
                    message = (
                        f"`{call.callee}` reads and writes the same {table} row (key "
                        f"`{key.value}`) once per {item} inside `{header}`: one row written "
                        "N times, not N rows to batch"
                    )
                    summary = (
                        f"No IN list applies: every {item} uses the same key. If only the last "
                        f"value matters, call `{call.callee}` once after the loop; when each "
                        "call records progress (a checkpoint after each step, so a failure "
                        "resumes there), the writes are deliberate."
                    )
                elif reach.writes or (call.reads | free_names(" ".join(call.args))) & changing:
                    # its writes go elsewhere, or it is handed values that change with the item
                    # (``dispute_amount=-dispute.amount``) besides the query's: the read alone
                    # repeats, the call's result differs per item and cannot be reused
                    message = (
                        f"`{call.callee}` runs the same query on {table} (key `{key.value}`) "
                        f"once per {item} inside `{header}`: N round trips for one answer"
                    )
                    summary = (
                        f"Every {item} asks for the same key, and `{call.callee}` does more "
                        f"than read it: run that query once before the loop and pass its "
                        f"result in, unless the loop changes those rows."
                    )
                else:
                    message = (
                        f"`{call.callee}` runs the same query on {table} (key `{key.value}`) "
                        f"once per {item} inside `{header}`: N round trips for one answer"
                    )
                    summary = (
                        f"Every {item} asks for the same key: call `{call.callee}` once before "
                        "the loop and reuse its result, unless the loop changes those rows."
                    )
                code = ""
            elif (own := _own_loop(program, target)) is not None:
                helper, loop = own
                summary += (
                    f" `{helper}` runs that query inside `{loop_header(loop, lang)}`, once per "
                    f"{noun(loop)} of its own: keys batched here would leave those calls in place."
                )
            yield program.finding(
                rule=CODE,
                severity=severity,
                message=message,
                ref=ref,
                span=call.span,
                query_cost=str(cost),
                fixed_query_cost=fixed_cost(cost),
                call_chain=chain,
                fix=Fix(summary, code, lang),
                problem=(
                    f"`{fn.qualname}` calls `{call.callee}` for every {item} of "
                    f"`{inner.iterable}`; that helper issues {per_item} "
                    f"quer{'y' if per_item == '1' else 'ies'} each time "
                    f"({' -> '.join(h.function for h in chain[1:])}). Total: {cost} queries."
                ),
                confidence="high" if program.reach(target).chain else "medium",
                code_span=inner.span,
            )


def _conditions_vary(
    program: Program,
    call: Call,
    target: FunctionRef,
    key: Filter,
    changing: set[str],
    depth: int = 0,
) -> bool:
    """A value that changes with the item reaches a condition of the query ``call`` leads to,
    besides its key: ``token_for({ provider: c.provider.name, account_id })`` filters on the
    provider too, so the same account key does not make it the same row. A value the helper
    only writes (``set_config(key, r.revision)``) does not count. Through a further call, any
    changing value the call passes does, when it reaches that call: a value the helper only
    uses after its query (``dispute_amount`` scaling the balances it read) does not."""
    reach = program.reach(target)
    op = reach.first_op
    if reach.first_call is not None and reach.first_target is not None and depth < 8:
        passed = passed_arguments(call, target.function)
        if any(a.endswith("…") and free_names(a) & changing for a in call.args):
            return True  # an argument cut short: what it gives is unknown
        varying = {name for name, value in passed.items() if free_names(value) & changing}
        if not varying:
            return False
        return _conditions_vary(
            program, reach.first_call, reach.first_target, key, varying, depth + 1
        )
    if reach.first_call is not None or op is None:
        return bool((call.reads | free_names(" ".join(call.args))) & changing)
    library = library_of(op)
    others = [c for c in (*op.where, *op.unread_conditions) if not is_key_part(c, key, library)]
    read = set().union(
        *(free_names(f.value) for f in op.filters if f.column != key.column),
        *(condition_reads(condition, library) for condition in others),
    )
    passed = passed_arguments(call, target.function)
    helper = target.function
    # a parameter reaches a condition through what the helper computes from it before the
    # query (``custom_field_q, annotations = parser.parse(trigger.filter_custom_field_query)``
    # then ``.annotate(**annotations).filter(custom_field_q)``, paperless-ngx's
    # existing_document_matches_workflow per trigger: another query each trigger)
    return any(
        free_names(value) & changing
        for name, value in passed.items()
        if name in read or program.derived(helper, {name}, until=op.seq) & read
    )


def _writes_what_it_reads(program: Program, target: FunctionRef) -> bool:
    """The helper writes the table its first query reads (a setting read then written back),
    or writes where dbaudit cannot tell the table: then the same key is one row read and
    written N times. A helper whose writes all go to other tables (a filing recorded per
    message, the account's drive connections read each time) only repeats the read."""
    op = program.reach(target).first_op
    read = set(op.tables) if op is not None else set()
    written = written_tables(program, target)
    return not read or written is None or bool(written & read)


def _batch_key(
    program: Program, ref: FunctionRef, call: Call, target: FunctionRef, loop: Loop, lang: str
) -> tuple[Filter | None, str]:
    """The key of the helper's query in the loop's terms, and the batched code, "" when none
    can be written: with no key the helper's own filter would name its parameters or locals
    (CTFd's ``upload_file(**form_args)`` filtering on its local ``location``), a table chosen at
    run time has no model to select, and a key that is no Python expression (a raw SQL
    ``:group_id``) or only known once the same turn queried cannot be computed before the loop."""
    op = program.reach(target).first_op
    key = program.key_in_caller(call, target, loop.targets)
    if is_typescript(lang):
        if key is None:
            return None, ""  # the helper's own filter would name its parameters and locals
        if not free_names(key.value) & set(loop.targets):
            # a name the loop body computes (``const { subscriptionId } = notification``):
            # the model keeps no way to write it from the item, and the item's own id
            # would be another key
            return key, ""
        return key, batched_select_code(op, loop, key=key, language=lang)
    key, known = program.key_before_loop(ref, key, loop, call.span.line)
    if key is None or not known:
        return None, ""
    if not free_names(key.value) & per_item_names(program, ref.function, loop):
        # the same key on every item, another condition per item (a query the helper builds
        # from the item): keys = [document.id for trigger in triggers] is no batch
        return key, ""
    if key.op == "in":
        # the helper takes a collection of keys (``benefit_id.in_(benefit_ids)``): handed one
        # key in a literal (``{grant.benefit_id}``) it is that key; handed a collection per
        # item, the keys would be lists of keys, no values to put in one IN
        element = only_element(key.value)
        if element is None:
            return key, ""
        key = Filter(key.column, key.op, element, key.table, key.part_of_unread)
    if op is None or not op.tables or _own_loop(program, target) is not None:
        return key, ""
    if _other_condition_per_item(program, ref, call, target, key, loop):
        return key, ""
    row_attribute = foreign_key_attribute(program, op, key)
    return key, batched_select_code(op, loop, key=key, language=lang, row_attribute=row_attribute)


def _other_condition_per_item(
    program: Program, ref: FunctionRef, call: Call, target: FunctionRef, key: Filter, loop: Loop
) -> bool:
    """A condition of the helper's own query besides its key reads a parameter the loop
    hands a value that changes with the item: polar's ``_transfer_benefit_records(session,
    old_customer_id, ..., {grant.benefit_id})`` filters on ``LicenseKey.customer_id ==
    old_customer_id`` too, ``old_customer_id`` worked out per grant. One IN query over the
    keys cannot say that condition, and a fix that names it 'as the helper writes it' reads as
    if it could."""
    reach = program.reach(target)
    op = reach.first_op
    if op is None or reach.first_call is not None:
        return False
    read = {
        name
        for f in op.filters
        if (f.column, f.op) != (key.column, key.op)
        for name in free_names(f.value)
    }
    changing = per_item_names(program, ref.function, loop)
    passed = passed_arguments(call, target.function)
    return any(free_names(value) & changing for name, value in passed.items() if name in read)


def _own_loop(program: Program, target: FunctionRef) -> tuple[str, Loop] | None:
    """The helper, or the one it calls on the way to its first query, that runs that query in
    a loop of its own (CTFd's plugin ``upgrade`` calls ``set_config`` once per migration step):
    its name and that loop."""
    ref = target
    for _ in range(8):
        reach = program.reach(ref)
        fn = ref.function
        at: tuple[int, ...] = ()
        if reach.first_call is not None and reach.first_target is not None:
            at = reach.first_call.loops
        elif reach.first_op is not None:
            at = reach.first_op.loops
        loops = significant_loops(fn, at)
        if loops:
            return fn.qualname, loops[-1]
        if reach.first_call is None or reach.first_target is None:
            return None
        ref = reach.first_target
    return None
