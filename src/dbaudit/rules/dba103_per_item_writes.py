"""DBA103: per-item writes in a loop.

## What it does
Finds INSERT, UPDATE or DELETE statements (and commits) issued once per item inside a loop,
directly or through helpers, where one bulk statement would do the same work:
``insert(Model).values([...])``, ``update(Model).where(Model.id.in_(ids))``,
``session.execute(insert(Model), rows)``, ``executemany``, Django ``bulk_create`` /
``bulk_update`` / ``queryset.update()``, or Django ``obj.save()`` on every row of a queryset.

Not reported: ``session.add(obj)`` in a loop (the unit of work batches those at flush), writes
inside a loop over chunks of rows that are already bulk statements, loops over small literal
collections, and writes that run at most once per loop: followed by a ``break``, ``return``
or ``raise`` that leaves it (``if seat.free: claim(seat); break``), or in an arm taken for
one item only (``if version.slug == slug:``; a status or a foreign key is not such a key).
A helper that writes only in catch blocks (marking a connection disconnected when its token
refresh failed) is reported one step lower, as a write per item that takes that error path.

A write in one arm of an ``if`` (``if u.active: ... else: session.delete(u)``, a ``continue``
guard) is fixed for the items that take that arm: the test filters the keys
(``[u.id for u in users if u.active]``, ``list.filter((u) => u.active)``), or, when it compares
the written row's own columns, goes into the statement's WHERE. When no filter can say it (a
value the loop computes, a guard that stops the loop, an ``except`` arm) the finding says so and
gives no code.

A Django ``get_or_create`` / ``update_or_create`` per item is an upsert: its fix is
``bulk_create`` with ``ignore_conflicts`` / ``update_conflicts`` (which need a unique constraint
on the lookup's fields; a lookup such as ``name__iexact`` gets no code). A model that overrides
``save()`` or ``delete()`` gets no queryset ``.update()`` / ``.delete()`` code: those never call
the override.

## Why is this bad?
Each statement is a round trip, and a commit per item is also a transaction per item: the
work is not atomic (a failure half way leaves half the rows changed) and every commit waits
for the WAL to be flushed to disk. 50 updates with 50 commits take 100 round trips where one
statement takes one.

## Example
```python
for render in renders:
    await session.execute(update(Render).where(Render.id == render.id).values(chain_id=None))
    await session.commit()
```

## Use instead
```python
async with session.begin():
    await session.execute(
        update(Render).where(Render.id.in_([r.id for r in renders])).values(chain_id=None)
    )
```

## References
- SQLAlchemy ORM bulk INSERT / UPDATE: https://docs.sqlalchemy.org/en/20/orm/queryguide/dml.html
- Django ``bulk_update``: https://docs.djangoproject.com/en/stable/ref/models/querysets/#bulk-update
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import (
    Program,
    per_item_connections,
    per_item_loops,
    per_item_transactions,
    per_table,
    runs_once_in_loop,
    significant_loops,
    through,
)
from dbaudit.findings import CallHop, Finding, Fix, Severity
from dbaudit.model import Branch, DbOp, Filter, Function, Loop, Span
from dbaudit.rules import _typescript as ts
from dbaudit.rules._shared import (
    KEY_COLUMNS,
    all_of,
    arm_conditions,
    bulk_write_conditions,
    condition_code,
    conditions_as_filters,
    fixed_cost,
    is_write,
    key_filter,
    language,
    loop_header,
    noun,
    per_item_names,
    python_items_clause,
    python_items_prelude,
    python_loop_code,
    root_name,
    ts_all_of,
    valid_python,
)

CODE = "DBA103"
NAME = "per-item-writes"
CATEGORY = "queries"


# each row's statement as written, run once per row by the driver: its conditions stay
_EXECUTEMANY = frozenset({"asyncpg", "psycopg", "psycopg2", "sqlite3", "dbapi"})


def _bulk_code(
    op: DbOp | None,
    loop: Loop,
    key: Filter | None = None,
    per_item: frozenset[str] = frozenset(),
    guard: _Guard | None = None,
) -> str:
    """``guard``: the conditions under which the loop body reaches the write, and whether
    the loop's item is a row of the table written (then a comparison of its columns is
    the bulk statement's own condition)."""
    table = op.tables[0] if op is not None and op.tables else "Model"
    library = op.library if op is not None else "sqlalchemy"
    kind = op.kind if op is not None else "update"
    flt = key or key_filter(op, loop)
    tests = list(guard.tests) if guard is not None else []
    written: list[str] = []
    kept = ""
    if kind in {"update", "delete"} and library not in _EXECUTEMANY:
        # the statement's other conditions go into the bulk one: without them it would write
        # every row of the keys (``tenant_id == tenant`` dropped), not the rows it wrote
        conditions = bulk_write_conditions(op, flt, loop, per_item)
        if conditions is None:
            return ""  # another condition per item: no one IN over the keys says it
        written, unread = conditions
        kept = f"# keep the query's other conditions: {'; '.join(unread)}\n" if unread else ""
        # ``if u.plan == "free":`` around the write of ``u``'s own row: the statement's WHERE
        on_row = (
            conditions_as_filters(tests, loop.targets[0], per_item)
            if tests and guard is not None and guard.item_is_row and len(loop.targets) == 1
            else None
        )
        if on_row is not None:
            written += [condition_code(f, table, library) for f in on_row]
            tests = []
    # else the items the loop writes are picked out before the statement
    each, value = python_items_clause(loop, flt.value if flt else "", all_of(tests))
    column = flt.column if flt else "id"
    if library == "django":
        if kind == "insert":
            objects = f"[{table}(...) {each}]"
            method = op.api.rsplit(".", 1)[-1] if op is not None else ""
            if method in {"update_or_create", "aupdate_or_create"}:
                # an upsert: a plain bulk_create would insert rows that exist (or fail)
                return (
                    f"{table}.objects.bulk_create({objects}, update_conflicts=True, "
                    "unique_fields=[...], update_fields=[...])  # unique_fields: the "
                    "lookup's fields, which need a unique constraint"
                )
            if method in {"get_or_create", "aget_or_create"}:
                return (
                    f"{table}.objects.bulk_create({objects}, ignore_conflicts=True)  # the "
                    "lookup's fields need a unique constraint; read the rows back with one "
                    "filter(<field>__in=...)"
                )
            return f"{table}.objects.bulk_create({objects})"
        keywords = ", ".join([f"{column}__in=[{value} {each}]", *written])
        if kind == "delete":
            return f"{kept}{table}.objects.filter({keywords}).delete()"
        return (
            f"{kept}{table}.objects.filter({keywords})"
            ".update(...)  # or bulk_update(objs, fields) when values differ per row"
        )
    wait = "await " if op is None or op.awaited else ""
    if library == "asyncpg":
        return f"await conn.executemany(sql, [(...) {each}])  # or one statement with = ANY($1)"
    if library in _EXECUTEMANY:
        return f"cursor.executemany(sql, [(...) {each}])"
    if kind == "insert":
        return (
            f"{wait}session.execute(insert({table}), [{{...}} {each}])\n"
            f"{wait}session.commit()  # once, after the loop"
        )
    verb = "delete" if kind == "delete" else "update"
    values = "" if verb == "delete" else ".values(...)"
    begin = "async with session.begin()" if wait else "with session.begin()"
    where = ", ".join([f"{table}.{column}.in_([{value} {each}])", *written])
    return (
        f"{kept}{begin}:  # one transaction: atomic\n"
        f"    {wait}session.execute(\n"
        f"        {verb}({table})\n"
        f"        .where({where})"
        f"{values}\n"
        "    )"
    )


@dataclass(frozen=True, slots=True)
class _Guard:
    """The ``if`` arms in the loop around a per-item write: the tests an item passes to be
    written (Python), why no filter can say them ("" when one can), and whether the item is
    a row of the table written (``for u in session.scalars(select(User))``, keyed by
    ``u.id``)."""

    tests: tuple[str, ...] = ()
    why_no_code: str = ""
    item_is_row: bool = False


def _guard(
    program: Program,
    ref: FunctionRef,
    op: DbOp | None,
    loop: Loop,
    at: tuple[Branch, int],
    key: Filter | None,
    helper: str,
    helper_certain: bool,
) -> _Guard:
    fn = ref.function
    branch, seq = at
    tests, why = arm_conditions(fn, branch, loop, per_item_names(program, fn, loop), seq)
    if why:
        return _Guard(why_no_code=why)
    if ts.is_typescript(language(ref)):
        awaited = next((t for t in tests if "await" in t.split()), "")
        if awaited:
            return _Guard(
                why_no_code=f"the write runs only when `{awaited}` holds, and a filter "
                "callback cannot wait for it: compute those values first (one Promise.all) "
                "and filter the items by them"
            )
        return _Guard(tuple(tests))  # kept as a filter over the items, never a WHERE
    if helper and not helper_certain:
        return _Guard(
            why_no_code=f"`{helper}` writes only when a condition in it holds (or past a "
            "guard that returns early), which one statement over every key would not keep: "
            "filter the keys by that condition first"
        )
    flt = key or key_filter(op, loop)
    names = set(loop.targets)
    keyed_by_row = flt is None or (
        flt.column in KEY_COLUMNS
        and any(flt.value == f"{t}.{c}" for t in names for c in (flt.column, *KEY_COLUMNS))
    )
    source = program.loop_source(ref, loop) if tests and keyed_by_row and not helper else None
    same_table = (
        source is not None
        and op is not None
        and bool(op.tables)
        and source.tables[:1] == op.tables[:1]
    )
    return _Guard(tuple(tests), "", same_table)


def _fix(
    op: DbOp | None,
    loop: Loop,
    item: str,
    lang: str,
    key: Filter | None = None,
    helper: str = "",
    per_item: frozenset[str] = frozenset(),
    created: DbOp | None = None,
    guard: _Guard | None = None,
) -> Fix:
    """``key``: the write's key filter in the loop's own terms, when the write is a helper's
    (whose filter reads its parameter, a name the loop does not have); ``helper``: the
    helper's name, whose own filter must then never stand in for a missing key;
    ``per_item``: names the loop body computes from the item before the write; ``created``:
    the INSERT the loop runs when this UPDATE matched no row (an upsert by hand)."""
    if not ts.is_typescript(lang):
        if op is not None and op.kind == "flush":
            return _commit_once_fix(op, loop, item, helper)
        summary = (
            f"Collect the keys of every {item} and write them with one statement "
            "(UPDATE/DELETE ... WHERE id IN (...), INSERT of a list of rows, executemany, "
            "bulk_create/bulk_update) inside one transaction."
        )
        if helper and key is None and (op is None or op.kind in {"update", "delete"}):
            return Fix(summary, "")  # no key in the loop's terms: the helper's would leak
        if guard is not None and guard.why_no_code:
            # a bulk statement over every item would write the rows the loop leaves alone
            return Fix(f"{summary} Not every {item} is written here: {guard.why_no_code}.", "")
        inexact = _inexact_upsert_lookup(op)
        if op is not None and inexact:
            method = op.api.rsplit(".", 1)[-1]
            return Fix(
                f"{summary} `{method}` looks rows up by `{inexact}`, which no unique "
                "constraint matches (it compares equal values only), so bulk_create with "
                "ignore_conflicts/update_conflicts would add a row beside one the lookup "
                f"finds: read the rows of every {item} with one query by that lookup, then "
                "bulk_create the missing ones (and bulk_update the others).",
                "",
            )
        code = _bulk_code(op, loop, key, per_item, guard)
        if code:
            code = python_items_prelude(loop) + code
        # a value the model keeps cut short (a long filter value) makes no code
        return Fix(summary, code if valid_python(code) else "")
    if guard is not None and guard.why_no_code:
        return Fix(
            f"Collect the keys of every {item} and write them with one statement. Not every "
            f"{item} is written here: {guard.why_no_code}.",
            "",
            lang,
        )
    keep = ts_all_of(guard.tests) if guard is not None else ""
    if keep and (created is not None or ts.upsert_library(op)):
        return Fix(
            f"Upsert every {item} the loop writes with one statement: only those for which "
            f"`{keep}` holds are written here, so filter the items by it first.",
            "",
            lang,
        )
    if op is not None and created is not None:
        return Fix(
            f"Each {item} is an UPDATE, then an INSERT when it matched no row: an upsert. "
            f"Write every {item} with one INSERT ... ON CONFLICT ... DO UPDATE on the columns "
            "the update matches, which needs a unique index on them (add it if the schema has "
            "none); without one, find the existing rows with one query, insert the new ones "
            "with one createMany/insert and update the others in one transaction.",
            ts.update_or_create_code(op, created, loop, per_item),
            lang,
        )
    upsert = ts.upsert_library(op)
    if op is not None and upsert:
        if upsert == "prisma":
            summary = (
                "Prisma has no bulk upsert (`createMany` only inserts). Upsert every "
                f"{item} with one `INSERT ... ON CONFLICT ... DO UPDATE` through `$executeRaw` "
                "(the rows joined with `Prisma.join`), or insert the new rows with one "
                "`createMany({ data, skipDuplicates: true })` and batch the updates of the "
                "others"
            )
        else:
            summary = (
                f"Upsert every {item} with one statement: `insert(...).values(rows)` takes "
                "every row, and one `onConflictDoUpdate` whose `set` reads each row's own "
                "values from `excluded` (`onDuplicateKeyUpdate` with `values(column)` on MySQL)"
            )
        return Fix(
            f"{summary}: one round trip instead of one per {item}.",
            ts.bulk_upsert_code(op, loop),
            lang,
        )
    library = ts.library_of(op)
    how = {
        "prisma": "`updateMany` / `deleteMany` with `{ in: ids }`, or `createMany`",
        "knex": "`whereIn(...).update(...)` / `.del()`, or one `insert` of an array",
        "pg": "UPDATE/DELETE ... WHERE id = ANY($1), or one INSERT of every row",
        "mysql2": "UPDATE/DELETE ... WHERE id IN (?), or one INSERT of every row",
    }.get(library, "`db.update(t).set(...).where(inArray(t.id, ids))`, or one `insert` of an array")
    if helper and key is None and (op is None or op.kind in {"update", "delete"}):
        code = ""  # no key in the loop's terms: the helper's own would name its parameters
    else:
        code = ts.bulk_write_code(
            op, loop, key or key_filter(op, loop), per_item, helper=bool(helper), keep=keep
        )
    return Fix(
        f"Collect the keys of every {item} and write them with one statement ({how}): one "
        "round trip, and atomic without a transaction.",
        code,
        lang,
    )


def _commit_once_fix(op: DbOp, loop: Loop, item: str, helper: str) -> Fix:
    """A commit (or flush) per item: the rows the loop adds or changes are one unit of work,
    sent at one commit after the loop (SQLAlchemy batches the INSERTs of one table), instead
    of an INSERT and a COMMIT per item with a WAL flush each."""
    verb = "flush" if op.api.endswith("flush") else "commit"
    caveat = (
        f"One commit makes the loop one transaction: a bad {item} then rolls back every "
        "other, so validate them all first, or give each its own savepoint "
        "(session.begin_nested()) if one failure must not undo the rest. If the loop needs "
        "an added row's generated id, session.flush() there sends its INSERT in the same "
        "transaction."
    )
    after = f"one transaction for every {item}"
    if verb == "flush":
        # a flush commits nothing: the loop is one transaction either way
        caveat = (
            "A flush commits nothing: the rows go in the same transaction either way, one "
            "flush sends them together (SQLAlchemy batches one table's INSERTs, and UPDATEs "
            "of the same columns). If the loop uses an added row's generated id (to enqueue "
            "a job with it), do that in a second loop after the one flush."
        )
        after = f"every {item}'s changes sent at once"
    if helper:
        return Fix(
            f"`{helper}` {verb}s on every call: let it leave the {verb} to its caller (a "
            f"parameter, or a variant that takes every {item}), add every {item}'s rows and "
            f"{verb} once after the loop. {caveat}",
            "",
        )
    wait = "await " if op.awaited else ""
    code = (
        f"{python_loop_code(loop)}:\n"
        f"    ...  # the loop's body as it is, without {op.api}()\n"
        f"{wait}{op.api}()  # once, after the loop: {after}"
    )
    if not valid_python(code):
        code = ""
    return Fix(
        f"Add (or change) every {item}'s rows in the loop and {verb} once after it "
        f"(session.add_all, or one insert of every row, works too). {caveat}",
        code,
    )


def _finding(
    program: Program,
    ref: FunctionRef,
    op: DbOp | None,
    loops: list[Loop],
    span: Span,
    chain: tuple[CallHop, ...],
    what: str,
    commits: bool,
    key: Filter | None = None,
    helper: str = "",
    created: DbOp | None = None,
    only_when: str = "",
    at: tuple[Branch, int] = ((), 0),
    helper_certain: bool = True,
) -> Finding:
    inner = loops[-1]
    per_item = (
        frozenset(program.derived(ref.function, inner.targets, until=op.seq))
        if op is not None and not helper
        else frozenset()
    )
    if op is not None and not helper and not ts.is_typescript(language(ref)):
        # a condition reading what the body sets (``rule_id = None``, then per discount) is
        # per item too, derived from the item or not: no one bulk statement says it
        per_item |= {
            root_name(t) for a in ref.function.assigns if inner.id in a.loops for t in a.targets
        }
    cost = program.reach(ref).cost
    item = noun(inner)
    table = op.tables[0] if op is not None and op.tables else (op.receiver if op else "rows")
    if op is not None and op.kind == "flush":
        kind = "COMMIT" if op.api.endswith("commit") else "FLUSH"
    else:
        kind = (op.kind if op is not None else "write").upper()
    commit_note = (
        " and commits each one (not atomic: a failure half way leaves half the rows changed)"
        if commits
        else ""
    )
    if created is not None:
        what += f" (then `{created.api}` when it matched no row)"
        kind = "UPDATE or INSERT"
    header = loop_header(inner, language(ref))
    guard = _guard(program, ref, op, inner, at, key, helper, helper_certain)
    fix = _fix(op, inner, item, language(ref), key, helper, per_item, created, guard)
    if only_when:
        # the helper writes on a rare path only (a failed token refresh): per item for the
        # items that take it, not for every one, and maybe for none
        return program.finding(
            rule=CODE,
            severity=Severity.MEDIUM,
            message=f"{what} can issue {'an' if kind[0] in 'AEIOU' else 'a'} {kind} on {table} "
            f"per {item} inside `{header}`, "
            f"but only {only_when}; if many items take that path, one bulk statement would do",
            ref=ref,
            span=span,
            query_cost=str(cost),
            fixed_query_cost=fixed_cost(cost),
            call_chain=chain,
            fix=Fix(
                f"The write runs only {only_when}: if that is rare, one statement per item "
                f"that takes it costs little. If it is common: {fix.summary}",
                fix.code,
                fix.language,
            ),
            problem=(
                f"`{fn_name(ref)}` writes {table} row by row{commit_note} for each {item} "
                f"on which that path is taken: up to one round trip per {item} ({cost} in "
                "total) where a single bulk statement needs one."
            ),
            confidence="medium",
            code_span=inner.span,
        )
    return program.finding(
        rule=CODE,
        severity=Severity.HIGH,
        message=f"{what} issues one {kind} on {table} per {item} inside `{header}`; "
        + (
            f"one {kind} after the loop would do"
            if kind in {"COMMIT", "FLUSH"} and not chain
            else "one bulk statement would do"
        ),
        ref=ref,
        span=span,
        query_cost=str(cost),
        fixed_query_cost=fixed_cost(cost),
        call_chain=chain,
        fix=fix,
        problem=(
            f"`{fn_name(ref)}` writes {table} row by row{commit_note}. That is one round trip "
            f"per {item} ({cost} in total) where a single bulk statement needs one."
        ),
        confidence="high",
        code_span=inner.span,
    )


def fn_name(ref: FunctionRef) -> str:
    return ref.function.qualname


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if not fn.loops:
            continue
        for op in fn.db_ops:
            if not op.loops or not is_write(op) or runs_once_in_loop(op.targets) or per_table(op):
                continue
            if op.batched and not _keyed_by_item(program, fn, op):
                continue
            if _ERROR_PATH in op.control_reads:
                continue  # a catch block's write: once per item that failed, not per item
            loops = significant_loops(fn, op.loops)
            if not loops or loops[-1].chunked:
                # one statement per chunk of rows is batching, not per-item writes; a loop
                # over one chunk's items inside it (``batch.map((u) => tx.$executeRaw(...))``)
                # still writes per item
                continue
            loops = per_item_loops(fn, loops, op.targets, op.branch, op.seq)
            if not loops:
                continue
            if through(op.receiver, per_item_connections(program, fn, loops[-1])):
                continue  # one tenant's schema or database per item: nothing to batch
            if through(op.receiver, per_item_transactions(fn, loops[-1])):
                continue  # a transaction per item: one atomic unit of several statements
            if op.kind == "flush" and any(
                o.loops == op.loops and is_write(o) and o.kind != "flush" for o in fn.db_ops
            ):
                continue  # reported once, on the statement it commits
            if op.kind == "flush" and any(
                o.kind == "flush" and o.loops == op.loops and o.seq < op.seq for o in fn.db_ops
            ):
                continue  # one finding per loop for its commits
            if op.kind == "flush" and (_rolls_back_per_item(fn, op) or _isolated_per_item(fn, op)):
                continue  # a transaction per item by design: one failure undoes one item
            if _every_nth_item(fn, op.branch):
                continue  # ``if count % BATCH == 0: session.flush()``: once per batch of items
            if _created_when_missing(program, fn, op, before=True) is not None:
                continue  # the INSERT of an update-or-create pair: reported with its UPDATE
            created = _created_when_missing(program, fn, op)
            commits = any(_is_commit(o) and o.loops == op.loops for o in fn.db_ops)
            what = f"`{op.api}`"
            if op.kind == "flush":
                verb = "commit" if op.api.endswith("commit") else "flush"
                what = f"`{op.api}` (a {verb} per item)"
            yield _finding(
                program,
                ref,
                op,
                loops,
                op.span,
                (),
                what,
                commits,
                created=created,
                at=(op.branch, op.seq),
            )
        for call, target in program.graph.callees(ref):
            if not call.loops or call.in_gather or runs_once_in_loop(call.targets):
                continue
            if _ERROR_PATH in call.control_reads:
                continue
            reach = program.reach(target)
            if not reach.writes or reach.reads or reach.batched_only:
                continue
            if _transaction_per_call(target.function):
                continue  # each call is one atomic unit of several statements, by design
            loops = significant_loops(fn, call.loops)
            if not loops or loops[-1].chunked:
                continue
            loops = per_item_loops(fn, loops, call.targets, call.branch, call.seq)
            if not loops:
                continue
            if call.reads & per_item_connections(program, fn, loops[-1]):
                continue
            header = loop_header(loops[-1], language(ref))
            chain = (
                program.hop(ref, call.span.line, f"calls {call.callee} in `{header}`"),
                *reach.chain,
            )
            commits = _commits(program, target)
            # the helper's parameter, as the loop passes it, in what the loop binds
            key, _ = program.key_before_loop(
                ref,
                program.key_in_caller(call, target, loops[-1].targets),
                loops[-1],
                call.span.line,
            )
            yield _finding(
                program,
                ref,
                reach.first_op,
                loops,
                call.span,
                chain,
                f"`{call.callee}`",
                commits,
                key,
                call.callee,
                only_when="" if reach.certain else _rare_path(program, target),
                at=(call.branch, call.seq),
                helper_certain=reach.certain,
            )
        yield from _django_saves(program, ref)


def _rare_path(program: Program, target: FunctionRef) -> str:
    """Where a helper writes when it writes only on an error path: every write it reaches,
    down its calls, is in a catch block (a connection marked disconnected when its token
    refresh failed). "" otherwise: a write after a guard that returns early, or in both arms
    of an if/else, runs on nearly every call, which ``Reach.certain`` does not tell apart
    from a rare arm, so no weaker claim is made for a mere condition."""
    catches: list[str] = []
    if not _writes_only_in_catch(program, target, catches, 0):
        return ""
    return f"on an error path (a catch block in {catches[0]})" if catches else ""


def _writes_only_in_catch(
    program: Program, ref: FunctionRef, catches: list[str], depth: int
) -> bool:
    if depth > 8:
        return False
    fn = ref.function
    for op in fn.db_ops:
        if is_write(op) and _ERROR_PATH not in op.control_reads:
            return False
        if is_write(op):
            catches.append(f"`{fn.qualname}`, line {op.span.line}")
    for call, target in program.graph.callees(ref):
        if not program.reach(target).writes:
            continue
        if _ERROR_PATH in call.control_reads:
            catches.append(f"`{fn.qualname}`, line {call.span.line}")
        elif not _writes_only_in_catch(program, target, catches, depth + 1):
            return False
    return True


def _created_when_missing(
    program: Program, fn: Function, op: DbOp, before: bool = False
) -> DbOp | None:
    """The other half of an update-or-create pair in one loop: the INSERT into the same
    table that runs only on what the UPDATE answered (``if (result.count === 0) create``).
    ``before``: ``op`` is the INSERT, and the UPDATE it depends on is returned."""
    if before:
        if op.kind != "insert":
            return None
        return next((u for u in fn.db_ops if _created_when_missing(program, fn, u) is op), None)
    if op.kind != "update" or not op.targets or not op.tables:
        return None
    answered = program.derived(fn, op.targets)
    return next(
        (
            other
            for other in fn.db_ops
            if other.kind == "insert"
            and other.seq > op.seq
            and other.loops == op.loops
            and other.tables[:1] == op.tables[:1]
            and other.control_reads & answered
        ),
        None,
    )


# the TypeScript frontend's mark for code in a ``catch`` block (the error path)
_ERROR_PATH = "<catch>"
_TRANSACTION_OPENED = re.compile(r"(?:^|\.)\$?(?:transaction|begin)\(")


def _transaction_per_call(fn: Function) -> bool:
    """The helper opens a transaction of its own, outside any loop, around several
    statements with a write among them (a claim and the row it creates): every call is one
    atomic unit, as a transaction per item in the loop itself is."""
    for assign in fn.assigns:
        if (
            assign.loops
            or assign.kind != "with-target"
            or not _TRANSACTION_OPENED.search(assign.value)
        ):
            continue
        for name in assign.targets:
            through_it = [o for o in fn.db_ops if o.receiver.split(".", 1)[0] == name]
            if len(through_it) >= 2 and any(is_write(o) for o in through_it):
                return True
    return False


def _keyed_by_item(program: Program, fn: Function, op: DbOp) -> bool:
    """A statement that may touch many rows (Prisma ``updateMany``/``deleteMany``), yet its
    WHERE pins one item of the loop (``{ sessionId, dataKey }`` of the loop's row) and no
    ``in`` list: one statement per item all the same."""
    if not op.loops or any(f.op in {"in", "any"} for f in op.filters):
        return False
    per_item = program.derived(fn, fn.loops[op.loops[-1]].targets)
    return any(f.op == "==" and f.value.split(".")[0].split("[")[0] in per_item for f in op.filters)


def _rolls_back_per_item(fn: Function, commit: DbOp) -> bool:
    """``try: process(item); session.commit() except: session.rollback()`` in the loop."""
    rollback = f"{commit.receiver}.rollback"
    return any(c.callee == rollback and c.loops == commit.loops for c in fn.calls)


def _isolated_per_item(fn: Function, commit: DbOp) -> bool:
    """``try: ...; session.commit() except Exception as e: log.exception(e)`` in the loop: a
    failure is logged and the loop goes on to the next item, so each item is committed on its
    own on purpose (one bad item must not undo the others). ``log.exception`` only makes sense
    in an ``except`` block; a handler that raises again stops the loop and does not count."""
    for call in fn.calls:
        if call.loops != commit.loops or call.seq < commit.seq or not call.branch:
            continue
        name = call.callee.rsplit(".", 1)[-1]
        if name in {"exception", "capture_exception"} and call.branch[-1] not in fn.exiting_arms:
            return True
    return False


def _is_commit(op: DbOp) -> bool:
    """A COMMIT (``op.kind`` "flush" is a commit or a flush): a flush sends the session's
    pending changes inside the transaction it is in, and commits nothing."""
    return op.kind == "flush" and not op.api.endswith("flush")


# an ``if`` taken once every N items: ``count % BATCH == 0``, ``not i % 100``, a batch
# grown to its size (``len(pending) >= 500``)
_EVERY_NTH = re.compile(
    r"%\s*[\w.]+\)?\s*==\s*\w+|^not\b.*%|\blen\([^()]*\)\s*(?:>=|==|>)\s*(?!0\b|1\b)[\w.]+"
)


def _every_nth_item(fn: Function, branch: Branch) -> bool:
    """The write runs under an ``if`` of the loop that holds once every N items: batching
    by design (a flush or commit per batch of rows), not a write per item."""
    tests = {(statement, arm): test for statement, arm, test in fn.conditions}
    return any(
        arm == 0 and _EVERY_NTH.search(tests.get((statement, arm), "")) for statement, arm in branch
    )


def _commits(program: Program, ref: FunctionRef) -> bool:
    if any(_is_commit(op) for op in ref.function.db_ops):
        return True
    return any(_commits(program, t) for _, t in program.graph.callees(ref) if t.id != ref.id)


def _django_saves(program: Program, ref: FunctionRef) -> Iterator[Finding]:
    """``for obj in Model.objects.filter(...): obj.save()``: one UPDATE per row."""
    fn = ref.function
    if not any(op.library == "django" for op in fn.db_ops):
        return
    for access in fn.attr_accesses:
        if access.attr not in {"save", "delete"} or access.call != "()":
            continue
        loop_ids = [i for i in access.loops if access.base in fn.loops[i].targets]
        if not loop_ids:
            continue
        loop = fn.loops[loop_ids[-1]]
        source = program.loop_source(ref, loop)
        if source is None or source.library != "django":
            continue
        loops = per_item_loops(fn, significant_loops(fn, access.loops), (), (), access.seq)
        if not loops:
            continue
        fake = DbOp(
            library="django",
            kind="update" if access.attr == "save" else "delete",
            api=f"{access.base}.{access.attr}",
            receiver=access.base,
            span=access.span,
            seq=access.seq,
            tables=source.tables,
        )
        finding = _finding(
            program,
            ref,
            fake,
            loops,
            access.span,
            (),
            f"`{access.base}.{access.attr}()`",
            False,
            at=(access.branch, access.seq),
        )
        model = source.tables[0] if source.tables else ""
        if finding.fix is not None and _overrides(program, model, access.attr):
            # ``ShareLinkBundle.delete`` removes the bundle's file first: a queryset
            # ``.delete()``/``.update()`` never calls the model's own method
            finding = replace(
                finding,
                fix=Fix(
                    f"{finding.fix.summary} `{model}.{access.attr}()` is overridden, and a "
                    f"queryset's bulk .{'update' if access.attr == 'save' else 'delete'}() "
                    "does not call it: do what it does for every row first (one pass), "
                    "then write them with one statement.",
                    "",
                    finding.fix.language,
                ),
            )
        yield finding


_UPSERTS = frozenset({"update_or_create", "aupdate_or_create", "get_or_create", "aget_or_create"})


def _inexact_upsert_lookup(op: DbOp | None) -> str:
    """The first lookup of a Django get_or_create/update_or_create that is not an exact
    match (``name__iexact=part``), "" when there is none: a unique constraint, which
    bulk_create's conflict handling needs, compares equal values only."""
    if op is None or op.library != "django" or op.api.rsplit(".", 1)[-1] not in _UPSERTS:
        return ""
    return next(
        (
            f.column
            for f in op.filters
            if f.column not in {"defaults", "create_defaults"} and f.op not in {"==", "="}
        ),
        "",
    )


def _overrides(program: Program, model: str, method: str) -> bool:
    """The audited code defines ``model.method`` (a Django model's own save/delete)."""
    return bool(model) and any(
        ref.function.class_name == model and ref.function.name == method
        for ref in program.functions
    )
