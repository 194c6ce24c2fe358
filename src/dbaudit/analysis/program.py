"""The whole analysed program: call graph, what each function reaches, costs, data flow.

Rules receive one ``Program`` and ask it questions; each answer is computed once and memoised,
so the rule set stays linear in the size of the tree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from dbaudit.analysis.callgraph import CallGraph, FunctionId, FunctionRef
from dbaudit.analysis.cost import ZERO, Cost
from dbaudit.findings import CallHop, CallSignature, Confidence, Finding, Fix, Severity
from dbaudit.model import Branch, Call, DbOp, Filter, Function, Loop, ModelClass, ModuleModel, Span
from dbaudit.model.expressions import free_names, object_pairs

ROW_SHAPES = frozenset({"rows", "queryset"})  # many rows, fetched now or when iterated
PURE_READ_KINDS = frozenset({"select", "count"})
WRITE_KINDS = frozenset({"insert", "update", "delete", "flush"})
READ_KINDS = frozenset({"select", "count", "stream", "refresh"})
# SQL text handed to a helper as an argument (``rawQuery(`select ...`, params)``), also after
# the pieces it is assembled from (``${cte} select ...``)
_SQL_ARGUMENT = re.compile(
    r"^[`'\"(\s]*(?:\$\{[^}]*\}\s*)*(select|with|insert|update|delete|merge)\b", re.I
)
_SQL_WRITE = re.compile(
    r"\b(insert\s+into|update\s+[\w\".]+\s+set|delete\s+from|merge\s+into)\b", re.I
)
_SESSION_SETTING = re.compile(r"^\s*(set|reset|show)\b", re.I)
# a value that is a name's rows: ``rows``, ``await rows``, ``rows.map(...)``, ``rows ?? []``
_ROWS_VALUE = re.compile(
    r"^(?:await\s+)?\(?([A-Za-z_$][\w$]*)\)?"
    r"(?:\s*(?:\?\?|\|\|)\s*\[\s*\]|\??\.(?:map|filter|flatMap|slice|toSorted|sort)\(.*|"
    r"\.(?:all|scalars|fetchall)\(\))?$",
    re.S,
)
# ``[to_dto(r) for r in rows]`` / ``list(rows)`` / ``sorted(rows, key=...)``
_ROWS_COMPREHENSION = re.compile(
    r"^(?:\[.+\bfor\b.+?\bin\s+([A-Za-z_]\w*)\s*(?:\bif\b.*)?\]|"
    r"(?:list|tuple|sorted)\(([A-Za-z_]\w*)\b[^()]*\))$",
    re.S,
)
# a loop over this few known items is not an N+1 (``for kind in ("a", "b")``)
SMALL_CONSTANT_LOOP = 10
_ROUTE_DECORATOR = re.compile(
    r"(^|\.)(get|post|put|patch|delete|route|api_route|websocket|api_view|action|view_config"
    r"|require_http_methods|require_GET|require_POST|login_required)$"
)
# ``while queue:`` / ``while len(pending) > 0`` / ``while self.items``: draining a collection
_CONSUMES_COLLECTION = re.compile(
    r"^(?:len\(\s*)?(?:[A-Za-z_]\w*\.)*(?:\w*s|\w*(?:queue|stack|pending|todo|remaining|"
    r"frontier|batch|buffer|heap|list|set))(?:\s*\))?(?:\s*>\s*0)?$",
    re.I,
)
# loops over a model's fields, a call's keyword arguments or the schema's tables: bounded by
# the code, not by the data
_SCHEMA_BOUNDED = re.compile(
    r"(^|[^\w])(kwargs|__dict__|sorted_tables|metadata\.tables|__table__\.columns|models|"
    r"_meta\.(?:get_)?fields|__mapper__\.\w+|inspect\([^)]*\)\.\w+|"
    # Django's app registry: ``apps.get_models()``, ``apps.all_models["core"]``
    r"(?:apps?|app_config|registry)\.(?:get_models\(\)|all_models))([^\w]|$)"
)
_CACHED = re.compile(
    r"(^|\.)(memoize|memoized|cached|cache|lru_cache|cached_property|cachedmethod|alru_cache|"
    r"cache_result|cache_on_arguments|ttl_cache|async_lru)$"
)
_HANDLER_PATH = re.compile(
    r"(^|/)(views?|handlers?|routes?|routers?|api|endpoints?|actions?)(/|\.py$)"
)
# TypeScript: Next.js server actions (``'use server'`` exports, recorded as a decorator) and
# NestJS controller/resolver decorators (``@Get()``, ``@Post(':id')``, ``@Query()``, ...)
_TS_HANDLER_DECORATOR = re.compile(
    r"^(use server|Get|Post|Put|Patch|Delete|All|Options|Head|Sse|MessagePattern|EventPattern"
    r"|Query|Mutation|Subscription|ResolveField|SubscribeMessage)$"
)
# Next.js route handlers (``app/**/route.ts``, ``pages/api/**``), NestJS controllers and
# resolvers, and files named like the Python handler modules (``actions.ts``, ``routes.ts``)
_TS_HANDLER_PATH = re.compile(
    r"((^|/)(route|views?|handlers?|routes?|routers?|api|endpoints?|actions?)"
    r"|\.(controller|resolver|gateway|actions?))\.[cm]?[jt]sx?$"
    r"|(^|/)pages/api/"
)


@dataclass(frozen=True, slots=True)
class Reach:
    """What calling a function costs and does, through every helper it calls."""

    cost: Cost
    reads: bool
    writes: bool
    batched_only: bool  # every query it reaches is batched (IN/ANY/executemany/bulk)
    chain: tuple[CallHop, ...]  # from inside the function down to its first query
    first_op: DbOp | None
    single_row: bool  # its only query returns one row
    returned_op: DbOp | None  # the query whose rows it returns (for lazy-load analysis)
    returned_model_path: str = ""
    first_call: Call | None = None  # the call inside the function that leads to first_op
    first_target: FunctionRef | None = None
    # only reads rows: no writes, no refresh/flush of session state, and no awaited call that
    # leaves the tree (HTTP, queues, caches): safe to reorder or run concurrently
    pure_reads: bool = False
    # some query runs on every call: one outside any conditional branch, in the function or in
    # a helper it calls outside one (``cost.conditional`` says only that some query may not)
    certain: bool = False

    @property
    def queries(self) -> bool:
        return bool(self.cost.terms)


_NO_REACH = Reach(ZERO, False, False, True, (), None, False, None)


def loop_levels(fn: Function, loops: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The cost monomial of an event in ``loops``, and the multiplier of constant loops."""
    multiplier = 1
    depth = 0
    for loop_id in loops:
        loop = fn.loops[loop_id]
        if loop.constant_size is not None and loop.constant_size <= SMALL_CONSTANT_LOOP:
            multiplier *= max(loop.constant_size, 1)
        else:
            depth += 1
    return tuple(range(1, depth + 1)), multiplier


def significant_loops(fn: Function, loops: tuple[int, ...]) -> list[Loop]:
    """Enclosing loops that iterate over many items.

    Left out: small literal collections, and ``while`` loops that do not consume a collection
    (``while True``, ``while not self.shutdown``, ``while email is None``): polling, retry and
    prompt loops run their body once per event, not once per item of a result.
    """
    found = []
    for i in loops:
        loop = fn.loops[i]
        if loop.constant_size is not None and loop.constant_size <= SMALL_CONSTANT_LOOP:
            continue
        if loop.kind == "while" and not _CONSUMES_COLLECTION.match(loop.iterable):
            continue
        if _SCHEMA_BOUNDED.search(loop.iterable):
            continue
        found.append(loop)
    return found


class Program:
    def __init__(self, modules: Sequence[ModuleModel]) -> None:
        self.graph = CallGraph(modules)
        self.modules = self.graph.modules
        self._reach: dict[FunctionId, Reach] = {}
        # per-function answers shared by several rules (query events, lookups, pairs)
        self.memo: dict[tuple[str, FunctionId], object] = {}
        self._in_progress: set[FunctionId] = set()

    # ---- basics

    @property
    def functions(self) -> Iterable[FunctionRef]:
        return self.graph.functions.values()

    @property
    def models(self) -> dict[str, ModelClass]:
        return self.graph.models

    def resolve(self, ref: FunctionRef, call: Call) -> FunctionRef | None:
        return self.graph.resolve(ref, call)

    # ---- reach and cost

    def reach(self, ref: FunctionRef) -> Reach:
        cached = self._reach.get(ref.id)
        if cached is not None:
            return cached
        if ref.id in self._in_progress:
            return Reach(Cost(unknown=True), False, False, True, (), None, False, None)
        self._in_progress.add(ref.id)
        try:
            result = self._compute_reach(ref)
        finally:
            self._in_progress.discard(ref.id)
        self._reach[ref.id] = result
        return result

    def _compute_reach(self, ref: FunctionRef) -> Reach:
        fn = ref.function
        if any(_CACHED.search(d) for d in fn.decorators):
            # memoised: the query runs once per cache lifetime, not once per call
            return _NO_REACH
        cost = ZERO
        reads = writes = False
        batched_only = True
        chain: tuple[CallHop, ...] = ()
        first: DbOp | None = None
        awaited_events = 0
        first_call: Call | None = None
        first_target: FunctionRef | None = None
        certain = False
        for op in fn.db_ops:
            if op.kind != "flush" and not op.branch:
                certain = True
            if op.kind in WRITE_KINDS:
                writes = True
            else:
                reads = True
            if op.kind != "flush" or _sends_the_loops_writes(fn, op):
                monomial, multiplier = loop_levels(fn, op.loops)
                term = Cost.term(monomial, multiplier) if monomial else Cost.constant(multiplier)
                if op.branch:
                    term = term.with_flags(conditional=True)
                if op.in_gather and not monomial:
                    term = Cost(term.terms, term.conditional, False, multiplier)
                cost = cost + term
                if op.awaited and not op.in_gather and not op.loops:
                    awaited_events += 1
                if not _batched(op):
                    batched_only = False
            if first is None or (first.kind == "flush" and op.kind != "flush"):
                first = op
                chain = (self.hop(ref, op.span.line, self.describe_op(op)),)
        returned_op: DbOp | None = None
        returned_path = ""
        for op in fn.db_ops:
            if (
                op.kind in {"select", "stream"}
                and op.result_shape in ROW_SHAPES
                and ("<return>" in op.targets or set(op.targets) & self.returned_rows(fn))
            ):
                returned_op = op
                returned_path = ref.module.path
        for call, target in self.graph.callees(ref):
            sub = self.reach(target)
            if not sub.queries and not sub.writes:
                continue
            reads |= sub.reads
            writes |= sub.writes
            batched_only &= sub.batched_only
            certain |= sub.certain and not call.branch
            monomial, multiplier = loop_levels(fn, call.loops)
            term = sub.cost.shifted(monomial, multiplier)
            if call.branch:
                term = term.with_flags(conditional=True)
            if call.in_gather and not monomial:
                term = Cost(
                    term.terms, term.conditional, False, sub.cost.total_constant * multiplier
                )
            cost = cost + term
            if call.awaited and not call.in_gather and not call.loops:
                awaited_events += 1
            if first is None:
                first = sub.first_op
                first_call, first_target = call, target
                chain = (self.hop(ref, call.span.line, f"calls {call.callee}"), *sub.chain)
            if sub.returned_op is not None and (
                "<return>" in call.targets or set(call.targets) & self.returned_rows(fn)
            ):
                returned_op = sub.returned_op
                returned_path = sub.returned_model_path
        if awaited_events >= 2 and fn.is_async:
            cost = cost.with_flags(sequential=True)
        pure_reads = bool(
            reads and not writes and all(op.kind in PURE_READ_KINDS for op in fn.db_ops)
        )
        for call in fn.calls if pure_reads else ():
            if not call.awaited:
                continue
            awaited = self.graph.resolve(ref, call)
            if awaited is None:
                pure_reads = False  # awaits something outside the tree: a side effect maybe
                break
            sub = self.reach(awaited)
            if (sub.queries or sub.writes) and not (
                sub.pure_reads or self.reads_by_its_sql(call, awaited)
            ):
                pure_reads = False
                break
        single_row = (
            cost.is_constant
            and cost.total_constant == 1
            and first is not None
            and is_single_row(first)
        )
        return Reach(
            cost,
            reads,
            writes,
            batched_only,
            chain,
            first,
            single_row,
            returned_op,
            returned_path,
            first_call,
            first_target,
            pure_reads,
            certain,
        )

    def reads_by_its_sql(self, call: Call, target: FunctionRef) -> bool:
        """``rawQuery(`select ...`, params)``: a helper that runs the SQL its caller hands it
        does what that text says, so a SELECT given to it only reads, as it would in place."""
        verbs = [(m.group(1).lower(), a) for a in call.args if (m := _SQL_ARGUMENT.match(a))]
        if not verbs or any(v not in {"select", "with"} or _SQL_WRITE.search(a) for v, a in verbs):
            return False
        return self.runs_given_sql(target)

    def runs_given_sql(self, ref: FunctionRef) -> bool:
        """Its statements are SQL from its parameters (raw, text unknown here), besides session
        settings (``SET search_path``), and nothing it calls writes or does more than read."""
        key = ("runs_given_sql", ref.id)
        if key not in self.memo:
            self.memo[key] = self._runs_given_sql(ref)
        return bool(self.memo[key])

    def _runs_given_sql(self, ref: FunctionRef) -> bool:
        ops = ref.function.db_ops
        if not any(op.kind == "raw" and not op.sql for op in ops):
            return False
        for op in ops:
            if op.kind == "raw" and not op.sql:
                continue
            if op.kind == "ddl" and _SESSION_SETTING.match(op.sql):
                continue
            return False
        for _, target in self.graph.callees(ref):
            sub = self.reach(target)
            if sub.writes or (sub.queries and not sub.pure_reads):
                return False
        return True

    def key_in_caller(
        self, call: Call, target: FunctionRef, loop_names: Iterable[str] = ()
    ) -> Filter | None:
        """The key filter of the first query ``call`` leads to, written in the caller's terms.

        ``for p in projects: overview(session, p)`` -> ``RendersDAL.list_for_project(session,
        p.id)`` -> ``Render.project_id == project_id`` gives ``project_id == p.id``. Only an
        equality / ``IN`` filter whose value reads a parameter the call passes can be one: a
        helper's constant filter (``tenant_id == TENANT``, ``kind == "draft"``) is the same for
        every item, and with no filter reading a parameter there is no key. Of several, the
        one whose value reads ``loop_names`` (what the loop binds, as key_filter picks), then
        the one on the row's own key, then the first as written.
        """
        found = self._keys_in_caller(call, target, 0)
        names = set(loop_names)
        per_item = [f for f in found if free_names(f.value) & names] or found
        on_row_key = [f for f in per_item if f.column in _ROW_KEY_COLUMNS]
        return (on_row_key or per_item)[0] if per_item else None

    def _keys_in_caller(self, call: Call, target: FunctionRef, depth: int) -> list[Filter]:
        """Every filter of the first query ``call`` leads to whose value reads what the call
        passes, rewritten with the arguments in place of the parameters."""
        reach = self.reach(target)
        candidates: list[Filter] = []
        if reach.first_call is not None and reach.first_target is not None and depth < 8:
            candidates = self._keys_in_caller(reach.first_call, reach.first_target, depth + 1)
        elif reach.first_op is not None:
            candidates = [f for f in reach.first_op.filters if f.op in {"==", "in"}]
        passed = _still_passed(passed_arguments(call, target.function), target.function)
        return [
            Filter(f.column, f.op, value, f.table)
            for f in candidates
            if free_names(f.value) & passed.keys()
            and (value := _substitute(f.value, passed)) is not None
        ]

    def key_before_loop(
        self, ref: FunctionRef, key: Filter | None, loop: Loop, line: int
    ) -> tuple[Filter | None, bool]:
        """``key`` (the per-item key filter of a query or call at ``line`` in ``loop``) written
        with what the loop binds, and whether it can be.

        ``for f in fields: field_id = f.get("field_id"); X.filter_by(id=field_id)`` is keyed by
        ``f.get("field_id")``: names the loop body assigns before ``line`` are replaced by their
        values. A name that holds the result of an earlier query of the same turn (directly or
        through a helper that queries) cannot be: its value is only known once that query ran;
        nor one the body assigns after ``line`` (carried from the turn before), nor a value that
        is no Python expression (a raw SQL ``:group_id`` a helper's query binds). With no key
        (no equality or ``IN`` filter ties the query to the item: ``~Q(tags__id=t.id)``, a
        range on a value the body computes) there is nothing to write: the item's own id would
        be another key (paperless-ngx's ``add_tag`` got ``Document.objects.filter(id__in=[t.id
        for t in tags])``, tag ids as document ids).
        """
        if key is None:
            return None, False
        fn = ref.function
        if ref.module.language == "python" and not _is_python_expression(key.value):
            return None, False
        value = key.value
        bound = set(loop.targets)
        queried = {t for other in fn.db_ops if loop.id in other.loops for t in other.targets}
        queried |= {
            t
            for call, target in self.graph.callees(ref)
            if loop.id in call.loops and self.reach(target).queries
            for t in call.targets
        }
        turn = [a for a in fn.assigns if loop.id in a.loops and a.span.line < line]
        for _ in range(4):
            local = [
                name for name in free_names(value) - bound if any(name in a.targets for a in turn)
            ]
            if not local:
                later = {
                    t.split(".")[0].split("[")[0]
                    for a in fn.assigns
                    if loop.id in a.loops and a.span.line >= line
                    for t in a.targets
                }
                if (later - bound) & free_names(value) or _DRAWS.search(value):
                    return None, False  # assigned after the call, or a new value at each draw
                return Filter(key.column, key.op, value, key.table), True
            for name in local:
                assign = [a for a in turn if name in a.targets][-1]
                if name in queried or assign.targets != (name,) or assign.kind != "assign":
                    return None, False
                if not assign.value or assign.value.endswith("…") or _CHANGES.search(assign.value):
                    return None, False  # cut short, or run twice it would change the item
                whole = value == name or _WHOLE_OPERAND.match(assign.value)
                replacement = assign.value if whole else f"({assign.value})"
                # a function, not a template: the value is code (r"\d+" is no group reference)
                value = re.sub(rf"(?<![\w.]){re.escape(name)}\b", _constant(replacement), value)
        return None, False

    # ---- data flow inside one function

    def derived(self, fn: Function, sources: Iterable[str], until: int | None = None) -> set[str]:
        """Names whose value comes from ``sources`` (through assignments, loop targets)."""
        names = {s for s in sources if s != "<return>"}
        if not names:
            return set()
        for assign in fn.assigns:
            if until is not None and assign.seq > until:
                break
            if assign.reads & names:
                names.update(t for t in assign.targets if "." not in t)
        return names

    def returned_names(self, fn: Function) -> set[str]:
        """Names whose value flows into a return statement (backwards through assignments)."""
        names = set(fn.returns_reads)
        for assign in reversed(fn.assigns):
            if set(assign.targets) & names:
                names |= assign.reads
        return names

    def returned_rows(self, fn: Function) -> set[str]:
        """Names whose rows the function returns: read by a return statement, or assigned
        to such a name as they are or mapped item by item (``data = rows``, ``out =
        rows.map(toDto)``). A value computed from other data that only looks rows up
        (``data = dates.map((d) => ... meta.find(...))``) returns those other items."""
        names = set(fn.returns_reads)
        for assign in reversed(fn.assigns):
            if set(assign.targets) & names:
                match = _ROWS_VALUE.match(assign.value) or _ROWS_COMPREHENSION.match(assign.value)
                if match:
                    names.update(g for g in match.groups() if g)
        return names

    def loads(self, fn: Function, name: str) -> int:
        return dict(fn.name_loads).get(name, 0)

    def loop_source(self, ref: FunctionRef, loop: Loop) -> DbOp | None:
        """The query whose rows ``loop`` iterates (directly, or returned by a helper)."""
        fn = ref.function
        outer = _outer_loops(fn, loop)
        for op in fn.db_ops:
            if op.kind != "select" or op.result_shape not in ROW_SHAPES or not op.tables:
                continue
            if op.span.line == loop.span.line and set(op.loops) == set(outer):
                return op
            if op.targets and loop.reads & self.derived(fn, op.targets):
                return op
        for call, target in self.graph.callees(ref):
            returned = self.reach(target).returned_op
            if returned is None or not returned.tables:
                continue
            at_header = call.span.line == loop.span.line and set(call.loops) == set(outer)
            if at_header or (call.targets and loop.reads & self.derived(fn, call.targets)):
                return returned
        return None

    # ---- request-serving code

    @cached_property
    def serving(self) -> frozenset[FunctionId]:
        """Functions that serve a request: handlers and everything they call."""
        roots = [ref for ref in self.functions if self.is_handler(ref)]
        seen: set[FunctionId] = set()
        stack = list(roots)
        while stack:
            ref = stack.pop()
            if ref.id in seen:
                continue
            seen.add(ref.id)
            for _, target in self.graph.callees(ref):
                if target.id not in seen:
                    stack.append(target)
        return frozenset(seen)

    def is_handler(self, ref: FunctionRef) -> bool:
        fn = ref.function
        if any(_ROUTE_DECORATOR.search(d) for d in fn.decorators):
            return True
        path = ref.module.path.replace("\\", "/")
        if ref.module.language != "python":
            if any(_TS_HANDLER_DECORATOR.match(d) for d in fn.decorators):
                return True
            if _TS_HANDLER_PATH.search(path) and not fn.name.startswith(("_", "#")):
                return True
        return bool(_HANDLER_PATH.search(path)) and not fn.name.startswith("_")

    # ---- building findings

    def hop(self, ref: FunctionRef, line: int, detail: str) -> CallHop:
        return CallHop(ref.module.path, line, ref.function.qualname, detail)

    def describe_op(self, op: DbOp) -> str:
        table = f" on {op.tables[0]}" if op.tables else ""
        return f"{op.text or op.api} ({op.kind}{table})"

    def excerpt(self, ref: FunctionRef, span: Span, context: int = 0) -> str:
        fn = ref.function
        lines = fn.source_lines
        if not lines:
            return ""
        start = max(span.line - context, fn.span.line)
        end = min(span.end_line + context, fn.span.end_line, span.line + 14)
        chunk = lines[start - fn.span.line : end - fn.span.line + 1]
        indent = min((len(x) - len(x.lstrip()) for x in chunk if x.strip()), default=0)
        return "\n".join(x[indent:] for x in chunk)

    def finding(
        self,
        *,
        rule: str,
        severity: Severity,
        message: str,
        ref: FunctionRef,
        span: Span,
        query_cost: str,
        fixed_query_cost: str,
        fix: Fix,
        problem: str,
        confidence: Confidence = "medium",
        call_chain: tuple[CallHop, ...] = (),
        code_span: Span | None = None,
    ) -> Finding:
        shown = code_span or span
        return Finding(
            rule=rule,
            severity=severity,
            message=message,
            path=ref.module.path,
            line=span.line,
            end_line=span.end_line,
            function=ref.function.qualname,
            col=span.col,
            query_cost=query_cost,
            fixed_query_cost=fixed_query_cost,
            call_chain=call_chain,
            fix=fix,
            confidence=confidence,
            code=self.excerpt(ref, shown),
            problem=problem,
            signature=call_signature(ref.function, ref.module.language),
        )


# columns that are a table's own key whatever its schema says (Django's ``pk`` alias)
_ROW_KEY_COLUMNS = frozenset({"id", "pk"})
# ``project_id=p.id``: a keyword argument (not ``a == b`` nor an arrow function)
_KEYWORD_ARGUMENT = re.compile(r"^([A-Za-z_]\w*)=(?![=>])(.*)$", re.S)
# a name as ``free_names`` reads it, or a string literal to step over
_NAME_OR_STRING = re.compile(r"'[^']*'|\"[^\"]*\"|(?<![\w$.])([A-Za-z_$][\w$]*)")
# ``where.email`` / ``where?.email``: a parameter's property, which an object literal
# passed for it gives outright
_LITERAL_FIELD = re.compile(r"(?<![\w$.])([A-Za-z_$][\w$]*)\??\.([A-Za-z_$][\w$]*)")
# an argument that stays one operand when an attribute or subscript follows it
_ATOM = re.compile(r"^[\w$.]+(?:\([^()]*\)|\[[^\[\]]*\])?$")


# calls that change what they read (``line.pop("team")``): computing the keys before the loop
# would run them twice, and the loop would find the item changed
_CHANGES = re.compile(
    r"\b(?:next|\w+\.(?:pop|popitem|popleft|setdefault|update|append|extend|insert|remove|"
    r"clear|read|readline|send))\("
)
# calls that give another value each time (``random.randint(1, n)``, ``uuid4()``, ``now()``):
# keys drawn before the loop are not the ones a lookup by the same expression draws again
_DRAWS = re.compile(
    r"\b(?:random|secrets|uuid|Math)\.\w+\(|\b(?:uuid[14]|randint|randrange|token_hex|"
    r"token_urlsafe|randomUUID)\(|\b(?:now|utcnow|time|monotonic)\(\)"
)
# an expression that stays one operand wherever it is put (``f.get("id")``, ``row["id"]``)
_WHOLE_OPERAND = re.compile(r"^[\w.]+(?:\([^()]*\)|\[[^\[\]]*\])*$")


def _sends_the_loops_writes(fn: Function, flush: DbOp) -> bool:
    """A commit or flush in a loop with no other statement of its own there
    (``db.session.add(row); db.session.commit()``): it sends the row the unit of work holds,
    one round trip per item, which a cost of 0 left out."""
    return bool(flush.loops) and not any(
        op.kind != "flush" and op.loops == flush.loops for op in fn.db_ops
    )


def _is_python_expression(value: str) -> bool:
    try:
        ast.parse(value, mode="eval")
    except SyntaxError:
        return False
    return True


def passed_arguments(call: Call, fn: Function) -> dict[str, str]:
    """The callee's parameters the call gives a value, and that value as the caller writes it:
    positional arguments in order (up to a ``*args``), keyword arguments by name; a method's
    ``self`` is the instance the call is made on. An argument the frontend shortened is left
    out. An object literal given to a parameter written as an object pattern (``handle({ id:
    n.subscriptionId })`` to ``handle({ id }: Args)``) gives each name the pattern binds its
    property's value; a property the literal lacks is left out (``undefined``: no key), and
    any other argument there gives ``arg.property``."""
    params: list[str | tuple[tuple[str, str], ...]] = list(fn.param_positions or fn.params)
    passed: dict[str, str] = {}
    if fn.class_name and not fn.is_staticmethod and params:
        receiver = call.callee.rpartition(".")[0]
        if (
            receiver
            and not fn.is_classmethod
            and not receiver.split(".")[-1][:1].isupper()
            and isinstance(params[0], str)
        ):
            # ``channel.assign_all_checks()``: the method's ``self.project`` is the caller's
            # ``channel.project``; a class written as the receiver (``Channel.check(c)``, or a
            # classmethod's ``cls``) is no instance of this call
            passed[params[0]] = "self" if receiver == "super()" else receiver
        params = params[1:]
    positional = True
    for position, arg in enumerate(call.args):
        if arg.endswith("…"):
            continue  # cut short by the frontend: not code the fix can repeat
        keyword = _KEYWORD_ARGUMENT.match(arg)
        if keyword is not None:
            positional = False
            if keyword.group(1) in params:
                passed[keyword.group(1)] = keyword.group(2).strip()
        elif arg.startswith("*") or arg.startswith("..."):
            positional = False  # ``*rest`` / ``...rest``: later positions are unknown
        elif positional and position < len(params):
            param = params[position]
            if isinstance(param, str):
                passed[param] = arg
                continue
            given = dict(object_pairs(arg)) if arg.lstrip().startswith("{") else None
            for prop, name in param:
                if given is None:
                    passed[name] = f"{arg}.{prop}" if _ATOM.match(arg) else f"({arg}).{prop}"
                elif prop in given:
                    passed[name] = given[prop]
    return passed


# Assign kinds that bind their target anew (``append`` and ``len`` only read it)
_REBINDING = frozenset({"assign", "for-target", "with-target", "augassign"})


def _still_passed(passed: dict[str, str], fn: Function) -> dict[str, str]:
    """``passed`` without the parameters ``fn`` binds anew: after ``instance =
    instance.document`` the helper's ``instance.pk`` is no longer the caller's ``cf.pk``
    (paperless-ngx's ``update_filename_and_move_files``), so no key can be written with it."""
    rebound = {t for a in fn.assigns if a.kind in _REBINDING for t in a.targets}
    return {name: arg for name, arg in passed.items() if name not in rebound}


def _substitute(value: str, passed: dict[str, str]) -> str | None:
    """``value`` with each parameter it reads replaced by the argument passed for it:
    ``int(project_id)`` -> ``int(p.id)``, ``project.id`` -> ``p.id``; an argument that is an
    expression keeps its parentheses before an attribute (``(a or b).id``). A property read
    from an object literal passed whole is that property's value (``where.id`` given ``{ id:
    n.key }`` is ``n.key``); None when the literal lacks it: the value is ``undefined`` on
    this call, no key (``getAccount({ subscriptionId })`` reaching ``where.email``)."""
    missing = False

    def field(match: re.Match[str]) -> str:
        nonlocal missing
        arg = passed.get(match.group(1))
        pairs = dict(object_pairs(arg)) if arg and arg.lstrip().startswith("{") else {}
        if not pairs:
            return match.group(0)
        if match.group(2) not in pairs:
            missing = True
            return match.group(0)
        return pairs[match.group(2)]

    value = _LITERAL_FIELD.sub(field, value)
    if missing:
        return None

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None or name not in passed:
            return match.group(0)
        arg = passed[name]
        followed = value[match.end() : match.end() + 1]
        return arg if _ATOM.match(arg) or followed not in {".", "["} else f"({arg})"

    return _NAME_OR_STRING.sub(replace, value)


def call_signature(fn: Function, language: str) -> CallSignature:
    """How ``fn`` is called, for the regression test a report writes for its findings."""
    binding: Literal["function", "method", "staticmethod", "classmethod"]
    if fn.is_staticmethod:
        binding = "staticmethod"
    elif fn.is_classmethod:
        binding = "classmethod"
    elif fn.class_name:
        binding = "method"
    else:
        binding = "function"
    params = fn.params
    if language == "python" and binding in ("method", "classmethod") and params:
        params = params[1:]  # self / cls: bound by the call
    return CallSignature(params, fn.is_async, fn.class_name, binding)


def _outer_loops(fn: Function, loop: Loop) -> tuple[int, ...]:
    ids: list[int] = []
    parent = loop.parent
    while parent is not None:
        ids.append(parent)
        parent = fn.loops[parent].parent
    return tuple(reversed(ids))


def per_item_connections(program: Program, fn: Function, loop: Loop) -> set[str]:
    """Sessions and connections opened inside ``loop`` for its item: ``with
    session_scope(engine_for(org)) as db_session`` in ``for org in organizations``. Queries
    through them go to one tenant's schema or database each: N databases asked once, not one
    database asked N times, and no ``IN`` can merge them."""
    item = program.derived(fn, loop.targets) | set(loop.targets)
    found: set[str] = set()
    for assign in fn.assigns:
        if loop.id not in assign.loops or assign.kind not in {"with-target", "assign"}:
            continue
        if assign.reads & item and _CONNECTION_NAME.search(" ".join(assign.targets)):
            found.update(t for t in assign.targets if "." not in t)
    return found


def per_item_transactions(fn: Function, loop: Loop) -> set[str]:
    """Transaction handles opened inside ``loop`` that run several statements, a write among
    them: ``for (const w of workspaces) await prisma.$transaction(async (tx) => { count; create
    })``. Each item is one atomic unit by design (as a commit and rollback per item is), so
    its statements are not per-item round trips to merge; a transaction around one statement
    is no such unit and stays reported."""
    found: set[str] = set()
    for assign in fn.assigns:
        if (
            loop.id not in assign.loops
            or assign.kind != "with-target"
            or not _TRANSACTION_CALL.search(assign.value)
        ):
            continue
        for name in assign.targets:
            through_it = [op for op in fn.db_ops if op.receiver.split(".", 1)[0] == name]
            if len(through_it) >= 2 and any(op.kind in WRITE_KINDS for op in through_it):
                found.add(name)
    return found


_TRANSACTION_CALL = re.compile(r"(?:^|\.)\$?(?:transaction|begin)\(")


# names a session, connection or cursor goes by
_CONNECTION_NAME = re.compile(r"(session|conn|connection|cursor|db|tx|client|engine)\b", re.I)


def through(receiver: str, names: set[str]) -> bool:
    """The call's receiver (``db_session.query``'s ``db_session``) is one of ``names``."""
    return bool(names) and receiver.split(".", 1)[0] in names


def per_table(op: DbOp) -> bool:
    """The statement's table is a variable: a loop over tables (backups, fixes), not rows."""
    return "<dynamic>" in op.tables


def runs_once_in_loop(
    targets: tuple[str, ...],
    fn: Function | None = None,
    branch: Branch = (),
    loop: Loop | None = None,
    seq: int | None = None,
) -> bool:
    """``for c in checks: if ...: return lookup(c)`` / ``...; break`` / ``if c.slug == slug:``:
    the event (at ``seq``) ends the loop or is taken for one item, so it runs once, not once
    per item."""
    if "<return>" in targets:
        return True
    if fn is None or loop is None:
        return False
    if seq is not None and any(
        first <= seq <= last and loop_id == loop.id for first, last, loop_id in fn.once_in_loop
    ):
        return True
    ending = set(fn.exiting_arms) | set(fn.breaking_arms)
    return any(arm in ending for arm in branch[loop.branch_depth :])


def per_item_loops(
    fn: Function,
    loops: list[Loop],
    targets: tuple[str, ...],
    branch: Branch,
    seq: int,
) -> list[Loop]:
    """The significant ``loops`` around an event, less the inner ones it runs at most once
    per run of. ``for p in projects: for q in p.queries[:30]: if ...: q.save(); break``
    saves once per ``q`` loop, and so once per project: per item of the outer loop."""
    found = list(loops)
    while found:
        inner = found[-1]
        if inner is loops[-1]:
            once = runs_once_in_loop(targets, fn, branch, inner, seq)
        else:  # break arms leave the innermost loop only; the recorded ranges say which
            once = "<return>" in targets or any(
                first <= seq <= last and loop_id == inner.id
                for first, last, loop_id in fn.once_in_loop
            )
        if not once:
            break
        found.pop()
    return found


_ONE_OFF_PATH = re.compile(
    r"(^|/)(tests?|testing|migrations|alembic|fixtures|scripts|management/commands|"
    # a data migration kept in a timestamped folder of its own (formbricks'
    # ``packages/database/migration/20250326111101_move_api_keys/migration.ts``)
    r"migration/\d{8,}[\w.-]*|"
    # data seeding: ``prisma/seed.ts``, ``seeds/``, Flask apps' ``populate.py``
    r"(?:seeds?|seeders?|seeding|populate)(?:\.py|\.[cm]?[jt]sx?)?|"
    r"conftest\.py|test_[^/]*\.py|"
    r"[^/]*_tests?\.py|tests?\.py"
    # TypeScript/JavaScript: Jest/Vitest/Mocha files and folders, end-to-end suites
    r"|__tests__|__mocks__|e2e|[^/]*\.(?:spec|test|e2e-spec)\.[cm]?[jt]sx?)(/|$)"
)


def is_one_off_code(path: str) -> bool:
    """Tests, schema/data migrations and maintenance scripts (Django management commands
    too): run once, by an operator or in CI, never on a user's request."""
    return _ONE_OFF_PATH.search(path.replace("\\", "/")) is not None


# Alembic (and Flask-Migrate) files, wherever the project keeps them: a revision defines
# ``upgrade`` and ``downgrade``, the environment script ``run_migrations_online``/``offline``
_ALEMBIC_REVISION = frozenset({"upgrade", "downgrade"})
_ALEMBIC_ENV = frozenset({"run_migrations_online", "run_migrations_offline"})


def is_one_off_module(module: ModuleModel) -> bool:
    """``is_one_off_code`` by path, or a migration recognised by what it defines (Dispatch
    keeps its Alembic revisions in ``database/revisions/*/versions/``)."""
    if is_one_off_code(module.path):
        return True
    top_level = {fn.qualname for fn in module.functions}
    return _ALEMBIC_REVISION.issubset(top_level) or bool(_ALEMBIC_ENV & top_level)


# decorators that only wrap a function: any other (``@app.task``, ``@receiver``, a route)
# registers it with a framework that calls it where no call graph sees
_PLAIN_DECORATORS = re.compile(
    r"(^|\.)(staticmethod|classmethod|property|cached_property|lru_cache|cache|wraps|"
    r"override|overload|contextmanager|asynccontextmanager|transaction\.atomic|atomic)$"
)


def one_off_functions(program: Program, one_off_modules: set[str]) -> set[FunctionId]:
    """Functions outside one-off modules that only one-off code reaches: saleor's
    ``core/utils/random_data.py`` seeds a demo shop for the ``populatedb`` management command
    and its tests, so its loops of ``update_or_create`` run once by an operator's hand.

    A function counts when the call graph finds at least one caller and every caller is
    one-off, and nothing else can reach it: no production module imports it by name (or its
    class, for a method) or imports its module whole (``from . import views`` for a urlconf
    that references views without calling them), and it has no registering decorator."""
    imported_by_production: dict[str, set[str]] = {}  # module path -> names ("" = whole)
    for module in program.modules:
        if module.path in one_off_modules:
            continue
        for imp in module.imports:
            target, name = program.graph.imported(module, imp)
            if target is not None and target.path != module.path:
                imported_by_production.setdefault(target.path, set()).add(name)
    callers: dict[FunctionId, set[FunctionId]] = {}
    # names production code calls without the graph knowing what they are: an import inside
    # a function (saleor's ``from ..giftcard.gateway import charge_gift_card_transactions``
    # in order/actions.py) is not followed, so its only resolved callers are tests
    unresolved: set[str] = set()
    for ref in program.functions:
        resolved = {call.seq: callee for call, callee in program.graph.callees(ref)}
        for callee in resolved.values():
            callers.setdefault(callee.id, set()).add(ref.id)
        if ref.module.path not in one_off_modules:
            unresolved.update(
                call.callee.split(".")[-1]
                for call in ref.function.calls
                if call.seq not in resolved
            )
    by_id = {ref.id: ref for ref in program.functions}

    def closed(ref: FunctionRef) -> bool:
        names = imported_by_production.get(ref.module.path, set())
        top = ref.function.qualname.split(".")[0]
        return not (
            "" in names
            or top in names
            or ref.function.name in unresolved
            or "*" in names
            or any(not _PLAIN_DECORATORS.search(d.split("(")[0]) for d in ref.function.decorators)
        )

    one_off = {ref.id for ref in program.functions if ref.module.path in one_off_modules}
    changed = True
    while changed:
        changed = False
        for callee_id, caller_ids in callers.items():
            if callee_id in one_off or not caller_ids <= one_off:
                continue
            if closed(by_id[callee_id]):
                one_off.add(callee_id)
                changed = True
    return {f for f in one_off if by_id[f].module.path not in one_off_modules}


_GROUP_VIEW = re.compile(r"^(\w+)\.(items|keys)\(\)$")


def per_group_of_keys(program: Program, fn: Function, loop: Loop, reads: frozenset[str]) -> bool:
    """``for channel, ids in by_channel.items(): load(channel, ids)`` over ``by_channel =
    defaultdict(list)``: saleor's DataLoaders split a batch of (product, channel) keys by
    channel ("a typical query will only touch a handful of unique channels but may access
    thousands of variants"), then run one query per channel for all of its products. Each
    turn is handed both the group's key and its members, so the query needs the key as a
    condition of its own and one IN over the members: a query per group, not per key. A
    turn handed only the members (``for order, lines in ...: load(lines)``) could be one IN
    over every member and stays reported."""
    match = _GROUP_VIEW.match(loop.iterable)
    if match is None or not loop.targets:
        return False
    name, view = match.groups()
    grouped = any(
        call.callee in {"defaultdict", "collections.defaultdict"}
        and name in call.targets
        and call.args[:1] in {("list",), ("set",)}
        for call in fn.calls
        if not call.loops
    )
    if not grouped:
        return False
    key = program.derived(fn, loop.targets if view == "keys" else loop.targets[:-1])
    if view == "keys":  # ``ids = by_channel[channel]``: the members are looked up by the key
        members = {
            t
            for a in fn.assigns
            if a.reads >= {name} and a.reads & set(loop.targets)
            for t in a.targets
        }
    else:
        members = program.derived(fn, loop.targets[-1:])
    return bool(reads & key) and bool(reads & program.derived(fn, members))


def _batched(op: DbOp) -> bool:
    """``qs = X.objects.filter(id__in=ids)`` then ``qs.iterator()``: the evaluation inherits
    the queryset's filters, not the flag the ``__in`` set on the ``filter`` call."""
    return op.batched or (op.library == "django" and any(f.op == "in" for f in op.filters))


def is_single_row(op: DbOp) -> bool:
    return op.result_shape in {"row", "scalar"} or op.single_key


def loop_noun(loop: Loop) -> str:
    """``for project in projects`` -> "project"; used in messages ("a query per project")."""
    if loop.targets:
        return loop.targets[0].split(".")[-1]
    return "iteration"


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that inserts ``text`` as it is (no template escapes)."""
    return lambda _match: text
