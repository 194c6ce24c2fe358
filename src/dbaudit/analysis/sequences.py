"""Queries a function runs one after another, and how they depend on each other.

DBA105 (independent sequential awaits), DBA106 (lookups by a fetched row's foreign keys) and
DBA107 (two single-row queries keyed by the same value) all look at the same thing: the
queries of one function that are not in a loop, in source order, each either a direct database
call or a call to a helper that queries. The three rules split these sequences between them so
that one pair of queries is reported by the rule whose fix fits best, never twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.program import (
    PURE_READ_KINDS,
    READ_KINDS,
    WRITE_KINDS,
    Program,
    Reach,
    is_single_row,
)
from dbaudit.model import Branch, Call, DbOp, Filter, Span

# helpers named for an effect are not regrouped even when all we see of them is reads
_EFFECT_NAME = re.compile(
    r"^_*(on_|send|handle|create|update|delete|remove|set_|process|trigger|enqueue|notify|emit|"
    r"publish|sync|save|apply|assert|ensure|validate|check|cancel|mark|add|insert|upsert|"
    r"register|dispatch|schedule|run|execute|commit|flush|refresh|lock|acquire|release|grant|"
    r"revoke|reset|import|export|migrate|backfill)",
    re.I,
)
_SESSION_NAME = re.compile(r"(^|\.|_)(session|sess|db|conn|connection|con|cur|cursor|tx)$")
_LITERAL = re.compile(r"^(['\"\d-]|None$|True$|False$)")


@dataclass(frozen=True, slots=True)
class QueryEvent:
    seq: int
    span: Span
    text: str
    targets: tuple[str, ...]
    reads: frozenset[str]
    control_reads: frozenset[str]
    branch: Branch
    awaited: bool
    in_gather: bool
    reads_only: bool
    pure: bool  # only reads, nothing else that could depend on order (DBA105 regroups these)
    single_row: bool
    batched: bool
    entity: bool  # returns a row of a table (not a count or other aggregate)
    keys: tuple[Filter, ...]  # filters with values as the *caller* writes them
    tables: tuple[str, ...]
    session: str  # the session/connection it runs on, as written ("" when unknown)
    op: DbOp | None = None
    call: Call | None = None
    target: FunctionRef | None = None

    @property
    def name(self) -> str:
        if self.call is not None:
            return self.call.callee
        return self.op.api if self.op is not None else "query"


T = TypeVar("T")


def _memo(
    program: Program, name: str, ref: FunctionRef, compute: Callable[[Program, FunctionRef], T]
) -> T:
    """Compute once per function: three rules ask the same questions."""
    key = (name, ref.id)
    if key not in program.memo:
        program.memo[key] = compute(program, ref)
    return cast(T, program.memo[key])


def exclusive(a: Branch, b: Branch, exiting: tuple[tuple[int, int], ...] = ()) -> bool:
    """``a`` (earlier) and ``b`` never both run: different arms of one ``if``/``try``/``match``,
    or ``a`` sits in an arm that ends in ``return``/``raise`` and ``b`` comes after that arm."""
    arms = dict(a)
    if any(statement in arms and arms[statement] != arm for statement, arm in b):
        return True
    return any(arm in exiting and arm not in b for arm in a)


def _map_keys(call: Call, target: FunctionRef, op: DbOp | None) -> tuple[Filter, ...]:
    if op is None:
        return ()
    params = list(target.function.params)
    if target.function.class_name and not target.function.is_staticmethod and params:
        params = params[1:]  # self / cls
    mapped = []
    for flt in op.filters:
        if flt.value in params:
            index = params.index(flt.value)
            if index < len(call.args):
                mapped.append(Filter(flt.column, flt.op, call.args[index], flt.table))
                continue
        mapped.append(Filter(flt.column, flt.op, "", flt.table))
    return tuple(mapped)


def _session_of_call(call: Call) -> str:
    for arg in call.args:
        if _SESSION_NAME.search(arg):
            return arg
    if "." in call.callee:
        receiver = call.callee.rsplit(".", 1)[0]
        if receiver.startswith("self."):
            return receiver
    return ""


def query_events(program: Program, ref: FunctionRef) -> list[QueryEvent]:
    """The function's queries outside loops, in source order (direct ones and via helpers)."""
    return _memo(program, "query_events", ref, _query_events)


def _query_events(program: Program, ref: FunctionRef) -> list[QueryEvent]:
    fn = ref.function
    events: list[QueryEvent] = []
    for op in fn.db_ops:
        if op.loops or op.kind == "flush":
            continue
        events.append(
            QueryEvent(
                seq=op.seq,
                span=op.span,
                text=op.text,
                targets=op.targets,
                reads=op.reads,
                control_reads=op.control_reads,
                branch=op.branch,
                awaited=op.awaited,
                in_gather=op.in_gather,
                reads_only=op.kind in READ_KINDS or (op.kind == "raw" and not op.sql),
                pure=op.kind in PURE_READ_KINDS,
                single_row=is_single_row(op),
                batched=op.batched,
                entity=not op.aggregate and op.kind != "count",
                keys=op.filters,
                tables=op.tables,
                session=op.receiver,
                op=op,
            )
        )
    for call, target in program.graph.callees(ref):
        if call.loops:
            continue
        reach: Reach = program.reach(target)
        if not reach.queries:
            continue
        first = reach.first_op
        events.append(
            QueryEvent(
                seq=call.seq,
                span=call.span,
                text=call.callee,
                targets=call.targets,
                reads=call.reads,
                control_reads=call.control_reads,
                branch=call.branch,
                awaited=call.awaited,
                in_gather=call.in_gather,
                reads_only=reach.reads and not reach.writes,
                pure=(reach.pure_reads and not _EFFECT_NAME.match(call.callee.rsplit(".", 1)[-1]))
                or program.reads_by_its_sql(call, target),
                single_row=reach.single_row,
                batched=reach.batched_only,
                entity=first is not None and not first.aggregate and first.kind != "count",
                keys=_map_keys(call, target, first)
                if reach.single_row or reach.cost.total_constant == 1
                else (),
                tables=first.tables if first is not None else (),
                session=_session_of_call(call),
                call=call,
                target=target,
            )
        )
    events.sort(key=lambda e: e.seq)
    return events


def _writes_in_loops(program: Program, ref: FunctionRef) -> list[tuple[int, set[str] | None]]:
    """Awaited writes inside the function's loops (directly or through helpers), in order,
    with the tables they write (None: unknown)."""
    found: list[tuple[int, set[str] | None]] = []
    for op in ref.function.db_ops:
        if op.loops and op.kind in WRITE_KINDS and not op.in_gather:
            found.append((op.seq, set(op.tables) or None))
    for call, target in program.graph.callees(ref):
        if call.loops and not call.in_gather and program.reach(target).writes:
            found.append((call.seq, _tables_reached(program, target, 0, reading=False)))
    found.sort(key=lambda item: item[0])
    return found


# helpers that reject a request by throwing: ``getProgramOrThrow``, ``verifyFolderAccess``,
# ``throwIfInvalidGroupIds``, ``assert_can_edit``
_GUARD_SUFFIX = re.compile(r"(?:OrThrow|OrFail|Or404|_or_404|_or_raise)$")
_GUARD_PREFIX = re.compile(
    r"^_*(?:throwIf|throw_if|verify|validate|assert|ensure|check|require|authori[sz]e)(?=[A-Z_]|$)"
)


def is_guard(event: QueryEvent) -> bool:
    """A check the code after it waits for, not a fetch: a helper named for rejecting the
    request, or a query that throws when the row is missing whose result is not kept
    (``await prisma.user.findUniqueOrThrow(...)``)."""
    if event.call is not None:
        name = event.call.callee.rsplit(".", 1)[-1]
        return bool(_GUARD_SUFFIX.search(name) or _GUARD_PREFIX.match(name))
    if event.op is not None:
        kept = [t for t in event.targets if not t.startswith("<guard")]
        return not kept and bool(_GUARD_SUFFIX.search(event.op.api))
    return False


def depends_on(program: Program, ref: FunctionRef, later: QueryEvent, earlier: QueryEvent) -> bool:
    """``later`` needs ``earlier``'s result: it reads it, or only runs depending on it."""
    produced = program.derived(ref.function, earlier.targets, until=later.seq)
    return bool((later.reads | later.control_reads) & produced)


@dataclass(frozen=True, slots=True)
class Lookups:
    """A row fetched, then further queries keyed by its foreign keys one at a time (DBA106)."""

    base: QueryEvent
    lookups: tuple[QueryEvent, ...]
    row_name: str
    attributes: tuple[str, ...]


def _fk_attribute(value: str, names: set[str]) -> tuple[str, str] | None:
    match = re.fullmatch(r"(\w+)\.(\w+)", value.strip())
    if match and match.group(1) in names:
        attr = match.group(2)
        if attr.endswith(("_id", "_pk")) or attr in {"id", "pk"} or re.search(r"[a-z0-9]Id$", attr):
            return match.group(1), attr
    return None


def dependent_lookups(program: Program, ref: FunctionRef) -> list[Lookups]:
    return _memo(program, "dependent_lookups", ref, _dependent_lookups)


def _dependent_lookups(program: Program, ref: FunctionRef) -> list[Lookups]:
    events = [e for e in query_events(program, ref) if e.reads_only and not e.in_gather]
    found: list[Lookups] = []
    claimed: set[int] = set()
    for index, base in enumerate(events):
        if not base.single_row or not base.targets or base.seq in claimed:
            continue
        row_names = program.derived(ref.function, base.targets)
        lookups: list[QueryEvent] = []
        attributes: list[str] = []
        row_name = base.targets[0]
        for later in events[index + 1 :]:
            if later.batched or not later.single_row:
                continue
            # the looked-up row is the one the fetched row points at: keyed by its primary key
            values = [k.value for k in later.keys if k.column in {"id", "pk"} and k.op == "=="]
            hit = next((h for v in values if (h := _fk_attribute(v, row_names))), None)
            if hit is None or hit[1] in {"id", "pk"}:
                continue
            lookups.append(later)
            attributes.append(hit[1])
            row_name = hit[0]
        if len(lookups) >= 2:
            found.append(Lookups(base, tuple(lookups), row_name, tuple(attributes)))
            claimed.update(e.seq for e in lookups)
    return found


@dataclass(frozen=True, slots=True)
class Combinable:
    """Two single-row queries keyed by the same value on related tables (DBA107)."""

    first: QueryEvent
    second: QueryEvent
    key: str
    columns: tuple[str, str]


def _fk_target(program: Program, table: str, column: str) -> str | None:
    model = program.models.get(table)
    if model is None:
        for candidate in program.models.values():
            if candidate.table == table:
                model = candidate
                break
    if model is None:
        return None
    for fk in model.foreign_keys:
        if fk.column == column:
            return fk.target_table
    return None


def _table_name(program: Program, table: str) -> str:
    model = program.models.get(table)
    return model.table if model is not None else table


def related(program: Program, a: QueryEvent, fa: Filter, b: QueryEvent, fb: Filter) -> bool:
    table_a = fa.table or (a.tables[0] if a.tables else "")
    table_b = fb.table or (b.tables[0] if b.tables else "")
    if not table_a or not table_b or table_a == table_b:
        return False
    target_a = _fk_target(program, table_a, fa.column)
    target_b = _fk_target(program, table_b, fb.column)
    if target_a is not None and target_b is not None:
        return target_a == target_b
    if target_a is not None:
        return target_a == _table_name(program, table_b) and fb.column in {"id", "pk"}
    if target_b is not None:
        return target_b == _table_name(program, table_a) and fa.column in {"id", "pk"}
    return fa.column == fb.column and fa.column.endswith("_id")


def combinable_pairs(program: Program, ref: FunctionRef) -> list[Combinable]:
    return _memo(program, "combinable_pairs", ref, _combinable_pairs)


def _combinable_pairs(program: Program, ref: FunctionRef) -> list[Combinable]:
    fn = ref.function
    events = [
        e
        for e in query_events(program, ref)
        if e.reads_only and not e.in_gather and e.single_row and not e.batched and e.entity
    ]
    if len(events) < 2:
        return []
    lookup_seqs = {e.seq for group in dependent_lookups(program, ref) for e in group.lookups}
    # how many of the function's queries each key value drives: with three or more, the
    # function fetches several aspects of one entity and DBA105's gather is the fix, not a JOIN
    keyed: dict[str, int] = {}
    for event in query_events(program, ref):
        for value in {k.value for k in event.keys if k.value} | set(
            event.call.args if event.call is not None else ()
        ):
            keyed[value] = keyed.get(value, 0) + 1
    returned = program.returned_names(fn)
    pairs: list[Combinable] = []
    used: set[int] = set()
    for index, first in enumerate(events):
        if first.seq in used or first.seq in lookup_seqs:
            continue
        for second in events[index + 1 :]:
            if (
                second.seq in used
                or second.seq in lookup_seqs
                or exclusive(first.branch, second.branch, fn.exiting_arms)
            ):
                continue
            produced = program.derived(fn, first.targets, until=second.seq)
            if second.reads & produced:
                continue  # keyed by the first one's result: DBA106's business
            pair = _shared_key(program, first, second)
            if pair is None:
                continue
            if not (program.derived(fn, first.targets) & (returned | {"<return>"})) or not (
                program.derived(fn, second.targets) & (returned | {"<return>"})
            ):
                continue  # results are not merged into what the function returns
            key, fa, fb = pair
            if keyed.get(key, 0) > 2:
                continue
            pairs.append(Combinable(first, second, key, (fa.column, fb.column)))
            used.update((first.seq, second.seq))
            break
    return pairs


def _shared_key(
    program: Program, a: QueryEvent, b: QueryEvent
) -> tuple[str, Filter, Filter] | None:
    for fa in a.keys:
        if fa.op != "==" or not fa.value or _LITERAL.match(fa.value):
            continue
        for fb in b.keys:
            if fb.op == "==" and fb.value == fa.value and related(program, a, fa, b, fb):
                return fa.value, fa, fb
    return None


def _tables_of(program: Program, event: QueryEvent, reading: bool) -> set[str] | None:
    """Every table the event's queries touch (``reading``: read, else write), through
    helpers; None when one is unknown."""
    if event.target is None:
        if event.op is not None:
            return _op_tables(event.op, reading)
        return set(event.tables) or None
    return _tables_reached(program, event.target, 0, reading)


def _op_tables(op: DbOp, reading: bool) -> set[str] | None:
    """The tables one statement touches; read, None when it reaches some by relation name
    (Prisma's ``recipients: { every: ... }`` or ``include``, Drizzle's ``with``), whose tables
    the name does not give: ``envelope.findFirst`` on its recipients reads ``recipient`` too."""
    if not op.tables or "<dynamic>" in op.tables:
        return None
    if not reading:
        return set(op.tables)
    if op.eager_loads or (op.joins and op.library == "prisma"):
        return None
    return {*op.tables, *op.joins}


def _tables_reached(
    program: Program, ref: FunctionRef, depth: int, reading: bool
) -> set[str] | None:
    key = ("tables_read" if reading else "tables_reached", ref.id)
    if key in program.memo:
        return cast("set[str] | None", program.memo[key])
    program.memo[key] = None  # a cycle: unknown
    found = _tables_found(program, ref, depth, reading)
    program.memo[key] = found
    return found


def _tables_found(program: Program, ref: FunctionRef, depth: int, reading: bool) -> set[str] | None:
    found: set[str] = set()
    for op in ref.function.db_ops:
        tables = _op_tables(op, reading)
        if tables is None:
            return None
        found |= tables
    for _, target in program.graph.callees(ref):
        sub = _tables_reached(program, target, depth + 1, reading) if depth < 6 else None
        if sub is None:
            return None
        found |= sub
    return found


@dataclass(frozen=True, slots=True)
class Sequential:
    """Awaited queries that do not need each other's results (DBA105)."""

    events: tuple[QueryEvent, ...]
    shared_session: str


def sequential_groups(program: Program, ref: FunctionRef) -> list[Sequential]:
    fn = ref.function
    if not fn.is_async:
        return []
    claimed = {e.seq for group in dependent_lookups(program, ref) for e in group.lookups}
    for pair in combinable_pairs(program, ref):
        claimed.update((pair.first.seq, pair.second.seq))
    # rows changed in place after loading belong to this session's unit of work: loading them
    # from other sessions, as running the queries concurrently needs, would lose the changes
    mutated = {t.split(".")[0] for a in fn.assigns for t in a.targets if "." in t}
    groups: list[list[QueryEvent]] = []
    current: list[QueryEvent] = []
    # tables written since the group began ("*": unknown): a read of one of them needs the
    # write (``deleteMany`` then ``count``) and cannot join the reads before it
    written: set[str] = set()
    barriers = _writes_in_loops(program, ref)
    for event in query_events(program, ref):
        while barriers and barriers[0][0] < event.seq:
            # ``for (const link of links) await createCode(link)`` between two reads: the
            # writes of the loop land before the second one (``count`` of what it created)
            written |= barriers.pop(0)[1] or {"*"}
        if event.awaited and not event.in_gather and is_guard(event):
            # ``await verifyFolderAccess(...)`` / ``await getProgramOrThrow(...)``: a check that
            # throws to reject the request; what follows runs only once it passed
            groups.append(current)
            current, written = [], set()
            continue
        if event.awaited and not event.in_gather and not event.pure:
            written |= _tables_of(program, event, reading=False) or {"*"}
            continue
        if (
            not event.awaited
            or event.in_gather
            or event.seq in claimed
            or (mutated and program.derived(fn, event.targets) & mutated)
        ):
            continue
        if written:
            read = _tables_of(program, event, reading=True)
            if "*" in written or read is None or read & written:
                groups.append(current)
                current = []
            written = set()
        independent = all(
            not depends_on(program, ref, event, member)
            and not exclusive(member.branch, event.branch, fn.exiting_arms)
            for member in current
        )
        if independent:
            current.append(event)
        else:
            groups.append(current)
            current = [event]
    groups.append(current)
    result = []
    for group in groups:
        if len(group) < 2:
            continue
        sessions = {e.session for e in group}
        shared = sessions.pop() if len(sessions) == 1 else ""
        result.append(Sequential(tuple(group), shared))
    return result
