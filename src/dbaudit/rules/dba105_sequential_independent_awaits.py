"""DBA105: sequential independent awaited queries.

## What it does
In an ``async def``, finds queries awaited one after another (directly or through helpers)
where no query needs another's result: neither its arguments nor the conditions it runs under
come from an earlier one. Data dependencies are followed through assignments, so
``user = await get_user(...)`` followed by ``if user is None: return`` makes every later query
depend on ``user``. Writes are never regrouped (their order matters), and queries already
reported as foreign-key lookups (DBA106) or combinable (DBA107) are left to those rules.

## Why is this bad?
Awaiting independent queries in sequence adds their latencies: four 5 ms queries take 20 ms
where running them at once takes about 5 ms. The fix is to run them concurrently with
``asyncio.gather`` or a ``TaskGroup``, each on its own session or pool connection: one
``AsyncSession`` (or one asyncpg connection) runs a single statement at a time, so gathering
on a shared session fails or serialises.

## Example
```python
counts = await ProjectsDAL.render_counts_for_user(session, user_id)
credits = await CreditsDAL.get_for_user(session, user_id)
recent = await RendersDAL.recent_for_user(session, user_id, 100)
```

## Use instead
```python
async def in_own_session(query):
    async with sessions() as session:  # one session, and pooled connection, per query
        return await query(session)

counts, credits, recent = await asyncio.gather(
    in_own_session(lambda s: ProjectsDAL.render_counts_for_user(s, user_id)),
    in_own_session(lambda s: CreditsDAL.get_for_user(s, user_id)),
    in_own_session(lambda s: RendersDAL.recent_for_user(s, user_id, 100)),
)
```

## References
- asyncio.gather / TaskGroup: https://docs.python.org/3/library/asyncio-task.html
- SQLAlchemy: "Using AsyncSession with Concurrent Tasks",
  https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator, Sequence

from dbaudit.analysis.program import Program
from dbaudit.analysis.sequences import QueryEvent, sequential_groups
from dbaudit.findings import Finding, Fix, Severity
from dbaudit.model import Function, Span
from dbaudit.rules import _typescript as ts
from dbaudit.rules._shared import language

CODE = "DBA105"
NAME = "sequential-independent-awaits"
CATEGORY = "concurrency"


def check(program: Program) -> Iterator[Finding]:
    for ref in program.functions:
        fn = ref.function
        if not fn.is_async or len(fn.awaits) < 2:
            continue
        for group in sequential_groups(program, ref):
            events = group.events
            names = [e.name for e in events]
            span = Span(events[0].span.line, events[-1].span.end_line, events[0].span.col)
            count = len(events)
            # a call whose result is unpacked (``a, b = await stats()``) is one item of what
            # gather returns: ``(a, b), c = await asyncio.gather(stats(), ...)``
            targets = [_target_text(e.targets) for e in events]
            # two results that reach one name (``return f(await a(), await b())``, ``x =
            # f(await a(), await b())``) are named each after its query
            targets, renamed = _distinct(targets, events)
            lang = language(ref)
            texts = {} if ts.is_typescript(lang) else {e.seq: _source_text(fn, e) for e in events}
            conditional = len({e.branch for e in events}) > 1
            if ts.is_typescript(lang):
                fix, session_note = _typescript_fix(group.shared_session, events, lang)
            elif group.shared_session:
                session_note = (
                    f"They all run on `{group.shared_session}`, and one session/connection runs "
                    "one statement at a time: give each query its own session from the "
                    "sessionmaker (or its own pool connection) before gathering."
                )
                wrapper = (
                    "async def in_own_session(query):\n"
                    "    async with sessions() as s:  # the async_sessionmaker of the app\n"
                    "        return await query(s)\n\n"
                )
                calls = [
                    f"    in_own_session(lambda s: "
                    f"{_with_session(texts[e.seq], group.shared_session)}),"
                    for e in events
                ]
            else:
                session_note = _separate_note(events)
                wrapper = ""
                calls = [f"    {texts[e.seq]}," for e in events]
            if not ts.is_typescript(lang):
                summary = (
                    "Run them with asyncio.gather (or a TaskGroup), each on its own session or "
                    f"pool connection. {session_note}"
                )
                code = (
                    wrapper
                    + f"{', '.join(targets)} = await asyncio.gather(\n"
                    + "\n".join(calls)
                    + "\n)"
                )
                returned = [e for e in events if "<return>" in e.targets]
                if renamed:
                    line, names_used = renamed
                    code += (
                        f"\n...  # line {line} uses {', '.join(f'`{n}`' for n in names_used)} "
                        "where it awaited each query"
                    )
                elif returned:
                    # ``return await q()``: its value is gathered, then returned as it was
                    code += (
                        f"\n...  # line {returned[0].span.line} returns what it made of "
                        f"`{RETURNED}`"
                    )
                elided = [str(e.span.line) for e in events if texts[e.seq].endswith("(...)")]
                if elided:
                    summary += (
                        " `(...)`: the arguments as written at line"
                        f"{'s' if len(elided) > 1 else ''} {', '.join(elided)}."
                    )
                fix = Fix(summary, code)
            if conditional:
                # one gather of every query would run those an ``if`` skips (with the values
                # that made it skip them): the code to write keeps each condition
                fix = Fix(
                    f"{fix.summary} Not all of them run on every call: some sit under a "
                    "condition of their own (an if, or after an early return), so run at once "
                    "only those whose conditions hold, and keep each condition.",
                    "",
                    fix.language,
                )
            yield program.finding(
                rule=CODE,
                severity=Severity.MEDIUM,
                message=f"{count} independent queries are awaited one after another "
                f"({', '.join(f'`{n}`' for n in names)}); run them concurrently",
                ref=ref,
                span=span,
                query_cost=f"{count} (sequential)",
                fixed_query_cost=f"{count} (concurrent)",
                fix=fix,
                problem=(
                    f"None of these {count} queries reads another's result, yet `{fn.qualname}` "
                    f"waits for each before starting the next, so its latency is the sum of "
                    f"{count} round trips instead of the slowest one. {session_note}"
                ),
                confidence="high"
                if all(e.call is None or e.target for e in events) and not conditional
                else "medium",
            )


RETURNED = "returned"  # the name a gathered ``return await q()`` gets


def _target_text(targets: tuple[str, ...]) -> str:
    """What a query's result is assigned to, as the left of the gather: a result unpacked
    (``a, b = await stats()``) is one item of what gather returns, ``(a, b)``; a result
    returned (the model's ``<return>``) or given to no name (``<guard>``) is named here."""
    names = [
        RETURNED if t == "<return>" else t for t in targets if t.isidentifier() or t == "<return>"
    ]
    if not names:
        return "_"
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def _distinct(
    targets: list[str], events: Sequence[QueryEvent]
) -> tuple[list[str], tuple[int, list[str]] | None]:
    """The gather's targets with no name twice: ``counts, breakdown, breakdown = await
    asyncio.gather(...)`` kept one result of two. A name bound to several results (they are
    arguments of one call) is replaced, for each, by a name made from its query's method
    (``list_product_canonicals`` -> ``product_canonicals``); returned with the first line
    that used them and the new names, or None when no name repeated."""
    repeated = {t for t in targets if t != "_" and targets.count(t) > 1}
    if not repeated:
        return targets, None
    taken = set(targets) - repeated
    out: list[str] = []
    made: list[str] = []
    line = 0
    for target, event in zip(targets, events, strict=True):
        if target not in repeated:
            out.append(target)
            continue
        base = _method_name(event.name)
        if base in _GENERIC_METHODS:
            # ``result = await session.execute(a)`` ... ``result = await session.execute(b)``
            base = target if target != RETURNED else "result"
        name = base
        suffix = 2
        while name in taken or not name.isidentifier():
            name = f"{base}_{suffix}" if base.isidentifier() else f"result_{suffix}"
            suffix += 1
        taken.add(name)
        out.append(name)
        made.append(name)
        line = line or event.span.line
    return out, (line, made)


# methods named after what they do, not what they return: the result keeps the name it had
_GENERIC_METHODS = frozenset(
    {
        "execute",
        "scalar",
        "scalars",
        "scalar_one",
        "fetch",
        "fetchrow",
        "fetchval",
        "fetchall",
        "fetchone",
        "all",
        "first",
        "one",
        "get",
        "run",
        "stream",
        "stream_scalars",
        "result",
    }
)
_VERB = re.compile(r"^(?:get|list|fetch|find|load|read|select|query)_(?=\w)")


def _method_name(name: str) -> str:
    """``repository.list_product_canonicals`` -> ``product_canonicals``."""
    method = name.rsplit(".", 1)[-1].strip("_")
    return _VERB.sub("", method) or "result"


def _call_text(event: QueryEvent) -> str:
    if event.call is not None:
        return f"{event.call.callee}({', '.join(event.call.args)})"
    return event.text


def _with_session(call: str, session: str) -> str:
    return call.replace(f"({session},", "(s,").replace(f"{session}.", "s.", 1)


def _source_text(fn: Function, event: QueryEvent) -> str:
    """The query's call as one line of code, read whole from the source: the model's text of
    a call or of its arguments is cut short (at 160 characters, or the first 4 lines of a
    statement written over more), and a query cut there is another query (``.where(`` lost
    its conditions). When the source gives no whole call, the call with ``...`` for its
    arguments (the fix says where they are written)."""
    callee = event.call.callee if event.call is not None else (event.op.api if event.op else "")
    whole = _whole_call(fn, event.span, callee) if callee else None
    if whole is not None:
        return whole
    text = _call_text(event)
    if "…" not in text:
        try:
            ast.parse(text, mode="eval")
            return text
        except SyntaxError:
            pass
    return f"{callee or 'query'}(...)"


def _whole_call(fn: Function, span: Span, callee: str) -> str | None:
    """The call to ``callee`` starting at ``span``, unparsed to one line (its meaning kept:
    string literals as they are), or None."""
    first = span.line - fn.span.line
    lines = fn.source_lines[first : first + span.end_line - span.line + 1]
    if first < 0 or not lines:
        return None
    text = "\n".join([lines[0][span.col :], *lines[1:]])
    depth = 0
    reader = io.StringIO(text).readline
    try:
        for token in tokenize.generate_tokens(reader):
            if token.type != tokenize.OP:
                continue
            if token.string in "([{":
                depth += 1
            elif token.string in ")]}":
                depth -= 1
                if depth < 0:
                    return None
                if depth == 0:
                    row, column = token.end
                    candidate = "\n".join(
                        [*text.split("\n")[: row - 1], text.split("\n")[row - 1][:column]]
                    )
                    node = _parsed(candidate)
                    if isinstance(node, ast.Call) and ast.unparse(node.func) == callee:
                        return ast.unparse(node)
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


def _parsed(text: str) -> ast.expr | None:
    try:
        return ast.parse(f"(\n{text}\n)", mode="eval").body
    except SyntaxError:
        return None


def _typescript_fix(handle: str, events: tuple[QueryEvent, ...], lang: str) -> tuple[Fix, str]:
    """``Promise.all``: Drizzle's ``db``, ``prisma``, a ``Pool`` and ``knex`` are pools and run
    the queries on separate connections; a transaction handle or one pg ``client`` is a single
    connection, so there the queries move to the pool (outside the transaction)."""
    calls = [_call_text(e) for e in events]
    # a Prisma client is a pool whatever it is called (umami's ``client``); only its
    # transaction handle (``tx``) is one connection
    prisma_pool = all(e.op is not None and e.op.library == "prisma" for e in events) and not (
        ts.transaction_handle(handle)
    )
    if handle and ts.single_connection(handle) and not prisma_pool:
        note = (
            f"They all run on `{handle}`, one connection (a transaction or a checked-out "
            "client) that runs one statement at a time: run them on the pool (`db`, `prisma`, "
            "`pool`) instead, or keep them sequential if they need the transaction's snapshot."
        )
        calls = [c.replace(f"({handle},", "(db,").replace(f"{handle}.", "db.", 1) for c in calls]
        summary = f"Run them with Promise.all on the pool rather than on `{handle}`. {note}"
    else:
        on = f"`{handle}` is a pool" if handle else "`db`, `prisma` and `pool` are pools"
        note = (
            f"{on}: each query checks out its own connection, so they can overlap (only a "
            "transaction handle such as `tx` or one pg `client` runs one statement at a time)."
        )
        summary = f"Run them concurrently with Promise.all. {note}"
    code = ts.promise_all_code([e.targets for e in events], calls)
    return Fix(summary, code, lang), note


def _separate_note(events: Sequence[QueryEvent]) -> str:
    """What running them at once needs, when they do not all name one session: each names a
    session or connection of its own (they can overlap as they are), or some go through an
    object (``self._profiles_repo``, a repository) that may hold the very connection the others
    use, which is common (repositories built on the request's one connection)."""
    if all(e.session and not e.session.startswith("self") for e in events):
        return "They use separate sessions/connections, so they can overlap."
    return (
        "One session or connection runs one statement at a time: if these share one (objects "
        "such as repositories built on the request's connection often do), give each query its "
        "own session or pool connection before gathering, or join them into one query."
    )
