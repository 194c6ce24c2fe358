"""Is this call chain a database round trip, and what does it say about itself?

``recognise(call, ...)`` reads a chain from its root outwards (``db.select().from(renders)
.where(eq(renders.id, id)).limit(1)``), tries each library of ``patterns.py`` in turn and
returns the statement's facts: kind, tables, filters, joins, LIMIT, batching, aggregates,
window functions, eager loads. Only the outermost call of a chain is a round trip; the
builder asks about that one and treats everything inside it as part of the statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from copy import copy
from dataclasses import dataclass, field

from tree_sitter import Node

from dbaudit.frontends.python.sql_text import looks_like_sql, sql_facts
from dbaudit.frontends.typescript import patterns as P
from dbaudit.frontends.typescript.syntax import unwrap
from dbaudit.model import DbOpKind, Filter

_MAX_TEXT = 160
_WINDOW = re.compile(r"\bover\s*\(", re.I)
_AGGREGATE = re.compile(r"\b(count|sum|avg|min|max|array_agg|json_agg|jsonb_agg)\s*\(", re.I)
_GROUP_BY = re.compile(r"\bgroup\s+by\b", re.I)
# ``SELECT ... FOR UPDATE`` (``FOR SHARE``, ``FOR NO KEY UPDATE``, ``FOR KEY SHARE``): a lock
_LOCKING_READ = re.compile(r"\bfor\s+(?:no\s+key\s+update|update|key\s+share|share)\b", re.I)
_PLURAL = re.compile(r"(s|rows|list|items|values|batch|array|records|entries|data)$", re.I)


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a chain: ``.where(...)`` (args set) or ``.query`` (a property, args None)."""

    name: str
    args: tuple[Node, ...] | None
    node: Node


@dataclass(frozen=True, slots=True)
class Chain:
    base: Node  # the innermost expression: an identifier, ``this``, or a call like knex('t')
    base_text: str
    steps: tuple[Step, ...]


@dataclass(slots=True)
class Facts:
    library: str
    kind: DbOpKind
    api: str
    receiver: str
    runs: bool = True  # False for a subquery / prepared statement built but not run here
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)
    has_limit: bool = False
    batched: bool = False
    single_key: bool = False
    aggregate: list[str] = field(default_factory=list)
    group_by: bool = False
    window: bool = False
    joins: list[str] = field(default_factory=list)
    eager_loads: list[str] = field(default_factory=list)
    result_shape: str = "rows"
    paged: bool = False  # OFFSET / cursor / skip: one page of a larger result
    sql: str = ""
    callbacks: list[Node] = field(default_factory=list)  # transaction bodies to walk inline
    where: list[str] = field(default_factory=list)  # DbOp.where: the AND-ed conditions, whole
    first_row_only: bool = False  # DbOp.first_row_only: Drizzle's ``.get()`` keeps one row


class Source:
    """Text of nodes from the file's bytes (tree-sitter gives byte offsets)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def text(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def arguments(node: Node | None) -> tuple[Node, ...]:
    """The argument expressions of an ``arguments`` node, or the template of a tagged call."""
    if node is None:
        return ()
    if node.type == "template_string":
        return (node,)
    return tuple([c for c in node.named_children if c.type != "comment"])


def awaited_generic(call: Node) -> bool:
    """``await db.get<Row>(sql`...`)``: tree-sitter-typescript reads a generic call after
    ``await`` as ``(await db.get)<Row>(...)``, a call of an await. It is the call that is
    awaited."""
    function = call.child_by_field_name("function")
    return (
        function is not None
        and function.type == "await_expression"
        and bool(function.named_children)
        and call.child_by_field_name("type_arguments") is not None
    )


def call_function(call: Node) -> Node | None:
    """The called expression of ``call``, the awaited one for ``await f<T>(...)``."""
    function = call.child_by_field_name("function")
    if function is not None and awaited_generic(call):
        return function.named_children[-1]
    return function


def flatten(call: Node, src: Source) -> Chain:
    steps: list[Step] = []
    current = unwrap(call)
    while True:
        if current.type == "call_expression":
            function = call_function(current)
            args = arguments(current.child_by_field_name("arguments"))
            function = unwrap(function) if function is not None else None
            if function is not None and function.type == "member_expression":
                prop = function.child_by_field_name("property")
                steps.append(Step(src.text(prop) if prop is not None else "", args, current))
                obj = function.child_by_field_name("object")
                if obj is None:
                    break
                current = unwrap(obj)
                continue
            break
        if current.type == "member_expression":
            prop = current.child_by_field_name("property")
            obj = current.child_by_field_name("object")
            if obj is None:
                break
            steps.append(Step(src.text(prop) if prop is not None else "", None, current))
            current = unwrap(obj)
            continue
        if current.type == "subscript_expression":
            # ``client[model].findMany(...)``: a delegate picked by name at run time
            index = current.child_by_field_name("index")
            obj = current.child_by_field_name("object")
            if obj is None or index is None:
                break
            steps.append(Step(_subscript_name(unwrap(index), src), None, current))
            current = unwrap(obj)
            continue
        break
    steps.reverse()
    return Chain(
        current, src.text(current) if current.type != "call_expression" else "", tuple(steps)
    )


def _subscript_name(index: Node, src: Source) -> str:
    """``["user"]`` is the step ``user``; ``[model]`` stays ``[model]`` (not known here)."""
    if index.type == "string":
        return src.text(index)[1:-1]
    return f"[{short(src.text(index))}]"


Handles = Callable[[str], str]  # receiver text -> library it is a handle of ("" when unknown)


def recognise(call: Node, src: Source, handle_of: Handles) -> Facts | None:
    """Facts of the database statement ``call`` runs, or None when it is not one."""
    function = call_function(call)
    if function is None:
        return None
    function = unwrap(function)
    if function.type == "member_expression":
        # most calls in a tree are not queries: a method no library's chain ends with is out
        prop = function.child_by_field_name("property")
        if prop is None or src.text(prop) not in P.CHAIN_METHODS:
            return None
    elif function.type != "identifier" or not handle_of(src.text(function)):
        return None
    chain = flatten(call, src)
    steps = chain.steps
    if chain.base.type == "call_expression":
        facts = _knex_from_call(chain, src, handle_of)
        if facts is not None:
            return facts
        return None
    if chain.base.type not in {"identifier", "this", "member_expression"}:
        return None
    # try receivers from the shortest (``db``) to the longest (``this.ctx.db``)
    prefix = chain.base_text
    for index in range(len(steps) + 1):
        if index > 0:
            step = steps[index - 1]
            if step.args is not None:
                break
            prefix = f"{prefix}.{step.name}"
        rest = steps[index:]
        if not rest:
            break
        library = handle_of(prefix)
        if not library:
            continue
        for reader in _READERS:
            facts = reader(prefix, rest, src, library)
            if facts is not None:
                return facts
    return None


# ------------------------------------------------------------------------------- Drizzle


def _drizzle(receiver: str, rest: tuple[Step, ...], src: Source, library: str) -> Facts | None:
    if library not in {"drizzle", "db"}:
        return None
    names = [s.name for s in rest]
    first = rest[0]
    # db.query.<table>.findMany({...})
    if (
        first.name == "query"
        and first.args is None
        and len(rest) >= 3
        and rest[1].args is None
        and rest[2].name in P.DRIZZLE_QUERY_METHODS
        and rest[2].args is not None
    ):
        entry = P.DRIZZLE_QUERY_METHODS[rest[2].name]
        facts = Facts(
            "drizzle",
            entry.kind,
            f"{receiver}.query.{rest[1].name}.{rest[2].name}",
            receiver,
            tables=[rest[1].name],
            has_limit=entry.has_limit,
            result_shape=entry.result_shape,
        )
        if rest[2].args:
            _drizzle_relational_options(rest[2].args[0], src, facts, rest[1].name)
        _tail(rest[3:], facts)
        _finish(facts)
        return facts
    index = 0
    if first.name == "with" and first.args is not None and len(rest) > 1:
        index = 1  # db.with(cte).select()...
    entry_step = rest[index]
    found = P.DRIZZLE_ENTRIES.get(entry_step.name)
    if found is None or entry_step.args is None:
        return None
    entry = found
    later = names[index + 1 :]
    if entry_step.name in {"select", "selectDistinct", "selectDistinctOn"} and "from" not in later:
        return None
    if entry_step.name == "update" and "set" not in later:
        return None
    if entry_step.name == "insert" and not {"values", "select"} & set(later):
        return None
    if entry_step.name in {"insert", "update", "delete"} and not (
        entry_step.args and unwrap(entry_step.args[0]).type in {"identifier", "member_expression"}
    ):
        return None
    if entry_step.name in {"execute", "run", "all", "get"} and not (
        entry_step.args and _is_sql_argument(entry_step.args[0], src)
    ):
        return None
    facts = Facts(
        "drizzle",
        entry.kind,
        _api(receiver, rest[index:]),
        receiver,
        runs=not any(n in P.DRIZZLE_NOT_RUN for n in later),
        result_shape=entry.result_shape,
    )
    if entry_step.name in {"insert", "update", "delete"} and entry_step.args:
        facts.tables.append(_table_name(entry_step.args[0], src))
    if entry_step.name == "$count" and entry_step.args:
        # ``db.$count(monitor, and(eq(monitor.workspaceId, id), ...))``: the table, the filter
        facts.tables.append(_table_name(entry_step.args[0], src))
        facts.aggregate.append("count")
        if len(entry_step.args) > 1:
            _conditions(entry_step.args[1], src, facts)
            facts.where = list(_and_parts(entry_step.args[1], src))
    if entry_step.name in {"select", "selectDistinct", "selectDistinctOn"} and entry_step.args:
        _selection(entry_step.args[-1], src, facts)
    if entry_step.name in {"execute", "run", "all", "get"} and entry_step.args:
        _sql_text_facts(_template_text(entry_step.args[0], src), facts)
    _drizzle_steps(rest[index + 1 :], src, facts)
    _templates(rest, src, facts)
    _finish(facts)
    return facts


def _drizzle_steps(steps: tuple[Step, ...], src: Source, facts: Facts) -> None:
    for step in steps:
        args = step.args or ()
        if step.name == "from" and args:
            facts.tables.insert(0, _table_name(args[0], src))
        elif step.name in P.DRIZZLE_JOINS and args:
            facts.joins.append(_table_name(args[0], src))
            if len(args) > 1:
                _conditions(args[1], src, facts, join=True)
        elif step.name == "where" and args:
            _conditions(args[0], src, facts)
            facts.where = list(_and_parts(args[0], src))
        elif step.name == "limit" and args:
            facts.has_limit = True
            if src.text(args[0]).strip() == "1":
                facts.result_shape = "row"
        elif step.name == "offset":
            facts.paged = True
        elif step.name == "orderBy":
            facts.order_by.extend(short(src.text(a)) for a in args)
        elif step.name == "groupBy":
            facts.group_by = True
        elif step.name == "values" and args:
            value = unwrap(args[0])
            if (
                (value.type == "array" and len(value.named_children) != 1)
                or (value.type == "array" and value.named_children[0].type == "spread_element")
                or value.type == "call_expression"
                or (value.type == "identifier" and _PLURAL.search(src.text(value)))
            ):
                facts.batched = True
        elif step.name == "returning":
            facts.result_shape = "rows"
        elif step.name == "get" and step.args == () and facts.kind == "select":
            # SQLite's ``db.select().from(t).where(...).get()``: the first row, or undefined;
            # no LIMIT is added, so every matching row is still read for it
            facts.first_row_only = True
        elif step.name == "set" and args:
            pass


def extend(facts: Facts, call: Node, src: Source) -> Facts | None:
    """A statement built earlier (``let q = db.select()...$dynamic()``) and continued here
    (``q.where(...).limit(n)``): the earlier facts with this chain's steps added.

    None when the chain does not continue a builder (``q.toString()``).
    """
    chain = flatten(call, src)
    steps = chain.steps
    if not steps or any(s.args is None for s in steps):
        return None
    known = P.DRIZZLE_BUILDER_STEPS if facts.library == "drizzle" else P.KNEX_BUILDER_STEPS
    if any(s.name not in known for s in steps):
        return None
    merged = copy(facts)
    merged.tables = list(facts.tables)
    merged.filters = list(facts.filters)
    merged.order_by = list(facts.order_by)
    merged.joins = list(facts.joins)
    merged.aggregate = list(facts.aggregate)
    merged.columns = list(facts.columns)
    merged.where = list(facts.where)
    merged.callbacks = []
    merged.runs = not any(s.name in P.DRIZZLE_NOT_RUN for s in steps)
    if facts.library == "drizzle":
        _drizzle_steps(steps, src, merged)
        _templates(steps, src, merged)
    else:
        _knex_steps(steps, src, merged)
    _tail(steps, merged)
    _finish(merged)
    return merged


def _drizzle_relational_options(node: Node, src: Source, facts: Facts, table: str) -> None:
    options = unwrap(node)
    if options.type != "object":
        return
    for key, value in _pairs(options, src):
        if key == "where":
            value = unwrap(value)
            if value.type in {"arrow_function", "function_expression"}:
                body = value.child_by_field_name("body")
                if body is not None:
                    _conditions(body, src, facts, default_table=table)
                facts.where = list(_callback_parts(value, src, table))
            elif value.type == "object":
                for column, expr in _pairs(value, src):
                    _object_filter(column, expr, src, facts, table)
                facts.where = list(_object_parts(value, src))
            else:
                _conditions(value, src, facts, default_table=table)
                facts.where = list(_and_parts(value, src))
        elif key == "with":
            facts.eager_loads.extend(_with_keys(value, src, ""))
        elif key == "limit":
            facts.has_limit = True
        elif key == "orderBy":
            facts.order_by.append(short(src.text(value)))
        elif key == "columns":
            facts.columns.extend(k for k, _ in _pairs(unwrap(value), src))
        elif key == "extras":
            _templates_in(value, src, facts)


def _with_keys(node: Node, src: Source, prefix: str) -> Iterator[str]:
    node = unwrap(node)
    if node.type != "object":
        return
    for key, value in _pairs(node, src):
        name = f"{prefix}{key}"
        yield name
        inner = unwrap(value)
        if inner.type == "object":
            for sub_key, sub_value in _pairs(inner, src):
                if sub_key in {"with", "include"}:
                    yield from _with_keys(sub_value, src, f"{name}.")


def _selection(node: Node, src: Source, facts: Facts) -> None:
    node = unwrap(node)
    if node.type != "object":
        return
    for key, value in _pairs(node, src):
        facts.columns.append(key)
        for call in _calls_in(value):
            name = src.text(call.child_by_field_name("function") or call)
            if name in P.AGGREGATE_HELPERS:
                facts.aggregate.append(P.AGGREGATE_HELPERS[name])


# Prisma's filters on a relation: ``where: { recipients: { some: {...} } }``
_RELATION_FILTERS = frozenset({"some", "every", "none", "is", "isNot"})

_NEGATED = {
    "==": "!=",
    "!=": "==",
    "in": "not in",
    "not in": "in",
    "is": "is not",
    "is not": "is",
    "like": "not like",
    "not like": "like",
}


def _conditions(
    node: Node,
    src: Source,
    facts: Facts,
    *,
    join: bool = False,
    default_table: str = "",
    negate: bool = False,
) -> None:
    node = unwrap(node)
    if node.type == "call_expression":
        function = node.child_by_field_name("function")
        name = src.text(function) if function is not None else ""
        name = name.rsplit(".", 1)[-1]
        args = arguments(node.child_by_field_name("arguments"))
        if name in P.DRIZZLE_CONNECTIVES:
            # ``not(eq(t.id, x))`` is ``id != x``: never a lookup by key
            inner_negate = negate != (name == "not")
            before = len(facts.filters)
            for arg in args:
                _conditions(
                    arg, src, facts, join=join, default_table=default_table, negate=inner_negate
                )
            if name in {"or", "and"} and (name == "or") != negate and len(args) > 1:
                # ``or(eq(page.slug, s), eq(page.customDomain, s))``: alternatives (see
                # ``_object_filter``), never a key or conditions that all hold
                facts.filters[before:] = [
                    Filter(f.column, f"or {f.op}", f.value, f.table) for f in facts.filters[before:]
                ]
            return
        op = P.DRIZZLE_OPERATORS.get(name)
        if op is None or not args or join:
            return
        if negate:
            op = _NEGATED.get(op, f"not {op}")
        table, column = _column_ref(args[0], src, default_table)
        value = short(src.text(args[1])) if len(args) > 1 else ""
        if op in {"in", "any"}:
            literal = unwrap(args[1]) if len(args) > 1 else None
            # ``[id]`` is one key; ``[...ids]`` spreads a list of any length into it
            if not (
                literal is not None
                and literal.type == "array"
                and len(literal.named_children) <= 1
                and not any(c.type == "spread_element" for c in literal.named_children)
            ):
                facts.batched = True
        facts.filters.append(Filter(column, op, value, table))
    elif node.type == "binary_expression":
        for child in node.named_children:
            _conditions(child, src, facts, join=join, default_table=default_table, negate=negate)


def _object_filter(
    column: str, expr: Node, src: Source, facts: Facts, table: str, negate: bool = False
) -> None:
    expr = unwrap(expr)
    if column in {"AND", "OR", "NOT", "and", "or", "not"}:
        inner_negate = negate != (column in {"NOT", "not"})
        if column in {"OR", "or"} and not negate and _built_per_item(expr, src):
            # ``OR: pairs.map(({ a, b }) => ({ a, b }))``: one alternative per item of a
            # list, an IN over composite keys: one statement for all of them
            facts.batched = True
            facts.filters.append(Filter(column, "in", short(src.text(expr)), table))
            return
        items = expr.named_children if expr.type == "array" else (expr,)
        before = len(facts.filters)
        for item in items:
            item = unwrap(item)
            if item.type == "object":
                for sub, value in _pairs(item, src):
                    _object_filter(sub, value, src, facts, table, inner_negate)
        if (column in {"OR", "or"}) != negate and len(items) > 1:
            # ``OR: [{ canView: true }, { canDownload: true }]``: alternatives, not conditions
            # that all hold; as ``==`` filters a count or an IN fix ANDed them (and took one
            # for the key). Kept as ``or ==``, which no fix writes as a condition of its own
            facts.filters[before:] = [
                Filter(f.column, f"or {f.op}", f.value, f.table) for f in facts.filters[before:]
            ]
        return
    if negate:
        before = len(facts.filters)
        _object_filter(column, expr, src, facts, table)
        facts.filters[before:] = [
            Filter(f.column, _NEGATED.get(f.op, f"not {f.op}"), f.value, f.table)
            for f in facts.filters[before:]
        ]
        return
    if _compound_unique(column, expr, src):
        # ``userId_key: { userId, key }``: Prisma's compound unique, one filter per field
        for field_name, value in _pairs(expr, src):
            _object_filter(field_name, value, src, facts, table)
        return
    if expr.type == "object":
        for op_name, value in _pairs(expr, src):
            op = {
                "in": "in",
                "notIn": "not in",
                "equals": "==",
                "eq": "==",
                "gt": ">",
                "gte": ">=",
                "lt": "<",
                "lte": "<=",
                "not": "!=",
                "contains": "like",
                "startsWith": "like",
                "endsWith": "like",
                "has": "any",
                "hasSome": "any",
                "isNull": "is",
                "isNotNull": "is not",
            }.get(op_name)
            if op is None:
                if op_name in _RELATION_FILTERS and column not in facts.joins:
                    # ``recipients: { every: {...} }``: the statement reads the related table
                    facts.joins.append(column)
                continue  # an option (``mode: "insensitive"``)
            if op in {"in", "any"}:
                facts.batched = True
            facts.filters.append(Filter(column, op, short(src.text(value)), table))
        return
    facts.filters.append(Filter(column, "==", short(src.text(expr)), table))


def _written(node: Node, src: Source) -> str:
    """A condition as written, on one line (no cut: a fix pastes it back)."""
    return " ".join(src.text(node).split())


def _and_parts(
    node: Node, src: Source, write: Callable[[Node, Source], str] = _written
) -> Iterator[str]:
    """``and(eq(a, x), and(b, c), undefined)`` -> ``eq(a, x)``, ``b``, ``c``: the conditions a
    Drizzle where ANDs together; anything else (``or(...)``, ``sql`...```) is one, whole."""
    node = unwrap(node)
    if node.type in {"undefined", "comment"}:
        return
    function = node.child_by_field_name("function") if node.type == "call_expression" else None
    if function is not None and src.text(function).rsplit(".", 1)[-1] == "and":
        for arg in arguments(node.child_by_field_name("arguments")):
            yield from _and_parts(arg, src, write)
        return
    yield write(node, src)


def _callback_parts(callback: Node, src: Source, table: str) -> Iterator[str]:
    """``(t, { eq }) => and(eq(t.tenantId, id), ...)``'s conditions with the table's own name
    for its parameter (``eq(renders.tenantId, id)``), so they read like ``.where()``'s. A
    body of statements is one condition, the callback whole."""
    body = callback.child_by_field_name("body")
    parameters = callback.child_by_field_name("parameters")
    first = (
        parameters.named_children[0]
        if parameters is not None and parameters.named_children
        else None
    )
    if first is not None and first.type == "required_parameter":
        first = first.child_by_field_name("pattern")
    if body is None or body.type == "statement_block" or first is None or not table:
        yield _written(callback, src)
        return
    name = src.text(first) if first.type == "identifier" else ""
    renamed = [
        (n.start_byte, n.end_byte)
        for n in _walk(body)
        if name
        and n.type == "identifier"
        and src.text(n) == name
        and n.parent is not None
        and n.parent.type == "member_expression"
        and n.parent.child_by_field_name("object") == n
    ]

    def write(node: Node, src: Source) -> str:
        data = src.data[node.start_byte : node.end_byte]
        for start, end in sorted(renamed, reverse=True):
            if node.start_byte <= start and end <= node.end_byte:
                offset = node.start_byte
                data = data[: start - offset] + table.encode() + data[end - offset :]
        return " ".join(data.decode("utf-8", "replace").split())

    yield from _and_parts(body, src, write)


def _object_parts(where: Node, src: Source) -> Iterator[str]:
    """The entries of a Prisma / Drizzle-relational where object, each an AND-ed condition
    as written (``tenantId: t.id``, ``tenantId``, ``...filters``); ``AND: [{...}, {...}]``
    gives its objects' entries. A where that is no object literal (``where: filters``) is
    spread, so it stays one condition that reads the same."""
    where = unwrap(where)
    if where.type != "object":
        text = _written(where, src)
        yield f"...{text}" if where.type in {"identifier", "member_expression"} else f"...({text})"
        return
    for child in where.named_children:
        if child.type == "comment":
            continue
        key = child.child_by_field_name("key") if child.type == "pair" else None
        value = child.child_by_field_name("value") if child.type == "pair" else None
        if (
            key is not None
            and value is not None
            and _compound_unique(_string_text(key, src), unwrap(value), src)
        ):
            yield from _object_parts(value, src)
            continue
        if key is not None and value is not None and _string_text(key, src) == "AND":
            items = unwrap(value)
            if items.type == "array" and all(
                unwrap(i).type == "object" for i in items.named_children
            ):
                for item in items.named_children:
                    yield from _object_parts(item, src)
                continue
        yield _written(child, src)


def _compound_unique(column: str, expr: Node, src: Source) -> bool:
    """``emailAccountId_systemType: { emailAccountId, systemType }``: the key names its
    fields joined by ``_``, as Prisma names a compound unique (findMany takes the fields)."""
    fields = [name for name, _ in _pairs(expr, src)] if expr.type == "object" else []
    return len(fields) > 1 and column == "_".join(fields)


def _built_per_item(expr: Node, src: Source) -> bool:
    """``xs.map(...)`` / ``xs.flatMap(...)``, or ``[...xs.map(...)]``: a list built from another."""
    if expr.type == "array":
        return any(
            c.type == "spread_element" and _built_per_item(unwrap(c.named_children[0]), src)
            for c in expr.named_children
            if c.named_children
        )
    if expr.type != "call_expression":
        return False
    function = expr.child_by_field_name("function")
    prop = function.child_by_field_name("property") if function is not None else None
    return prop is not None and src.text(prop) in {"map", "flatMap"}


def _column_ref(node: Node, src: Source, default_table: str) -> tuple[str, str]:
    node = unwrap(node)
    if node.type == "member_expression":
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        owner = src.text(obj).rsplit(".", 1)[-1] if obj is not None else ""
        column = src.text(prop) if prop is not None else ""
        if default_table and obj is not None and unwrap(obj).type == "identifier":
            # ``(t, { eq }) => eq(t.id, x)``: the callback's parameter stands for the table
            return (default_table if len(owner) <= 2 else owner), column
        return owner, column
    if node.type == "subscript_expression":
        # ``t["name"]`` is column ``name``; ``t[`${kind}Id`]`` a column picked at run time,
        # kept as its subscript (``[`${kind}Id`]``) apart from the table it is read from
        obj = node.child_by_field_name("object")
        index = node.child_by_field_name("index")
        if obj is not None and index is not None:
            owner = src.text(obj).rsplit(".", 1)[-1]
            index = unwrap(index)
            if index.type == "string":
                return owner, _string_text(index, src)
            return owner, f"[{short(src.text(index))}]"
    return default_table, short(src.text(node))


def _table_name(node: Node, src: Source) -> str:
    node = unwrap(node)
    if node.type == "string":
        return _string_text(node, src)
    if node.type == "call_expression":  # sql`${renders} as parent` / alias(renders, 'p')
        for child in _walk(node):
            if child.type == "identifier" and src.text(child) not in {"sql", "alias"}:
                return src.text(child)
    return src.text(node).rsplit(".", 1)[-1]


# --------------------------------------------------------------------------------- Prisma


def _prisma(receiver: str, rest: tuple[Step, ...], src: Source, library: str) -> Facts | None:
    # ``client.$replica().user.findMany()``: the read-replica extension hands back the client
    while len(rest) > 1 and rest[0].name in P.PRISMA_CLIENT_STEPS and rest[0].args is not None:
        receiver = f"{receiver}.{rest[0].name}()"
        rest = rest[1:]
    first = rest[0]
    if first.name in P.PRISMA_RAW and first.args is not None:
        # only a Prisma client has ``$queryRaw`` & co.: whatever the handle is called
        # (``client``, ``conn``), it is one
        entry = P.PRISMA_RAW[first.name]
        facts = Facts(
            "prisma",
            entry.kind,
            f"{receiver}.{first.name}",
            receiver,
            result_shape=entry.result_shape,
        )
        if first.args:
            _sql_text_facts(_template_text(first.args[0], src), facts)
        _tail(rest[1:], facts)
        return facts
    if library not in {"prisma", "db"}:
        return None
    if len(rest) < 2 or first.args is not None or first.name.startswith("$"):
        return None
    method = rest[1]
    found = P.PRISMA_METHODS.get(method.name)
    if found is None or method.args is None:
        return None
    entry = found
    if any(s.args is None or s.name not in {"then", "catch", "finally"} for s in rest[2:]):
        return None
    dynamic = first.name.startswith("[")  # ``client[model]``: the model is not known here
    facts = Facts(
        "prisma",
        entry.kind,
        f"{receiver}{'' if dynamic else '.'}{first.name}.{method.name}",
        receiver,
        tables=[] if dynamic else [first.name],
        single_key=entry.single_key,
        batched=entry.batched,
        has_limit=entry.has_limit,
        result_shape=entry.result_shape,
    )
    if method.name in {"aggregate", "count"}:
        facts.aggregate.append("count" if method.name == "count" else "aggregate")
    if method.name == "groupBy":
        facts.group_by = True
    if method.args:
        _prisma_options(
            method.args[0], src, facts, "" if dynamic else first.name, "Many" in method.name
        )
    _tail(rest[2:], facts)
    _finish(facts)
    return facts


def _prisma_options(node: Node, src: Source, facts: Facts, table: str, many: bool) -> None:
    options = unwrap(node)
    if options.type != "object":
        return
    for key, value in _pairs(options, src):
        if key == "where":
            value = unwrap(value)
            if value.type == "object":
                for column, expr in _pairs(value, src):
                    _object_filter(column, expr, src, facts, table)
            facts.where = list(_object_parts(value, src))
        elif key == "include":
            facts.eager_loads.extend(_prisma_relations(value, src, "", include=True))
            if any(k == "_count" for k, _ in _pairs(unwrap(value), src)):
                facts.aggregate.append("count")
        elif key == "select":
            facts.eager_loads.extend(_prisma_relations(value, src, "", include=False))
            facts.columns.extend(k for k, _ in _pairs(unwrap(value), src))
        elif key == "take":
            facts.has_limit = not _maybe_absent(value, src)
        elif key in {"skip", "cursor"}:
            facts.paged = True
        elif key == "orderBy":
            facts.order_by.append(short(src.text(value)))
        elif key == "data" and many:
            # ``createMany({ data: rows })``: one statement for a list (``update({ data:
            # updateData })`` writes one row, whatever the object is called)
            data = unwrap(value)
            if data.type == "array" or (
                data.type == "identifier" and _PLURAL.search(src.text(data))
            ):
                facts.batched = True
        elif key == "by":
            facts.group_by = True
        elif key in {"_count", "_sum", "_avg", "_min", "_max"}:
            facts.aggregate.append(key[1:])


def _prisma_relations(node: Node, src: Source, prefix: str, *, include: bool) -> Iterator[str]:
    node = unwrap(node)
    if node.type != "object":
        return
    for key, value in _pairs(node, src):
        inner = unwrap(value)
        if key == "_count":
            continue
        if include or inner.type == "object":
            name = f"{prefix}{key}"
            yield name
            if inner.type == "object":
                for sub_key, sub_value in _pairs(inner, src):
                    if sub_key in {"include", "select"}:
                        yield from _prisma_relations(
                            sub_value, src, f"{name}.", include=sub_key == "include"
                        )


# ----------------------------------------------------------------------------------- Knex


def _knex_from_call(chain: Chain, src: Source, handle_of: Handles) -> Facts | None:
    base = chain.base
    function = base.child_by_field_name("function")
    if function is None:
        return None
    callee = src.text(unwrap(function))
    args = arguments(base.child_by_field_name("arguments"))
    library = handle_of(callee)
    if library == "postgres" and args and args[0].type == "template_string":
        facts = Facts("postgres", "raw", callee, callee)
        _sql_text_facts(_template_text(args[0], src), facts)
        return facts
    if library not in {"knex", "db"} or not P.KNEX_NAMES.match(callee.rsplit(".", 1)[-1]):
        return None
    if not args or unwrap(args[0]).type not in {"string", "template_string"}:
        return None
    facts = Facts(
        "knex",
        "select",
        _api(callee, chain.steps),
        callee,
        tables=[_string_text(unwrap(args[0]), src)],
    )
    _knex_steps(chain.steps, src, facts)
    return facts


def _knex(receiver: str, rest: tuple[Step, ...], src: Source, library: str) -> Facts | None:
    if library not in {"knex", "db"} or rest[0].name not in P.KNEX_ENTRY_METHODS:
        return None
    if rest[0].args is None:
        return None
    names = {s.name for s in rest}
    if rest[0].name == "select" and not names & {"from", "table"}:
        return None
    if rest[0].name == "raw":
        if not rest[0].args or not _is_sql_argument(rest[0].args[0], src):
            return None
        facts = Facts("knex", "raw", f"{receiver}.raw", receiver)
        _sql_text_facts(_template_text(rest[0].args[0], src), facts)
        return facts
    facts = Facts("knex", "select", _api(receiver, rest), receiver)
    _knex_steps(rest, src, facts)
    if not facts.tables:
        return None
    return facts


def _knex_steps(steps: tuple[Step, ...], src: Source, facts: Facts) -> None:
    for step in steps:
        args = step.args or ()
        if step.name in {"from", "table", "into"} and args:
            facts.tables.insert(0, _table_name(args[0], src))
        elif step.name in P.KNEX_WHERE and args:
            op = P.KNEX_WHERE[step.name]
            first = unwrap(args[0])
            if first.type == "object":
                for column, value in _pairs(first, src):
                    facts.filters.append(Filter(column, op, short(src.text(value))))
            elif first.type in {"string", "template_string"}:
                column = _string_text(first, src).rsplit(".", 1)[-1]
                written = short(src.text(args[-1])) if len(args) > 1 else ""
                if len(args) == 3:
                    op = _string_text(unwrap(args[1]), src) or op
                facts.filters.append(Filter(column, op, written))
            if op == "in":
                facts.batched = True
            facts.where.extend(_knex_where_parts(step, src))
        elif step.name in {"join", "leftJoin", "innerJoin", "rightJoin", "leftOuterJoin"} and args:
            facts.joins.append(_table_name(args[0], src))
        elif step.name == "limit":
            facts.has_limit = True
        elif step.name == "offset":
            facts.paged = True
        elif step.name == "orderBy":
            facts.order_by.extend(short(src.text(a)) for a in args)
        elif step.name == "groupBy":
            facts.group_by = True
        elif step.name in P.KNEX_STEPS and step.args is not None:
            entry = P.KNEX_STEPS[step.name]
            if entry.kind != "select" or facts.kind == "select":
                facts.kind = entry.kind
            facts.result_shape = entry.result_shape
            facts.has_limit |= entry.has_limit
            if step.name in {"count", "countDistinct", "sum", "avg", "min", "max"}:
                facts.aggregate.append("count" if "count" in step.name else step.name)
            if step.name == "insert" and args:
                first = unwrap(args[0])
                if first.type == "array" or (
                    first.type == "identifier" and _PLURAL.search(src.text(first))
                ):
                    facts.batched = True
    if any(s.name.startswith("or") and s.name in P.KNEX_WHERE for s in steps):
        # ``.where(a).orWhere(b)``: an OR of everything before, no part stands alone
        facts.where = [".".join(facts.where)] if facts.where else []
    if facts.kind == "count" and facts.group_by:
        facts.kind = "select"
        facts.result_shape = "rows"
    _finish(facts)


def _knex_where_parts(step: Step, src: Source) -> Iterator[str]:
    """A Knex where step as its conditions, each a step of its own: ``where({ a: x, b })``
    -> ``where({ a: x })``, ``where({ b })``; ``whereNull("deleted_at")`` whole."""
    args = step.args or ()
    first = unwrap(args[0]) if args else None
    if first is not None and first.type == "object" and step.name in {"where", "andWhere"}:
        for child in first.named_children:
            if child.type != "comment":
                yield f"{step.name}({{ {_written(child, src)} }})"
        return
    yield f"{step.name}({', '.join(_written(a, src) for a in args)})"


# ------------------------------------------------------------------- node-postgres & co.


def _sql_client(receiver: str, rest: tuple[Step, ...], src: Source, library: str) -> Facts | None:
    first = rest[0]
    entry = P.SQL_METHODS.get(first.name)
    if entry is None or not first.args:
        return None
    argument = unwrap(first.args[0])
    text = ""
    if argument.type in {"string", "template_string"}:
        text = _template_text(argument, src)
    elif argument.type == "object":
        for key, value in _pairs(argument, src):
            if key == "text":
                text = _template_text(unwrap(value), src)
    # an SQL text, or a query variable handed to a known pg/mysql2 pool
    if (not text or not looks_like_sql(text)) and (
        library not in {"pg", "mysql2", "neon"} or argument.type != "identifier"
    ):
        return None
    facts = Facts(
        library if library in {"pg", "mysql2", "neon"} else "pg",
        entry.kind,
        f"{receiver}.{first.name}",
        receiver,
    )
    if text:
        _sql_text_facts(text, facts)
    _tail(rest[1:], facts)
    return facts


# ----------------------------------------------------------------------------------- TypeORM


def _typeorm(receiver: str, rest: tuple[Step, ...], src: Source, library: str) -> Facts | None:
    if library not in {"typeorm", "sql", "db"}:
        return None
    entity = ""
    if rest[0].name in {"getRepository", "getTreeRepository", "withRepository"}:
        if not rest[0].args or len(rest) < 2:
            return None
        entity = src.text(rest[0].args[0]).rsplit(".", 1)[-1]
        receiver = f"{receiver}.{rest[0].name}({entity})"
        rest = rest[1:]
    elif library != "typeorm":
        return None
    first = rest[0]
    if first.args is None:
        return None
    if first.name == "createQueryBuilder":
        return _typeorm_builder(receiver, rest, src, entity)
    entry = P.TYPEORM_METHODS.get(first.name)
    if entry is None or any(s.name not in {"then", "catch", "finally"} for s in rest[1:]):
        return None
    args = first.args
    # ``manager.find(User, {...})``: the entity comes first on an EntityManager
    if args and not entity and unwrap(args[0]).type in {"identifier", "member_expression"}:
        head = src.text(args[0]).rsplit(".", 1)[-1]
        if head[:1].isupper():
            entity, args = head, args[1:]
    if not entity:
        entity = _entity_from_receiver(receiver)
    facts = Facts(
        "typeorm",
        entry.kind,
        f"{receiver}.{first.name}",
        receiver,
        tables=[entity] if entity else [],
        has_limit=entry.has_limit,
        batched=entry.batched,
        result_shape=entry.result_shape,
    )
    if first.name == "query" and args:
        _sql_text_facts(_template_text(args[0], src), facts)
    elif args:
        options = unwrap(args[0])
        if first.name.endswith("By") or first.name in {"delete", "update", "softDelete"}:
            _typeorm_where(options, src, facts, entity)
        elif first.name in {"save", "insert", "upsert", "remove", "softRemove"}:
            if options.type == "array" or (
                options.type == "identifier" and _PLURAL.search(src.text(options))
            ):
                facts.batched = True
        elif options.type == "object":
            for key, value in _pairs(options, src):
                if key == "where":
                    _typeorm_where(unwrap(value), src, facts, entity)
                elif key == "relations":
                    facts.eager_loads.extend(_typeorm_relations(unwrap(value), src))
                elif key == "take":
                    facts.has_limit = not _maybe_absent(value, src)
                elif key == "skip":
                    facts.paged = True
                elif key == "order":
                    facts.order_by.append(short(src.text(value)))
    _tail(rest[1:], facts)
    _finish(facts)
    return facts


def _typeorm_builder(
    receiver: str, rest: tuple[Step, ...], src: Source, entity: str
) -> Facts | None:
    terminal = next((s for s in rest if s.name in P.TYPEORM_TERMINALS), None)
    if terminal is None:
        return None
    entry = P.TYPEORM_TERMINALS[terminal.name]
    facts = Facts(
        "typeorm", entry.kind, _api(receiver, rest), receiver, result_shape=entry.result_shape
    )
    if entity or _entity_from_receiver(receiver):
        facts.tables.append(entity or _entity_from_receiver(receiver))
    for step in rest:
        args = step.args or ()
        if step.name in {"from", "update", "delete", "insert", "into"} and args:
            facts.tables.append(src.text(args[0]).rsplit(".", 1)[-1].strip("'\""))
        elif step.name in {"update", "softDelete"}:
            facts.kind = "update"
        elif step.name == "delete":
            facts.kind = "delete"
        elif step.name == "insert":
            facts.kind = "insert"
        elif step.name.endswith("JoinAndSelect") and args:
            relation = _string_text(unwrap(args[0]), src).rsplit(".", 1)[-1]
            facts.joins.append(relation)
            facts.eager_loads.append(relation)
        elif step.name.endswith("Join") and args:
            facts.joins.append(_string_text(unwrap(args[0]), src).rsplit(".", 1)[-1])
        elif step.name in {"where", "andWhere", "orWhere"} and args:
            condition = _template_text(args[0], src)
            for column, op, value in sql_facts(f"SELECT 1 FROM t WHERE {condition}").filters:
                facts.filters.append(Filter(column, "==" if op == "=" else op, value))
            if re.search(r"\bIN\s*\(\s*:\.\.\.", condition, re.I):
                facts.batched = True
        elif step.name in {"take", "limit"}:
            facts.has_limit = True
        elif step.name in {"skip", "offset"}:
            facts.paged = True
        elif step.name in {"orderBy", "addOrderBy"}:
            facts.order_by.extend(short(src.text(a)) for a in args)
        elif step.name in {"groupBy", "addGroupBy"}:
            facts.group_by = True
    _templates(rest, src, facts)
    _finish(facts)
    return facts


def _typeorm_where(node: Node, src: Source, facts: Facts, table: str) -> None:
    items = node.named_children if node.type == "array" else (node,)
    for item in items:
        item = unwrap(item)
        if item.type != "object":
            continue
        for column, value in _pairs(item, src):
            inner = unwrap(value)
            if inner.type == "call_expression":
                function = inner.child_by_field_name("function")
                name = src.text(function) if function is not None else ""
                if name == "In":
                    facts.batched = True
                    call_args = arguments(inner.child_by_field_name("arguments"))
                    written = short(src.text(call_args[0])) if call_args else ""
                    facts.filters.append(Filter(column, "in", written, table))
                    continue
                if name in {"Not", "IsNull", "MoreThan", "LessThan", "Like", "ILike", "Between"}:
                    facts.filters.append(
                        Filter(column, name.lower(), short(src.text(inner)), table)
                    )
                    continue
            if inner.type == "object":
                continue  # a relation's nested condition
            facts.filters.append(Filter(column, "==", short(src.text(inner)), table))


def _typeorm_relations(node: Node, src: Source) -> list[str]:
    if node.type == "array":
        return [
            _string_text(unwrap(c), src) for c in node.named_children if unwrap(c).type == "string"
        ]
    if node.type == "object":
        return [key for key, _ in _pairs(node, src)]
    return []


def _entity_from_receiver(receiver: str) -> str:
    """``this.userRepository`` -> "user"; ``manager`` -> ""."""
    last = receiver.rsplit(".", 1)[-1]
    stem = re.sub(r"(Repository|Repo|repository|repo)$", "", last)
    return stem if stem and stem != last else ""


# ---------------------------------------------------------------------------------- Supabase


def _supabase(receiver: str, rest: tuple[Step, ...], src: Source, library: str) -> Facts | None:
    if library != "supabase":
        return None
    first = rest[0]
    if first.name == "rpc" and first.args:
        facts = Facts("supabase", "raw", f"{receiver}.rpc", receiver)
        facts.sql = short(_string_text(unwrap(first.args[0]), src))
        return facts
    if first.name != "from" or not first.args:
        return None
    kind: DbOpKind = "select"
    facts = Facts(
        "supabase",
        kind,
        _api(receiver, rest),
        receiver,
        tables=[_string_text(unwrap(first.args[0]), src)],
    )
    for step in rest[1:]:
        args = step.args or ()
        if step.name in P.SUPABASE_KINDS:
            if step.name != "select" or facts.kind == "select":
                facts.kind = P.SUPABASE_KINDS[step.name]
            if step.name in {"insert", "upsert"} and args:
                value = unwrap(args[0])
                facts.batched |= value.type == "array" or (
                    value.type == "identifier" and bool(_PLURAL.search(src.text(value)))
                )
            if step.name == "select" and args and re.search(r"count", src.text(step.node)):
                facts.aggregate.append("count")
        elif step.name in P.SUPABASE_FILTERS and args:
            op = P.SUPABASE_FILTERS[step.name]
            column = _string_text(unwrap(args[0]), src)
            written = short(src.text(args[1])) if len(args) > 1 else ""
            facts.filters.append(Filter(column, op, written))
            if op == "in":
                facts.batched = True
        elif step.name in {"single", "maybeSingle"}:
            facts.result_shape = "row"
            facts.has_limit = True
        elif step.name in {"limit", "range"}:
            facts.has_limit = True
            facts.paged |= step.name == "range"
        elif step.name == "order":
            facts.order_by.extend(short(src.text(a)) for a in args[:1])
    if facts.kind != "select" and facts.result_shape == "rows":
        facts.result_shape = ""
    _tail(rest[1:], facts)
    _finish(facts)
    return facts


_READERS = (_drizzle, _prisma, _knex, _typeorm, _supabase, _sql_client)


# ---------------------------------------------------------------------------- helpers


def _api(receiver: str, steps: tuple[Step, ...]) -> str:
    return receiver + "".join(f".{s.name}()" if s.args is not None else f".{s.name}" for s in steps)


def _tail(steps: tuple[Step, ...], facts: Facts) -> None:
    for step in steps:
        if step.name in {"then", "catch", "finally"} and step.args:
            facts.callbacks.extend(step.args)


def spread_conditions(elements: Iterable[Node], src: Source, facts: Facts) -> None:
    """The conditions of an array a Drizzle where spreads (``and(...filters)`` over ``const
    filters = [eq(keys.id, keyId), ...]``), added as the where's own: each element is ANDed,
    so a key among them makes the statement one row's, as it would written in place. An
    element pushed later only narrows it further."""
    for element in elements:
        _conditions(element, src, facts)
    _finish(facts)


def _finish(facts: Facts) -> None:
    if any(f.op == "==" and f.column in {"id", "pk"} for f in facts.filters):
        facts.single_key = True
        if facts.kind == "select" and facts.has_limit:
            facts.result_shape = "row"
    if (
        facts.kind == "select"
        and facts.library == "drizzle"
        and "count" in facts.aggregate
        and not facts.group_by
        and not facts.window
    ) and len(facts.columns) <= 1:
        facts.kind = "count"
        facts.result_shape = "count"
    facts.tables = [t for t in dict.fromkeys(facts.tables) if t]


def _maybe_absent(value: Node, src: Source) -> bool:
    """``take: page ? ITEMS_PER_PAGE : undefined``: a limit only on some calls (a page
    asked for); without it every matching row comes back."""
    node = unwrap(value)
    if node.type != "ternary_expression":
        return node.type in {"undefined", "null"} or src.text(node) == "undefined"
    return any(
        arm is not None and _maybe_absent(arm, src)
        for arm in (
            node.child_by_field_name("consequence"),
            node.child_by_field_name("alternative"),
        )
    )


def _sql_text_facts(text: str, facts: Facts) -> None:
    if not text:
        return
    found = sql_facts(text)
    facts.sql = short(text)
    # ``$executeRaw`SELECT pg_advisory_xact_lock(...)```: Prisma's execute runs a statement
    # for its effect (a lock, a setting), never to read rows, so a SELECT there stays raw
    executes = facts.api.rsplit(".", 1)[-1] in {"$executeRaw", "$executeRawUnsafe"}
    # ``SELECT id FROM "Survey" WHERE id = ${id} FOR UPDATE`` locks the row for what follows in
    # the transaction: run for its effect too, so no later read moves before it
    effect = executes or _LOCKING_READ.search(text) is not None
    if found.kind != "raw" and facts.kind == "raw" and not (effect and found.kind == "select"):
        facts.kind = found.kind  # type: ignore[assignment]
    facts.tables.extend(found.tables)
    facts.filters.extend(Filter(c, "==" if o == "=" else o, v) for c, o, v in found.filters)
    facts.has_limit |= found.has_limit
    facts.batched |= found.batched
    facts.aggregate.extend(found.aggregates)
    facts.group_by |= found.group_by
    facts.window |= found.window
    facts.joins.extend(["join"] * found.joins)
    if facts.kind == "select" and found.aggregates and not found.group_by and not found.window:
        facts.kind = "count" if "count" in found.aggregates else facts.kind
        facts.result_shape = "scalar"


def _templates(steps: tuple[Step, ...], src: Source, facts: Facts) -> None:
    for step in steps:
        for arg in step.args or ():
            _templates_in(arg, src, facts)


def _templates_in(node: Node, src: Source, facts: Facts) -> None:
    for sub in _walk(node):
        if sub.type == "template_string":
            text = src.text(sub)
            if _WINDOW.search(text):
                facts.window = True
            facts.aggregate.extend(a.lower() for a in _AGGREGATE.findall(text))
            if _GROUP_BY.search(text):
                facts.group_by = True


def _is_sql_argument(node: Node, src: Source) -> bool:
    node = unwrap(node)
    if node.type in {"string", "template_string"}:
        return True
    if node.type == "call_expression":
        function = node.child_by_field_name("function")
        name = src.text(function) if function is not None else ""
        return name.split("<")[0].strip() in {"sql", "sql.raw"} or name.endswith(".raw")
    return node.type == "binary_expression" and src.text(node).startswith("sql")


def _template_text(node: Node, src: Source) -> str:
    """The SQL of a string, a template or ``sql`...```, with substitutions as ``$n``."""
    node = unwrap(node)
    if node.type == "call_expression":
        for child in node.named_children:
            if child.type == "template_string":
                node = child
                break
            if child.type == "arguments":
                inner = arguments(child)
                if inner:
                    return _template_text(inner[0], src)
    if node.type == "binary_expression":
        right = node.child_by_field_name("right")
        if right is not None and right.type == "template_string":
            node = right
    if node.type == "string":
        return _string_text(node, src)
    if node.type != "template_string":
        return ""
    parts: list[str] = []
    counter = 0
    for child in node.children:
        if child.type == "template_substitution":
            counter += 1
            parts.append(f"${counter}")
        elif child.type == "string_fragment" or child.type == "escape_sequence":
            parts.append(src.text(child))
    return "".join(parts)


def _string_text(node: Node, src: Source) -> str:
    text = src.text(node)
    if len(text) >= 2 and text[0] in "'\"`" and text[-1] == text[0]:
        return text[1:-1]
    return text


def _pairs(node: Node, src: Source) -> Iterator[tuple[str, Node]]:
    """``key: value`` and shorthand ``key`` entries of an object literal."""
    if node.type != "object":
        return
    for child in node.named_children:
        if child.type == "pair":
            key = child.child_by_field_name("key")
            value = child.child_by_field_name("value")
            if key is not None and value is not None:
                yield _string_text(key, src), value
        elif child.type == "shorthand_property_identifier":
            yield src.text(child), child
        elif child.type == "method_definition":
            name = child.child_by_field_name("name")
            if name is not None:
                yield src.text(name), child


def _calls_in(node: Node) -> Iterator[Node]:
    for sub in _walk(node):
        if sub.type == "call_expression":
            yield sub


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))
