"""Python source -> ``ModuleModel``: walking only, no judgement.

``parse_module(path, source)`` parses once with ``ast`` and walks each function a single time,
recording database operations (recognised through ``patterns.py``), calls, loops, assignments,
attribute reads on loop variables, awaits and ``gather`` uses, plus the module's imports,
classes, ORM models and engine/pool creations. It never imports user code.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from dbaudit.frontends.events import UNIQUE_KEY, FunctionEvents, LoopExit, weaker_exit
from dbaudit.frontends.python import patterns as P
from dbaudit.frontends.python.aiosql import ModuleQueries
from dbaudit.frontends.python.ast_names import dotted as _dotted
from dbaudit.frontends.python.newer_syntax import parse_python
from dbaudit.frontends.python.sql_text import looks_like_sql, sql_facts
from dbaudit.model import (
    Assign,
    AttrAccess,
    Await,
    Call,
    ClassInfo,
    DbOp,
    DbOpKind,
    EngineCreation,
    Filter,
    ForeignKey,
    Function,
    Gather,
    Import,
    Loop,
    LoopKind,
    ModelClass,
    ModuleModel,
    Relationship,
    Span,
)

_MAX_TEXT = 160
# an ``if`` test kept whole for fixes that keep it (longer ones are not kept: no fix says them)
_MAX_CONDITION = 240
RETURN = "<return>"  # the target of events whose value is returned directly
DYNAMIC_TABLE = "<dynamic>"  # the statement's table is a variable (a loop over tables)
_IGNORED_READS = frozenset({"self", "cls"})
_EMPTY: frozenset[str] = frozenset()
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Django expressions that embed a queryset as a subquery of the query they are used in
_SUBQUERY_WRAPPERS = frozenset({"Exists", "Subquery"})
_EVALUATORS = frozenset({"list", "tuple", "set", "sorted", "len", "bool", "sum", "any", "all"})
# Django answers these from a queryset's result cache once its rows were fetched
_ANSWERED_BY_CACHE = frozenset({"count", "exists", "acount", "aexists"})
# wrappers that keep the number of items of what they are given
_ORDER_ONLY = frozenset({"reversed", "enumerate", "sorted", "list", "tuple", "set"})
# methods that grow a collection in place
_GROWS = frozenset({"append", "extend", "insert", "add", "update", "setdefault"})
_ONE_ROW = frozenset(
    {
        "first",
        "one",
        "one_or_none",
        "scalar_one",
        "scalar_one_or_none",
        "scalar",
        "fetchone",
        "first_or_404",
        "one_or_404",
    }
)


class ParseError(SyntaxError):
    """The source is not valid Python. A ``SyntaxError`` (so callers catching that see it too)
    whose ``msg`` is one line for the report."""


def might_touch_database(source: str) -> bool:
    """A cheap test run before parsing: ``False`` means the file can be skipped.

    True when the text mentions a database library or API, an ORM manager, a session or
    cursor, a data-access class, or ``await`` (an async function may await a helper that
    queries). A sync file calling an imported helper without any of these tokens is the one
    case it gives up: the loop there is not seen (documented in the rules' docs).
    """
    for literal in P.PRECHECK_LITERALS:
        if literal in source:
            return True
    for letters, bounded in P.PRECHECK_BOUNDED:
        if letters in source and bounded.search(source) is not None:
            return True
    return False


# problems of a module's aiosql .sql files named in its note; the rest are counted
MAX_NOTED_PROBLEMS = 5


@dataclass(frozen=True, slots=True)
class ParseOutcome:
    module: ModuleModel
    # what the module was audited without, one line each: the .sql files its aiosql queries
    # object loads that could not be read, so the calls of those queries are not seen
    notes: tuple[str, ...] = ()
    # glob patterns of the other files the model was built from (the .sql files aiosql loads):
    # the scan cache keeps the model only while they stay as they were
    inputs: tuple[str, ...] = ()


def parse(path: str, source: str) -> ParseOutcome:
    """``parse_module`` with the caveats the report lists for the file."""
    tree = _syntax_tree(path, source)
    walker = _ModuleWalker(path, source.splitlines())
    module = walker.walk(tree)
    queries = walker.ctx.aiosql
    problems = queries.problems if queries is not None else ()
    inputs = queries.inputs if queries is not None else ()
    if not problems:
        return ParseOutcome(module, inputs=inputs)
    shown = "; ".join(problems[:MAX_NOTED_PROBLEMS])
    if len(problems) > MAX_NOTED_PROBLEMS:
        shown += f"; {len(problems) - MAX_NOTED_PROBLEMS} more"
    return ParseOutcome(module, (f"aiosql: {shown}",), inputs)


def parse_module(path: str, source: str) -> ModuleModel:
    """Build the program model of one file. Raises ``ParseError`` on invalid Python."""
    return parse(path, source).module


def _syntax_tree(path: str, source: str) -> ast.Module:
    try:
        tree = parse_python(source, path)
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        message = getattr(error, "msg", None) or str(error)
        raise ParseError(f"syntax error{where}: {message}", (path, line or 0, 0, "")) from None
    except RecursionError:
        raise ParseError("too deeply nested to parse") from None
    return tree


# --------------------------------------------------------------------------- helpers


def _callee_text(node: ast.AST) -> str:
    """The called expression as written, calls in the middle shown as ``()``."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            break
        elif isinstance(node, ast.Await):
            node = node.value
        else:
            parts.append("<expr>")
            break
    text = ""
    for part in reversed(parts):
        if part == "()":
            text += "()"
        else:
            text = f"{text}.{part}" if text else part
    return text


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _children(node: ast.AST) -> list[ast.AST]:
    """``ast.iter_child_nodes`` as a list, in its order, without its two nested generators
    (the walk visits about a million nodes on a large tree: a quarter of its time was there)."""
    children: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            children.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, ast.AST):
                    children.append(item)
    return children


def _reads_outer_ref(call: ast.Call) -> bool:
    """An argument of this call (not of a subquery nested in it) reads ``OuterRef(...)``."""
    todo: deque[ast.AST] = deque((*call.args, *(k.value for k in call.keywords)))
    while todo:
        node = todo.popleft()
        if isinstance(node, ast.Call):
            name = _last(_callee_text(node.func))
            if name == "OuterRef":
                return True
            if name in _SUBQUERY_WRAPPERS:
                continue  # the nested queryset's own outer reference
        todo.extend(_children(node))
    return False


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` (same breadth-first order) over ``_children``."""
    todo = deque((node,))
    while todo:
        node = todo.popleft()
        todo.extend(_children(node))
        yield node


def _negated(test: ast.expr) -> str:
    """``not (<test>)`` as Python writes it: ``u.active`` -> ``not u.active``, ``not x`` ->
    ``x``, ``a is None`` -> ``a is not None``."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return ast.unparse(test.operand)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        flipped = {ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
        kind = flipped.get(type(test.ops[0]))
        if kind is not None:
            return ast.unparse(ast.Compare(test.left, [kind()], test.comparators))
    return ast.unparse(ast.UnaryOp(ast.Not(), test))


def _unparse(node: ast.AST) -> str:
    try:
        return _short(ast.unparse(node))
    except (ValueError, RecursionError, AttributeError):
        return "<expr>"


def _names(node: ast.AST | None) -> frozenset[str]:
    if node is None:
        return frozenset()
    found = {n.id for n in _walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return frozenset(found - _IGNORED_READS)


def _target_names(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(n for elt in node.elts for n in _target_names(elt))
    if isinstance(node, ast.Starred):
        return _target_names(node.value)
    if isinstance(node, ast.Attribute):
        dotted = _dotted(node)
        return (dotted,) if dotted else ()
    return ()


def _string_value(node: ast.AST | None) -> str | None:
    """The constant text of a string, an f-string (holes as ``?``) or a ``+`` concatenation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "?"
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        left = _string_value(node.left)
        if left is not None:
            right = _string_value(node.right) if isinstance(node.op, ast.Add) else ""
            return left + (right or "?")
    return None


def _unchain(node: ast.AST) -> tuple[ast.AST, list[tuple[str, ast.Call]]]:
    """``a.b(x).c(y)`` -> (``a``, [("b", call), ("c", call)]), innermost link first."""
    links: list[tuple[str, ast.Call]] = []
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        links.append((node.func.attr, node))
        node = node.func.value
    links.reverse()
    return node, links


def _is_class_name(node: ast.AST) -> bool:
    name = _dotted(node)
    return bool(name) and _last(name or "")[:1].isupper()


_INIT_METHODS = frozenset({"__init__", "__post_init__", "setup", "setUp", "__aenter__"})


def _annotation_text(node: ast.AST) -> str:
    dotted = _dotted(node)
    if dotted is not None:
        return dotted
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return _unparse(node)


def _annotation_name(node: ast.AST) -> str:
    """``AsyncSession`` / ``Optional[RendersDAL]`` / ``"DAL"`` -> the class name it names."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _last(node.value.strip())
    if isinstance(node, ast.Subscript):
        inner = node.slice
        if isinstance(inner, ast.Tuple) and inner.elts:
            inner = inner.elts[0]
        return _annotation_name(inner)
    if isinstance(node, ast.BinOp):  # ``X | None``
        return _annotation_name(node.left)
    dotted = _dotted(node)
    return _last(dotted) if dotted else ""


def _self_attribute_types(method: ast.AST, out: dict[str, str]) -> None:
    annotations = {
        a.arg: _annotation_name(a.annotation)
        for a in (*method.args.posonlyargs, *method.args.args, *method.args.kwonlyargs)  # type: ignore[attr-defined]
        if a.annotation is not None
    }
    for sub in _walk(method):
        if (
            isinstance(sub, ast.Assign)
            and len(sub.targets) == 1
            and isinstance(sub.targets[0], ast.Attribute)
            and isinstance(sub.targets[0].value, ast.Name)
            and sub.targets[0].value.id == "self"
        ):
            attr = sub.targets[0].attr
            value = sub.value
            if isinstance(value, ast.Call) and _is_class_name(value.func):
                out[attr] = _last(_dotted(value.func) or "")
            elif isinstance(value, ast.Name) and value.id in annotations:
                out[attr] = annotations[value.id]


# Builtins and str/list/dict/logging methods: such calls never reach a database, and there
# are many of them, so they are not kept in the model (``len``/``sum`` are: DBA108 needs them).
_BUILTINS = frozenset(
    {
        "print",
        "isinstance",
        "issubclass",
        "str",
        "int",
        "float",
        "bool",
        "list",
        "dict",
        "set",
        "tuple",
        "frozenset",
        "range",
        "enumerate",
        "zip",
        "map",
        "filter",
        "sorted",
        "reversed",
        "min",
        "max",
        "any",
        "all",
        "abs",
        "round",
        "repr",
        "hash",
        "id",
        "type",
        "getattr",
        "setattr",
        "hasattr",
        "delattr",
        "callable",
        "iter",
        "next",
        "super",
        "format",
        "vars",
        "dir",
        "bytes",
        "bytearray",
        "object",
        "divmod",
        "pow",
        "chr",
        "ord",
        "hex",
        "oct",
        "bin",
        "slice",
        "property",
        "staticmethod",
        "classmethod",
        "open",
    }
)
_PLAIN_METHODS = frozenset(
    {
        "append",
        "extend",
        "join",
        "split",
        "rsplit",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "lower",
        "upper",
        "title",
        "format",
        "items",
        "keys",
        "values",
        "encode",
        "decode",
        "replace",
        "setdefault",
        "sort",
        "isdigit",
        "isalpha",
        "splitlines",
        "partition",
        "rpartition",
        "zfill",
        "ljust",
        "rjust",
        "center",
        "casefold",
        "isoformat",
        "strftime",
        "hexdigest",
        "copy",
        "__init__",
    }
)
_BUILDER_METHODS = frozenset(
    {
        "where",
        "order_by",
        "filter",
        "filter_by",
        "join",
        "outerjoin",
        "limit",
        "offset",
        "group_by",
        "having",
        "options",
        "returning",
        "label",
        "desc",
        "asc",
        "in_",
        "is_",
        "like",
        "ilike",
        "over",
        "alias",
        "subquery",
        "scalar_subquery",
        "select_from",
        "with_only_columns",
        "execution_options",
        "correlate",
        "distinct",
        "exclude",
        "select_related",
        "prefetch_related",
        "annotate",
        "only",
        "defer",
        "cte",
        "c",
    }
)
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical"})


def _never_a_query(func: ast.expr, callee: str, last: str) -> bool:
    if last[:1].isupper():
        return True  # a constructor: the call graph does not follow ``__init__``
    if isinstance(func, ast.Name):
        return last in _BUILTINS
    if last in _PLAIN_METHODS:
        return True
    if "()" in callee and last in _BUILDER_METHODS:
        return True  # a step of a statement or queryset chain
    receiver = callee.rsplit(".", 1)[0].lower()
    # ``log.exception(e)`` is kept: it marks an ``except`` block that swallows a failure
    # (DBA103 reads it as a transaction per item on purpose)
    return (
        last in _LOG_METHODS
        and last != "exception"
        and ("log" in receiver or "warnings" in receiver)
    )


def _query_api(receiver: ast.AST, links: list[tuple[str, ast.Call]], model: str) -> str:
    if isinstance(receiver, ast.Name) and model:  # a Query variable: ``q.all``
        return f"{receiver.id}.{links[-1][0]}"
    if model:  # Flask-SQLAlchemy ``User.query``
        return f"{model}.query"
    return f"{_dotted(receiver) or ''}.query"


def _is_orm_entity(node: ast.AST) -> bool:
    """``User``, ``User.id``, ``func.count(User.id)``: what ``session.query(...)`` is given."""
    if _is_class_name(node):
        return True
    if isinstance(node, ast.Attribute):
        return _is_class_name(node.value)
    if isinstance(node, ast.Call):
        callee = _callee_text(node.func)
        return "func." in callee or _last(callee) in {"distinct", "aliased", "literal", "label"}
    return False


def _is_early_exit(body: Sequence[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))


# ------------------------------------------------------------------ leaving a loop

_OWN_SCOPE = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)


def _item_key(node: ast.AST) -> tuple[str, ast.expr] | None:
    """``item.slug`` -> ("slug", item); ``item["name"]`` -> ("name", item)."""
    if isinstance(node, ast.Attribute):
        return node.attr, node.value
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return str(node.slice.value), node.value
    return None


def _exit_of(node: ast.stmt) -> LoopExit | None:
    """How ``node`` leaves the loop around it on every path through it, if it does."""
    if isinstance(node, (ast.Return, ast.Raise)):
        return "return"
    if isinstance(node, ast.Break):
        return "break"
    if isinstance(node, ast.If):
        return weaker_exit(_exit_of_block(node.body), _exit_of_block(node.orelse))
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return _exit_of_block(node.body)
    if isinstance(node, (ast.Try, ast.TryStar)):
        final = _exit_of_block(node.finalbody)
        if final is not None:
            return final
        kind = _exit_of_block([*node.body, *node.orelse])
        for handler in node.handlers:
            kind = weaker_exit(kind, _exit_of_block(handler.body))
        return kind
    return None


def _exit_of_block(body: Sequence[ast.stmt]) -> LoopExit | None:
    return _exit_through(body, None)


def _may_continue(node: ast.stmt) -> bool:
    """A ``continue`` of the loop around ``node`` somewhere inside it."""
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Continue):
            return True
        for child in ast.iter_child_nodes(current):
            if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)) and not isinstance(
                child, _OWN_SCOPE
            ):
                stack.append(child)
    return False


def _exit_through(body: Sequence[ast.stmt], after: LoopExit | None) -> LoopExit | None:
    """How the loop is left once ``body`` and then what follows it (``after``) have run."""
    for statement in body:
        kind = _exit_of(statement)
        if kind is not None:
            return kind
        if _may_continue(statement):
            return None
    return after


def exits_after_each(
    body: Sequence[ast.stmt], after: LoopExit | None
) -> list[tuple[LoopExit | None, bool]]:
    """For each statement of ``body``: how the loop is left once it has run, if it always is
    (a later ``break``/``return``/``raise`` with no ``continue`` on the way), and whether the
    statement may ``continue`` itself. ``after`` is what follows the block itself."""
    found: list[tuple[LoopExit | None, bool]] = [(None, False)] * len(body)
    for index in range(len(body) - 1, -1, -1):
        statement = body[index]
        kind = _exit_of(statement)
        may_continue = kind is None and _may_continue(statement)
        own: LoopExit | None = "return" if isinstance(statement, (ast.Return, ast.Raise)) else None
        found[index] = (own or after, may_continue)
        if kind is not None:
            after = kind
        elif may_continue:
            after = None
    return found


# ------------------------------------------------------------------ statement facts


@dataclass(slots=True)
class _Stmt:
    """What a SQL statement (builder chain, text or string) says about itself."""

    kind: DbOpKind = "raw"
    library: str = "sqlalchemy"
    tables: list[str] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)
    has_limit: bool = False
    batched: bool = False
    aggregate: list[str] = field(default_factory=list)
    group_by: bool = False
    window: bool = False
    joins: list[str] = field(default_factory=list)
    eager: list[str] = field(default_factory=list)
    reads: frozenset[str] = frozenset()
    sql: str = ""
    positional: list[str] = field(default_factory=list)  # $1.. / %s parameters, bound later
    is_subquery: bool = False
    unread: list[str] = field(default_factory=list)  # DbOp.unread_conditions

    def merge_from(self, other: _Stmt) -> None:
        self.tables.extend(t for t in other.tables if t not in self.tables)
        self.filters.extend(other.filters)
        self.order_by.extend(other.order_by)
        self.has_limit |= other.has_limit
        self.batched |= other.batched
        self.aggregate.extend(other.aggregate)
        self.group_by |= other.group_by
        self.window |= other.window
        self.joins.extend(other.joins)
        self.eager.extend(other.eager)
        self.reads |= other.reads


_AGG_FUNCS = frozenset({"count", "sum", "avg", "min", "max", "array_agg", "json_agg"})
_WINDOW_FUNCS = frozenset({"row_number", "rank", "dense_rank", "lag", "lead", "ntile"})
_COMPARE_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.Is: "is",
    ast.IsNot: "is not",
}


def _column_of(node: ast.AST) -> tuple[str, str] | None:
    """``Render.chain_id`` -> ("Render", "chain_id"); ``renders.c.chain_id`` too."""
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        if owner is None:
            return None
        if owner.endswith(".c"):
            owner = owner[:-2]
        return _last(owner), node.attr
    return None


def _conditions(node: ast.AST, out: list[Filter], stmt: _Stmt, unread: bool = False) -> None:
    """The filters of one WHERE argument. ``unread``: inside a condition already listed in
    ``stmt.unread`` (an OR / NOT group): its filters still describe the columns read (the index
    advisor's workload), marked ``part_of_unread``. A condition this cannot read (a helper's
    call, a name holding a clause, ``*clauses``) is listed as written."""

    def not_read() -> None:
        if not unread and not isinstance(node, ast.Constant):
            stmt.unread.append(_unparse(node))

    if isinstance(node, ast.BoolOp):
        grouped = unread or isinstance(node.op, ast.Or)
        if grouped and not unread:
            stmt.unread.append(_unparse(node))
        for value in node.values:
            _conditions(value, out, stmt, grouped)
        return
    if isinstance(node, ast.Call):
        name = _last(_callee_text(node.func))
        if name in {"and_", "or_", "not_"}:
            grouped = unread or name != "and_"
            if grouped and not unread:
                stmt.unread.append(_unparse(node))
            for arg in node.args:
                _conditions(arg, out, stmt, grouped)
            return
        if isinstance(node.func, ast.Attribute):
            column = _column_of(node.func.value)
            method = node.func.attr
            if column and method in {"in_", "any_", "contains"}:
                text = _unparse(node.args[0]) if node.args else ""
                single = (
                    node.args
                    and isinstance(node.args[0], (ast.List, ast.Tuple))
                    and len(node.args[0].elts) <= 1
                )
                if not single:
                    stmt.batched = True
                out.append(Filter(column[1], "in", text, column[0], unread))
                return
            if column and method in {"is_", "isnot", "is_not", "like", "ilike", "between"}:
                text = _unparse(node.args[0]) if node.args else ""
                whole = method == "between"  # the Filter keeps the low bound only
                if whole:
                    not_read()
                out.append(Filter(column[1], method.rstrip("_"), text, column[0], unread or whole))
                return
        not_read()
        return
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        column = _column_of(node.left)
        right = node.comparators[0]
        if column is None:
            not_read()  # ``func.lower(User.email) == email``
            return
        op = _COMPARE_OPS.get(type(node.ops[0]), "?")
        if isinstance(right, ast.Call) and _last(_callee_text(right.func)) in {"any_", "any"}:
            stmt.batched = True
            text = _unparse(right.args[0]) if right.args else ""
            out.append(Filter(column[1], "in", text, column[0], unread))
            return
        out.append(Filter(column[1], op, _unparse(right), column[0], unread))
        return
    if isinstance(node, ast.UnaryOp):
        if not unread:
            stmt.unread.append(_unparse(node))
        _conditions(node.operand, out, stmt, True)
        return
    not_read()


def _expression_features(node: ast.AST, stmt: _Stmt) -> None:
    """Aggregates, window functions and tables mentioned by selected columns."""
    for sub in _walk(node):
        if isinstance(sub, ast.Call):
            name = _callee_text(sub.func)
            last = _last(name)
            if name.startswith("func.") or name.startswith("sa.func.") or last in _AGG_FUNCS:
                if last in _AGG_FUNCS:
                    stmt.aggregate.append(last)
                if last in _WINDOW_FUNCS:
                    stmt.window = True
            if last == "over":
                stmt.window = True
        elif isinstance(sub, ast.Attribute) and sub.attr == "over":
            stmt.window = True


_FRAGMENT_HINT = re.compile(r"(^|\.)(func|over|label|filter|within_group)(\.|\(|$)|func\.")


def _column_expression(node: ast.AST) -> _Stmt | None:
    """``rank = func.row_number().over(...)``: a named column expression with SQL features.

    Kept as a fragment (``is_subquery``) so the statement that uses the name inherits its
    window function or aggregate.
    """
    if not isinstance(node, ast.Call) or not _FRAGMENT_HINT.search(_callee_text(node.func)):
        return None
    fragment = _Stmt(is_subquery=True)
    _expression_features(node, fragment)
    return fragment if fragment.window or fragment.aggregate else None


# Django's built-in lookups and transforms (and contrib.postgres'): only one of these ends a
# keyword as its lookup; any other last part is a field, reached across the relations before it
_DJANGO_LOOKUPS = frozenset(
    {
        *("exact", "iexact", "in", "gt", "gte", "lt", "lte", "isnull", "range"),
        *("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"),
        *("regex", "iregex", "date", "time", "year", "iso_year", "quarter", "month", "week"),
        *("week_day", "iso_week_day", "day", "hour", "minute", "second"),
        *("contained_by", "overlap", "has_key", "has_keys", "has_any_keys", "len", "search"),
        *("trigram_similar", "trigram_word_similar", "trigram_strict_word_similar"),
        *("unaccent", "keys", "values", "isempty", "lower", "upper", "lower_inc", "upper_inc"),
    }
)
_DJANGO_OPERATORS = {"in": "in", "exact": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _django_filters(call: ast.Call, stmt: _Stmt, negated: bool = False) -> None:
    """``negated``: an ``exclude()``, whose keywords are rows left out, listed whole."""
    if negated and (call.args or call.keywords):
        stmt.unread.append(
            f".exclude({', '.join(_unparse(a) for a in call.args)}"
            f"{', ' if call.args and call.keywords else ''}"
            f"{', '.join(_unparse(k) for k in call.keywords)})"
        )
    elif not negated:
        stmt.unread.extend(_unparse(a) for a in call.args)  # Q objects, expressions
        stmt.unread.extend(f"**{_unparse(k.value)}" for k in call.keywords if k.arg is None)
    for kw in call.keywords:
        if kw.arg is None:
            continue
        path, _, lookup = kw.arg.rpartition("__")
        if lookup not in _DJANGO_LOOKUPS:  # ``project__owner_id``: a field across a relation
            path, lookup = kw.arg, "exact"
        op = _DJANGO_OPERATORS.get(lookup, lookup)
        if op == "in":
            stmt.batched = True
        # the field path without a comparison lookup (``project__owner_id__in`` is
        # ``project__owner_id``); with any other lookup the keyword whole, as written
        column = path if lookup in _DJANGO_OPERATORS else kw.arg
        stmt.filters.append(Filter(column, op, _unparse(kw.value), "", negated))


# ---------------------------------------------------------------------- the walkers


@dataclass(slots=True)
class _ModuleContext:
    path: str
    lines: list[str]
    sql_constants: dict[str, str] = field(default_factory=dict)
    imported: dict[str, str] = field(default_factory=dict)  # local name -> module.name
    engines: list[EngineCreation] = field(default_factory=list)
    class_attribute_types: dict[str, dict[str, str]] = field(default_factory=dict)
    driver: str = "dbapi"  # the DB-API driver this module imports, for connection/cursor calls
    statements: dict[str, _Stmt] = field(default_factory=dict)  # module-level statement constants
    constant_sizes: dict[str, int] = field(default_factory=dict)  # ``CONFIGS = (...)``: 3
    aiosql: ModuleQueries | None = None  # queries objects aiosql loads from .sql files


class _ModuleWalker:
    def __init__(self, path: str, lines: list[str]) -> None:
        self.ctx = _ModuleContext(path, lines)
        self.functions: list[Function] = []
        self.classes: list[ClassInfo] = []
        self.models: list[ModelClass] = []
        self.imports: list[Import] = []
        self.global_types: dict[str, str] = {}

    def walk(self, tree: ast.Module) -> ModuleModel:
        module_level: list[ast.stmt] = []
        for node in tree.body:
            self._collect_imports(node)
        self.ctx.aiosql = ModuleQueries(tree, self.ctx.path, self.imports)
        modules = {i.module.split(".")[0] for i in self.imports}
        for driver in ("asyncpg", "psycopg", "psycopg2", "sqlite3", "aiosqlite", "pymysql"):
            if driver in modules:
                self.ctx.driver = driver
                break
        # statement constants first: functions above their definition still use them
        constants = _FunctionWalker(self.ctx, "<module>", "", {})
        for node in tree.body:
            if (
                isinstance(node, (ast.Assign, ast.AnnAssign))
                and isinstance(node.value, (ast.Tuple, ast.List, ast.Set, ast.Dict))
                and isinstance(
                    target := (node.targets[0] if isinstance(node, ast.Assign) else node.target),
                    ast.Name,
                )
            ):
                elements = node.value.keys if isinstance(node.value, ast.Dict) else node.value.elts
                if not any(isinstance(e, ast.Starred) or e is None for e in elements):
                    self.ctx.constant_sizes[target.id] = len(elements)
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Call):
                    statement = constants._statement(node.value) or _column_expression(node.value)
                    if statement is not None:
                        constants.statements[target.id] = statement
                        self.ctx.statements[target.id] = statement
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(node, prefix="", class_name="")
            elif isinstance(node, ast.ClassDef):
                self._class(node)
            else:
                self._module_statement(node)
                module_level.append(node)
        if module_level and any(
            not isinstance(n, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.Expr))
            or isinstance(getattr(n, "value", None), (ast.Call, ast.Await))
            for n in module_level
        ):
            walker = _FunctionWalker(self.ctx, "<module>", "", {})
            walker.block(module_level)
            if walker.ops or walker.loops or walker.calls:
                self.functions.append(
                    walker.build(
                        qualname="<module>",
                        name="<module>",
                        node=None,
                        class_name="",
                        decorators=(),
                        is_async=False,
                        params=(),
                        annotations=(),
                    )
                )
        return ModuleModel(
            path=self.ctx.path,
            lines=len(self.ctx.lines),
            imports=tuple(self.imports),
            functions=tuple(self.functions),
            classes=tuple(self.classes),
            models=tuple(self.models),
            engines=tuple(sorted(self.ctx.engines, key=lambda e: (e.span.line, e.span.col))),
            global_types=tuple(sorted(self.global_types.items())),
        )

    # ---- module-level facts

    def _collect_imports(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                module = alias.name if alias.asname else alias.name.split(".")[0]
                self.imports.append(Import(local, module))
                self.ctx.imported[local] = module
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    self.imports.append(Import("*", module, "*", node.level))
                    continue
                local = alias.asname or alias.name
                self.imports.append(Import(local, module, alias.name, node.level))
                self.ctx.imported[local] = f"{module}.{alias.name}"
        elif isinstance(node, (ast.If, ast.Try)):
            # ``if TYPE_CHECKING:`` / ``try: import x except ImportError`` blocks
            for child in _children(node):
                if isinstance(child, ast.stmt):
                    self._collect_imports(child)
            for handler in getattr(node, "handlers", ()):
                for child in handler.body:
                    self._collect_imports(child)

    def _module_statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for target in targets:
                if not isinstance(target, ast.Name) or value is None:
                    continue
                text = _string_value(value)
                if text is not None and looks_like_sql(text):
                    self.ctx.sql_constants[target.id] = text
                elif isinstance(value, ast.Call) and _is_class_name(value.func):
                    self.global_types[target.id] = _last(_dotted(value.func) or "")

    def _class(self, node: ast.ClassDef, prefix: str = "") -> None:
        name = f"{prefix}{node.name}"
        methods: list[str] = []
        attribute_types: dict[str, str] = {}
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods.append(item.name)
                if item.name in _INIT_METHODS:
                    # typed before the methods are walked, so ``self.session`` has a role
                    _self_attribute_types(item, attribute_types)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                attribute_types.setdefault(item.target.id, _annotation_name(item.annotation))
        self.ctx.class_attribute_types[name] = attribute_types
        model = _model_class(node)
        if model is not None:
            self.models.append(model)
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(item, prefix=f"{name}.", class_name=name)
            elif isinstance(item, ast.ClassDef):
                self._class(item, prefix=f"{name}.")
        # other methods' ``self.x = Cls(...)`` were added while walking them
        self.classes.append(
            ClassInfo(
                name=name,
                # ``RepositoryBase[Customer]``: a generic base is the class it subscripts
                bases=tuple(
                    _callee_text(b.value if isinstance(b, ast.Subscript) else b) for b in node.bases
                ),
                span=Span(node.lineno, node.end_lineno or node.lineno, node.col_offset),
                methods=tuple(methods),
                attribute_types=tuple(sorted(attribute_types.items())),
            )
        )

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str, class_name: str
    ) -> None:
        qualname = f"{prefix}{node.name}"
        args = node.args
        all_args = (*args.posonlyargs, *args.args, *args.kwonlyargs)
        params = tuple(a.arg for a in all_args)
        if args.vararg:
            params += (args.vararg.arg,)
        if args.kwarg:
            params += (args.kwarg.arg,)
        annotations = tuple(
            (a.arg, _annotation_text(a.annotation)) for a in all_args if a.annotation is not None
        )
        decorators = tuple(
            _callee_text(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list
        )
        types: dict[str, str] = {}
        for param, annotation in annotations:
            inner = re.findall(r"[A-Za-z_][\w.]*", annotation)
            for candidate in inner:
                role = P.ANNOTATION_ROLES.get(_last(candidate))
                if role:
                    types[param] = role
                    break
            else:
                last = _last(inner[0]) if inner else ""
                if last[:1].isupper():
                    types[param] = last
        walker = _FunctionWalker(self.ctx, qualname, class_name, types)
        walker.block(node.body)
        self.functions.append(
            walker.build(
                qualname=qualname,
                name=node.name,
                node=node,
                class_name=class_name,
                decorators=decorators,
                is_async=isinstance(node, ast.AsyncFunctionDef),
                params=params,
                annotations=annotations,
            )
        )
        for nested in walker.nested:
            self._function(nested, prefix=f"{qualname}.<locals>.", class_name="")


class _FunctionWalker(FunctionEvents):
    """Walks one function body once, in evaluation order."""

    def __init__(
        self, ctx: _ModuleContext, qualname: str, class_name: str, types: dict[str, str]
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.qualname = qualname
        self.class_name = class_name
        self.types = types  # local name -> role ("session", ...) or class name
        self.loop_stack: list[int] = []
        self.loop_targets: dict[str, int] = {}
        self.branch: list[tuple[int, int]] = []
        self.control: list[frozenset[str]] = []
        self.guards: set[str] = set()
        self.statements: dict[str, _Stmt] = {}
        self.nested: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.branch_ids = 0
        # per statement: names it binds, so calls inside know their result's targets
        self.targets: tuple[str, ...] = ()
        self.gather_depth = 0
        self.result_methods: dict[int, list[str]] = {}
        self.exited_branch: int | None = None  # set by an ``if`` whose body returns/raises
        self.exiting_arms: list[tuple[int, int]] = []
        self.breaking_arms: list[tuple[int, int]] = []
        self.conditions: list[tuple[int, int, str]] = []  # (branch, arm, test) in a loop
        self.queryset_filters: dict[str, list[Filter]] = {}
        self._control_cache: dict[
            tuple[frozenset[str], tuple[frozenset[str], ...]], frozenset[str]
        ] = {}
        # expressions whose lazy queryset is evaluated right there (iterated, list(), len())
        self.evaluated: set[int] = set()
        # querysets handed to ``Exists(...)``/``Subquery(...)``: part of the outer query's SQL
        self.subquery_args: set[int] = set()
        # local names bound to a literal collection: ``classes = [A, B, C]`` has 3 items
        self.literal_sizes: dict[str, int] = {}
        # Django queryset names whose rows this function fetched (``len(qs)``, ``for x in qs``)
        self.fetched_querysets: set[str] = set()
        # names computed from a loop variable inside the loop (``table = tables[name]``)
        self.loop_derived: set[str] = set()
        # the innermost loop each of those names comes from
        self.derived_from: dict[str, int] = {}
        # ``name = version["verbose_name"]``: the item's key a loop-derived name holds
        self.derived_keys: dict[str, str] = {}
        # how the innermost loop is left once the current statement has run (``...; break``),
        # and whether a statement around this one is recorded as running once already
        self.exit_after: LoopExit | None = None
        self.exit_covered = False
        self.declared_global: set[str] = set()  # ``global engine`` / ``nonlocal engine``

    # ---- output

    def build(
        self,
        *,
        qualname: str,
        name: str,
        node: ast.FunctionDef | ast.AsyncFunctionDef | None,
        class_name: str,
        decorators: tuple[str, ...],
        is_async: bool,
        params: tuple[str, ...],
        annotations: tuple[tuple[str, str], ...],
    ) -> Function:
        if node is not None:
            span = Span(node.lineno, node.end_lineno or node.lineno, node.col_offset)
        else:
            span = Span(1, len(self.ctx.lines) or 1, 0)
        decorator_names = set(decorators)
        return self.to_function(
            qualname=qualname,
            name=name,
            span=span,
            lines=self.ctx.lines,
            class_name=class_name,
            decorators=decorators,
            is_async=is_async,
            params=params,
            annotations=annotations,
            is_staticmethod="staticmethod" in decorator_names,
            is_classmethod="classmethod" in decorator_names,
            exiting_arms=tuple(self.exiting_arms),
            breaking_arms=tuple(self.breaking_arms),
            conditions=tuple(self.conditions),
        )

    # ---- shared event context

    def _control(self) -> frozenset[str]:
        # one shared frozenset per distinct state, so events share it (small pickles)
        key = (frozenset(self.guards), tuple(self.control))
        cached = self._control_cache.get(key)
        if cached is None:
            result: set[str] = set(self.guards)
            for reads in self.control:
                result |= reads
            cached = self._control_cache[key] = frozenset(result)
        return cached

    def _span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        return Span(line, getattr(node, "end_lineno", None) or line, getattr(node, "col_offset", 0))

    def _text(self, node: ast.AST, limit: int = _MAX_TEXT) -> str:
        line = getattr(node, "lineno", 0)
        end = getattr(node, "end_lineno", line) or line
        if 0 < line <= len(self.ctx.lines) and end == line:
            col = getattr(node, "col_offset", 0)
            end_col = getattr(node, "end_col_offset", None)
            text = self.ctx.lines[line - 1][col:end_col]
            if len(text) <= limit and "  " not in text:
                return text
            return _short(text, limit)
        if 0 < line <= len(self.ctx.lines):
            chunk = self.ctx.lines[line - 1 : min(end, line + 3)]
            if chunk:
                chunk = [chunk[0][getattr(node, "col_offset", 0) :], *chunk[1:]]
            return _short(" ".join(chunk))
        return ""

    # ---- statements

    def block(self, body: Sequence[ast.stmt]) -> None:
        pushed = 0
        inherited, covered = self.exit_after, self.exit_covered
        exits = exits_after_each(body, inherited) if self.loop_stack else None
        for index, statement in enumerate(body):
            if exits is None:
                self.statement(statement)
            else:
                kind, may_continue = exits[index]
                # a statement with a ``continue`` inside is recorded piece by piece, by the
                # blocks inside it that do not reach the ``continue``
                record = kind is not None and not may_continue and not covered
                self.exit_after, self.exit_covered = kind, covered or record
                first = self.seq + 1
                self.statement(statement)
                self.exit_covered = covered
                if record:
                    self._once(first, kind)
            if self.exited_branch is not None:
                # ``if x: ...; return``: what follows in this block is the implicit else arm
                self.branch.append((self.exited_branch, 1))
                self.exited_branch = None
                pushed += 1
        for _ in range(pushed):
            self.branch.pop()
        self.exit_after = inherited

    def _once(self, first: int, kind: LoopExit | None) -> None:
        """Events ``first``..now run at most once per run of the loops ``kind`` leaves."""
        if kind is None or first > self.seq or not self.loop_stack:
            return
        loops = self.loop_stack[-1:] if kind == "break" else self.loop_stack
        self.once_in_loop.extend((first, self.seq, loop_id) for loop_id in loops)

    def _one_item_arm(self, test: ast.expr) -> int | None:
        """The loop whose items ``test`` picks one of (``version.slug == slug``), if any: the
        arm it guards runs at most once per run of that loop."""
        if not self.loop_stack:
            return None
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            for value in test.values:
                found = self._one_item_arm(value)
                if found is not None:
                    return found
            return None
        if not (
            isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
        ):
            return None
        left, right = test.left, test.comparators[0]
        for key, other in ((left, right), (right, left)):
            loop_id = self._item_key_loop(key)
            if loop_id == self.loop_stack[-1] and self._loop_invariant(other):
                return loop_id
        return None

    def _item_key_loop(self, node: ast.expr) -> int | None:
        """``item.slug`` / ``item["name"]`` / ``name = item.name``: the loop of that item."""
        root: ast.expr
        if isinstance(node, ast.Name):
            key, root = self.derived_keys.get(node.id, node.id), node
        else:
            found = _item_key(node)
            if found is None:
                return None
            key, root = found
        if not UNIQUE_KEY.search(key):
            return None
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if not isinstance(root, ast.Name):
            return None
        if root.id in self.loop_targets:
            return self.loop_targets[root.id]
        return self.derived_from.get(root.id)

    def _loop_invariant(self, node: ast.expr) -> bool:
        """A constant, or a name, attribute or item of names no loop variable reaches."""
        if isinstance(node, ast.Constant):
            return node.value is not None
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant):
                return False
            node = node.value
        return (
            isinstance(node, ast.Name)
            and node.id not in self.loop_targets
            and node.id not in self.loop_derived
        )

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.nested.append(node)
            return
        if isinstance(node, ast.ClassDef):
            return
        self.targets = ()
        if isinstance(node, ast.Assign):
            targets = tuple(n for t in node.targets for n in _target_names(t))
            self._assign(targets, node.value, node)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self._assign(_target_names(node.target), node.value, node)
            if isinstance(node.target, ast.Name):
                role = P.ANNOTATION_ROLES.get(_annotation_name(node.annotation))
                if role:
                    self.types[node.target.id] = role
        elif isinstance(node, ast.AugAssign):
            targets = _target_names(node.target)
            for target in targets:
                self.literal_sizes.pop(target, None)
            self.targets = targets
            reads = self.expr(node.value) | frozenset(t for t in targets if "." not in t)
            self.assigns.append(
                Assign(
                    targets,
                    reads,
                    self._span(node),
                    self._next(),
                    tuple(self.loop_stack),
                    self._text(node.value),
                    "augassign",
                )
            )
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self._for(node)
        elif isinstance(node, ast.While):
            test_reads = self.expr(node.test)
            loop_id = self._open_loop("while", node, node.test, (), frozenset())
            self.control.append(test_reads)
            self._loop_body(node.body)
            self.control.pop()
            self._close_loop(loop_id)
            self.block(node.orelse)
        elif isinstance(node, ast.If):
            # ``if not await exists(...): return``: what the test queries is not bound to a
            # name, yet everything the test guards depends on it
            guard = f"<guard:{node.lineno}>"
            self.targets = (guard,)
            test_reads = self.expr(node.test) | {guard}
            self.targets = ()
            one_item = self._one_item_arm(node.test)
            branch_id = self._branches(test_reads, [node.body, node.orelse], one_item)
            if self.loop_stack:
                test = ast.unparse(node.test)
                if len(test) <= _MAX_CONDITION:
                    self.conditions.append((branch_id, 0, test))
                    self.conditions.append((branch_id, 1, _negated(node.test)))
            if _is_early_exit(node.body) and not node.orelse:
                self.guards |= test_reads
                self.exited_branch = branch_id
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                context_reads = self.expr(item.context_expr)
                if item.optional_vars is not None:
                    names = _target_names(item.optional_vars)
                    role = self._constructed_role(item.context_expr)
                    for name in names:
                        if role:
                            self.types[name] = role
                    self.assigns.append(
                        Assign(
                            names,
                            context_reads,
                            self._span(item.context_expr),
                            self._next(),
                            tuple(self.loop_stack),
                            self._text(item.context_expr),
                            "with-target",
                        )
                    )
            self.block(node.body)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            after_try = self.exit_after
            self.exit_after = _exit_through(node.orelse, after_try)  # the else runs next
            self.block(node.body)
            self.exit_after = after_try
            arms = [h.body for h in node.handlers]
            if arms:
                self._branches(_EMPTY, arms)
            self.block(node.orelse)
            self.block(node.finalbody)
        elif isinstance(node, ast.Match):
            subject_reads = self.expr(node.subject)
            self._branches(subject_reads, [case.body for case in node.cases])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            self.declared_global.update(node.names)
        elif isinstance(node, ast.Return):
            if node.value is not None:
                self.targets = (RETURN,)
                self.returns |= self.expr(node.value)
        else:
            for child in _children(node):
                if isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.stmt):
                    self.statement(child)

    def _branches(
        self, reads: frozenset[str], arms: list[list[ast.stmt]], one_item: int | None = None
    ) -> int:
        """``one_item``: the loop whose one item the first arm is taken for, if any."""
        self.branch_ids += 1
        branch_id = self.branch_ids
        guards_before = set(self.guards)
        for index, arm in enumerate(arms):
            if not arm:
                continue
            if isinstance(arm[-1], (ast.Return, ast.Raise)):
                self.exiting_arms.append((branch_id, index))
            elif isinstance(arm[-1], ast.Break):
                self.breaking_arms.append((branch_id, index))
            self.branch.append((branch_id, index))
            self.control.append(reads)
            first = self.seq + 1
            self.block(arm)
            if index == 0 and one_item is not None and first <= self.seq:
                self.once_in_loop.append((first, self.seq, one_item))
            self.control.pop()
            self.branch.pop()
        # a guard inside one arm only guards that arm
        self.guards = guards_before
        self.exited_branch = None
        return branch_id

    def _assign(self, targets: tuple[str, ...], value: ast.AST, node: ast.AST) -> None:
        self.targets = targets
        types_before = {t: self.types.get(t) for t in targets}
        reads = self.expr(value)
        self.fetched_querysets.difference_update(targets)  # a new queryset: nothing fetched
        for target in targets:
            self.literal_sizes.pop(target, None)
        if (
            len(targets) == 1
            and isinstance(value, (ast.Tuple, ast.List, ast.Set))
            and not any(isinstance(e, ast.Starred) for e in value.elts)
        ):
            self.literal_sizes[targets[0]] = len(value.elts)
        if self.loop_stack and reads & (self.loop_targets.keys() | self.loop_derived):
            self.loop_derived.update(t for t in targets if "." not in t)
            sources = [self.loop_targets[r] for r in reads if r in self.loop_targets]
            sources += [self.derived_from[r] for r in reads if r in self.derived_from]
            for target in targets:
                if "." not in target and sources:
                    self.derived_from[target] = max(sources)  # the innermost loop it reads
        for target in targets:
            self.derived_keys.pop(target, None)
        item_key = _item_key(value) if len(targets) == 1 and self.loop_stack else None
        if item_key is not None:
            self.derived_keys[targets[0]] = item_key[0]
        kind = "assign"
        inner = value.value if isinstance(value, ast.Await) else value
        if isinstance(inner, ast.Call):
            callee = _callee_text(inner.func)
            if callee in {"len", "sum"}:
                kind = callee
            role = self._constructed_role(inner)
            statement = self._statement(inner) or _column_expression(inner)
            if self.class_name and _is_class_name(inner.func):
                known = self.ctx.class_attribute_types.setdefault(self.class_name, {})
                for target in targets:
                    if target.startswith("self.") and target.count(".") == 1:
                        known.setdefault(target[5:], _last(_dotted(inner.func) or ""))
            for target in targets:
                if statement is not None and "." not in target:
                    self.statements[target] = statement
                elif role:
                    self.types[target] = role
                elif _is_class_name(inner.func):
                    self.types[target] = _last(_dotted(inner.func) or "")
                elif (
                    target in self.types
                    and target not in self.statements
                    and self.types[target] == types_before.get(target)
                ):
                    root, _ = _unchain(inner)
                    if not (isinstance(root, ast.Name) and root.id == target):
                        self.types.pop(target, None)  # rebound to something else
        self.assigns.append(
            Assign(
                targets,
                reads,
                self._span(node),
                self._next(),
                tuple(self.loop_stack),
                self._text(value, 60),
                kind,
            )
        )

    def _counted_from_cache(self, node: ast.Call) -> str | None:
        """``qs.count()`` / ``qs.exists()`` on a queryset whose rows were fetched: the name."""
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in _ANSWERED_BY_CACHE
            and isinstance(func.value, ast.Name)
            and func.value.id in self.fetched_querysets
        ):
            return func.value.id
        return None

    def _fetches(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name) and self.types.get(node.id, "").startswith("queryset:"):
            self.fetched_querysets.add(node.id)

    def _for(self, node: ast.For | ast.AsyncFor) -> None:
        self.evaluated.add(id(node.iter))
        iter_reads = self.expr(node.iter)
        self._fetches(node.iter)
        targets = _target_names(node.target)
        kind: LoopKind = "async for" if isinstance(node, ast.AsyncFor) else "for"
        loop_id = self._open_loop(
            kind, node, node.iter, targets, iter_reads, self._text(node.target)
        )
        self.assigns.append(
            Assign(
                targets,
                iter_reads,
                self._span(node.target),
                self._next(),
                tuple(self.loop_stack),
                self._text(node.iter),
                "for-target",
            )
        )
        self._loop_body(node.body)
        self._close_loop(loop_id)
        self.block(node.orelse)

    def _literal_size(self, iterable: ast.AST) -> int | None:
        """How many items a loop over ``iterable`` has when the code says so: a literal, a
        ``range`` of constants, a local or module-level name bound to a literal, also
        through ``reversed``/``enumerate``/``sorted``/``list`` (``reversed(range(1, 5))``)."""
        while (
            isinstance(iterable, ast.Call)
            and isinstance(iterable.func, ast.Name)
            and iterable.func.id in _ORDER_ONLY
            and len(iterable.args) == 1
        ):
            iterable = iterable.args[0]
        if isinstance(iterable, ast.Call):
            if (
                _callee_text(iterable.func) == "range"
                and 1 <= len(iterable.args) <= 3
                and all(
                    isinstance(a, ast.Constant) and isinstance(a.value, int) for a in iterable.args
                )
            ):
                bounds = [
                    a.value
                    for a in iterable.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, int)
                ]
                return len(range(*bounds)) if bounds[-1:] != [0] or len(bounds) < 3 else None
        elif isinstance(iterable, (ast.Tuple, ast.List, ast.Set)) and not any(
            isinstance(e, ast.Starred) for e in iterable.elts
        ):
            return len(iterable.elts)
        elif isinstance(iterable, ast.Constant) and isinstance(iterable.value, str | bytes):
            return len(iterable.value)
        # a module-level literal: ``for name, key in CONFIGS`` / ``CONFIGS.items()``
        base = iterable
        if (
            isinstance(base, ast.Call)
            and isinstance(base.func, ast.Attribute)
            and base.func.attr in {"items", "keys", "values"}
        ):
            base = base.func.value
        if isinstance(base, ast.Name):
            if base.id in self.literal_sizes:
                return self.literal_sizes[base.id]
            if base.id not in self.types:
                return self.ctx.constant_sizes.get(base.id)
        return None

    def _loop_body(self, body: Sequence[ast.stmt]) -> None:
        outer = self.exit_after, self.exit_covered
        # a ``break`` after the loop leaves the outer loop, not this one
        self.exit_after, self.exit_covered = None, False
        self.block(body)
        self.exit_after, self.exit_covered = outer

    def _open_loop(
        self,
        kind: LoopKind,
        node: ast.AST,
        iterable: ast.AST,
        targets: tuple[str, ...],
        reads: frozenset[str],
        pattern: str = "",
    ) -> int:
        loop_id = len(self.loops)
        chunked = False
        if isinstance(iterable, ast.Call):
            callee = _callee_text(iterable.func)
            chunked = P.CHUNK_FUNCTIONS.search(callee) is not None
            if callee == "range" and len(iterable.args) == 3:
                chunked = True  # for start in range(0, len(ids), 500): offsets of batches
        constant_size = self._literal_size(iterable)
        if not chunked and any(re.search(r"chunk|batch", t, re.I) for t in targets):
            chunked = True
        self.loops.append(
            Loop(
                id=loop_id,
                kind=kind,
                iterable=self._iterable_text(iterable),
                span=self._span(node),
                parent=self.loop_stack[-1] if self.loop_stack else None,
                targets=targets,
                reads=reads,
                chunked=chunked,
                constant_size=constant_size,
                is_async=kind == "async for",
                branch_depth=len(self.branch),
                pattern=pattern,
            )
        )
        self.loop_stack.append(loop_id)
        for target in targets:
            self.loop_targets[target] = loop_id
        return loop_id

    def _iterable_text(self, iterable: ast.AST) -> str:
        """What a loop iterates, on one line: as written when it is on one line, else
        unparsed (the lines it spans end in the header's ``):`` and may hold comments);
        fixes write it back into code, so a multi-line text is no excerpt of lines."""
        if isinstance(iterable, ast.Constant):
            return ""
        line = getattr(iterable, "lineno", 0)
        if line and (getattr(iterable, "end_lineno", None) or line) == line:
            return self._text(iterable)
        return _unparse(iterable)

    def _close_loop(self, loop_id: int) -> None:
        self.loop_stack.pop()
        for target in self.loops[loop_id].targets:
            if self.loop_targets.get(target) == loop_id:
                del self.loop_targets[target]

    # ---- expressions

    def expr(self, node: ast.AST, awaited: bool = False) -> frozenset[str]:
        """Walk an expression once; returns the local names it reads (for data dependencies)."""
        # the most frequent nodes first: about a million of them on a large tree
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.loads[node.id] += 1
                if node.id not in _IGNORED_READS:
                    return frozenset((node.id,))
            return _EMPTY
        if isinstance(node, ast.Constant):
            return _EMPTY
        if isinstance(node, ast.Attribute):
            return self._attribute(node, "")
        if isinstance(node, ast.Call):
            return self._call(node, awaited)
        if isinstance(node, ast.Await):
            self.awaits.append(
                Await(self._span(node), self._next(), tuple(self.loop_stack), self._text(node))
            )
            return self.expr(node.value, awaited=True)
        if isinstance(node, _COMPREHENSIONS):
            return self._comprehension(node)
        if isinstance(node, ast.Lambda):
            return self.expr(node.body)
        if isinstance(node, ast.NamedExpr):
            # ``if payload_id := delivery.payload_id:`` binds a name per item as ``=`` does
            outer = self.targets
            before = len(self.assigns)
            self._assign((node.target.id,), node.value, node)
            self.targets = outer
            return self.assigns[before].reads if len(self.assigns) > before else _EMPTY
        names: frozenset[str] = _EMPTY
        for child in _children(node):
            found = self.expr(child)
            if found:
                names = names | found
        return names

    def _attribute(self, node: ast.Attribute, call: str) -> frozenset[str]:
        base: ast.expr = node
        while isinstance(base, ast.Attribute) and isinstance(base.value, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
            owner = base.value.id
            if owner in self.loop_targets:
                if base is node:
                    called = "()" if call else ""  # ``p.save()``: a method of the variable
                elif base is node.value:
                    called = call  # ``p.renders.all()``
                else:
                    called = ""
                self.attrs.append(
                    AttrAccess(
                        owner,
                        base.attr,
                        self._span(node),
                        self._next(),
                        tuple(self.loop_stack),
                        called,
                        self._text(node),
                        tuple(self.branch),
                    )
                )
        return self.expr(node.value)

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> frozenset[str]:
        opened: list[int] = []
        names: set[str] = set()
        bound: set[str] = set()
        outer_targets = self.targets
        for index, generator in enumerate(node.generators):
            self.evaluated.add(id(generator.iter))
            iter_names = self.expr(generator.iter)
            # only the first iterable is evaluated once; what runs per item binds no name
            self.targets = ()
            names |= iter_names
            targets = _target_names(generator.target)
            bound.update(targets)
            loop_id = self._open_loop(
                "comprehension",
                node if index == 0 else generator.iter,
                generator.iter,
                targets,
                iter_names,
                self._text(generator.target),
            )
            self.assigns.append(
                Assign(
                    targets,
                    iter_names,
                    self._span(generator.target),
                    self._next(),
                    tuple(self.loop_stack),
                    self._text(generator.iter),
                    "for-target",
                )
            )
            opened.append(loop_id)
            for condition in generator.ifs:
                names |= self.expr(condition)
        if isinstance(node, ast.DictComp):
            names |= self.expr(node.key)
            names |= self.expr(node.value)
        else:
            names |= self.expr(node.elt)
        for loop_id in reversed(opened):
            self._close_loop(loop_id)
        self.targets = outer_targets
        return frozenset(names - bound) if bound else frozenset(names)

    def _call(self, node: ast.Call, awaited: bool) -> frozenset[str]:
        callee = _callee_text(node.func)
        last = _last(callee)
        if last in _GROWS and isinstance(node.func, ast.Attribute):
            grown = node.func.value
            if isinstance(grown, ast.Name):
                self.literal_sizes.pop(grown.id, None)  # no longer the literal's size
        span = self._span(node)
        if last in P.ENGINE_APIS and self._library_call(callee):
            self._engine(node, callee, last)
        if last in P.CONCURRENT_APIS and (
            callee.startswith("asyncio.") or last in {"gather", "create_task", "start_soon"}
        ):
            self.gathers.append(
                Gather(callee, span, self._next(), len(node.args), tuple(self.loop_stack))
            )
            self.gather_depth += 1
            gathered: set[str] = set()
            for child in (*node.args, *(k.value for k in node.keywords)):
                gathered |= self.expr(child.value if isinstance(child, ast.Starred) else child)
            self.gather_depth -= 1
            return frozenset(gathered)
        if callee in _EVALUATORS and node.args:
            self.evaluated.add(id(node.args[0]))
            self._fetches(node.args[0])
        if last in _SUBQUERY_WRAPPERS:
            self.subquery_args.update(id(arg) for arg in node.args)
        root, links = _unchain(node)
        if isinstance(root, ast.Await) and isinstance(root.value, ast.Call):
            # ``(await session.scalars(q)).one_or_none()``: how the result is consumed
            self.result_methods[id(root.value)] = [name for name, _ in links]
        counted = self._counted_from_cache(node)
        if counted is not None:
            # ``len(qs)`` fetched the rows: ``qs.count()`` is ``len(qs)`` on Django's cache
            self.loads[counted] += 1
            self.calls.append(
                Call(
                    callee="len",
                    span=span,
                    seq=self._next(),
                    args=(counted,),
                    loops=tuple(self.loop_stack),
                    reads=frozenset((counted,)),
                    targets=self.targets,
                    control_reads=self._control(),
                    branch=tuple(self.branch),
                )
            )
            return frozenset((counted,))
        op = self._recognize(node, awaited)
        if op is not None:
            self.ops.append(op)
            return op.reads
        if isinstance(node.func, ast.Attribute):
            names = set(self._attribute(node.func, last))
        else:
            names = set(self.expr(node.func))
        for arg in node.args:
            names |= self.expr(arg)
        for keyword in node.keywords:
            names |= self.expr(keyword.value)
        reads = frozenset(names)
        if not isinstance(node.func, (ast.Name, ast.Attribute)):
            return reads
        if _never_a_query(node.func, callee, last):
            return reads
        deferred = last in P.DEFERRED_METHODS and isinstance(node.func, ast.Attribute)
        receiver_type = ""
        if isinstance(node.func, ast.Attribute):
            receiver = _dotted(node.func.value)
            if receiver is not None:
                receiver_type = self.types.get(receiver, "")
                if receiver_type in {"session", "connection", "cursor", "pool", "engine"}:
                    receiver_type = ""
        self.calls.append(
            Call(
                callee=callee,
                span=span,
                seq=self._next(),
                args=(
                    *(self._text(a, 80) for a in node.args[:6]),
                    *(f"{k.arg}={self._text(k.value, 60)}" for k in node.keywords[:4] if k.arg),
                ),
                awaited=awaited,
                loops=tuple(self.loop_stack),
                reads=reads,
                targets=self.targets,
                control_reads=self._control(),
                branch=tuple(self.branch),
                in_gather=self.gather_depth > 0,
                deferred=deferred,
                receiver_type=receiver_type,
            )
        )
        return reads

    def _library_call(self, callee: str) -> bool:
        """``create_engine`` from SQLAlchemy (or asyncpg/psycopg), not a project's own wrapper."""
        first = callee.split(".")[0]
        origin = self.ctx.imported.get(first, first if "." in callee else "")
        return origin.split(".")[0] in P.ENGINE_MODULES

    def _engine(self, node: ast.Call, callee: str, last: str) -> None:
        self.ctx.engines.append(
            EngineCreation(
                api=callee,
                library=P.ENGINE_APIS[last],
                span=self._span(node),
                function=self.qualname if self.qualname != "<module>" else "",
                keywords=tuple(k.arg for k in node.keywords if k.arg),
                has_kwargs_splat=any(k.arg is None for k in node.keywords),
                url=_unparse(node.args[0]) if node.args else "",
                settings=tuple((k.arg, _unparse(k.value)) for k in node.keywords if k.arg),
                text=self._text(node),
                targets=(
                    (*self.targets, "<global>")
                    if self.declared_global & set(self.targets)
                    else self.targets
                ),
            )
        )

    # ---- database call recognition (data-driven through patterns.py)

    def _role(self, receiver: ast.AST) -> str | None:
        dotted = _dotted(receiver)
        if dotted is None:
            if isinstance(receiver, ast.Call):
                return self._constructed_role(receiver)
            return None
        known = self.types.get(dotted)
        if known in {"session", "connection", "cursor", "pool", "engine"}:
            return known
        if known:
            return None  # a local of a known non-database class
        if dotted.startswith("self.") and dotted.count(".") == 1:
            attr_type = self.ctx.class_attribute_types.get(self.class_name, {}).get(dotted[5:])
            if attr_type:
                role = P.ANNOTATION_ROLES.get(attr_type)
                if role:
                    return role
        last = _last(dotted).strip("_")
        for pattern, role in P.RECEIVER_NAME_ROLES:
            if pattern.match(last):
                return role
        return None

    def _constructed_role(self, node: ast.AST) -> str | None:
        if not isinstance(node, ast.Call):
            return None
        callee = _callee_text(node.func)
        role = P.CONSTRUCTOR_ROLES.get(_last(callee))
        if role:
            return role
        if re.search(r"session", _last(callee), re.I) and callee[-2:] != "()":
            return "session"
        if callee.endswith("()") and re.search(r"session", callee, re.I):
            return "session"  # sessionmaker(...)() / async_sessionmaker()()
        return None

    def _per_item(self, name: str) -> bool:
        return name in self.loop_targets or name in self.loop_derived

    def _statement(self, node: ast.AST) -> _Stmt | None:
        """Facts of a SQL statement expression, or None when it is not one."""
        if isinstance(node, ast.Name):
            if node.id in self.statements:
                return self.statements[node.id]
            if node.id in self.ctx.statements:
                return self.ctx.statements[node.id]
            sql = self.ctx.sql_constants.get(node.id)
            return self._sql_statement(sql, "dbapi") if sql is not None else None
        text = _string_value(node)
        if text is not None:
            return self._sql_statement(text, "dbapi") if looks_like_sql(text) else None
        if not isinstance(node, ast.Call):
            return None
        root, links = _unchain(node)
        start = 0
        kind: DbOpKind | None = None
        base_args: list[ast.AST] = []
        statement = _Stmt()
        if isinstance(root, ast.Call) and isinstance(root.func, ast.Name):
            kind = P.SA_STATEMENTS.get(root.func.id)
            if kind is None or root.func.id in self.types:
                return None
            if root.func.id == "select" and self.ctx.imported.get("select") == "select":
                return None
            base_args = list(root.args)
            if kind == "raw":
                text = _string_value(root.args[0]) if root.args else None
                statement = self._sql_statement(text or "", "sqlalchemy")
                statement.reads |= _names(root)
        elif isinstance(root, ast.Name) and root.id in self.statements and links:
            statement = _Stmt(**{f: getattr(self.statements[root.id], f) for f in _Stmt.__slots__})
            statement.tables = list(statement.tables)
            statement.filters = list(statement.filters)
            kind = statement.kind
        elif links and links[0][0] in P.SA_STATEMENTS:
            owner = _dotted(root) or ""
            module = self.ctx.imported.get(owner, "")
            if module.startswith(("sqlalchemy", "sqlmodel")) or _last(owner) in {
                "sa",
                "sqlalchemy",
                "db",  # Flask-SQLAlchemy's ``db.select(User)``
            }:
                kind = P.SA_STATEMENTS[links[0][0]]
                base_args = list(links[0][1].args)
                start = 1
            elif owner.endswith("__table__") or _last(owner).endswith("table"):
                kind = P.SA_STATEMENTS[links[0][0]]
                name = _last(owner.removesuffix(".__table__"))
                dynamic = self._per_item(owner.split(".")[0])
                statement.tables.append(DYNAMIC_TABLE if dynamic else name)
                start = 1
            else:
                return None
            if kind == "raw":
                text = _string_value(base_args[0]) if base_args else None
                statement = self._sql_statement(text or "", "sqlalchemy")
        else:
            return None
        statement.kind = kind
        statement.library = "sqlalchemy"
        for arg in base_args:
            if isinstance(arg, ast.Starred):
                continue
            if isinstance(arg, ast.Name) and self._per_item(arg.id) and kind != "raw":
                statement.tables.append(DYNAMIC_TABLE)  # ``for table in ...: delete(table)``
                continue
            for sub in _walk(arg):
                if isinstance(sub, ast.Name) and sub.id[:1].isupper():
                    if sub.id not in statement.tables and sub.id not in {"True", "False"}:
                        statement.tables.append(sub.id)
                    break
            _expression_features(arg, statement)
        self._links(links[start:], statement)
        names = _names(node)
        for name in names:
            fragment = self.statements.get(name) or self.ctx.statements.get(name)
            if fragment is not None and fragment.is_subquery and fragment is not statement:
                if fragment.kind in {"insert", "update", "delete"} and statement.kind == "select":
                    # ``select(func.count()).select_from(updated)`` over ``updated =
                    # update(X)...returning(...).cte()``: a data-modifying CTE makes the
                    # statement that reads it that write (one round trip that writes X)
                    statement.kind = fragment.kind
                    statement.tables[:0] = [t for t in fragment.tables if t not in statement.tables]
                statement.merge_from(fragment)
        statement.reads = statement.reads | names
        return statement

    def _links(self, links: list[tuple[str, ast.Call]], statement: _Stmt) -> None:
        for name, call in links:
            if name in {"where", "filter", "having"}:
                for arg in call.args:
                    _conditions(arg, statement.filters, statement)
                    _expression_features(arg, statement)
            elif name == "filter_by":
                for kw in call.keywords:
                    if kw.arg:
                        statement.filters.append(Filter(kw.arg, "==", _unparse(kw.value)))
                    else:
                        statement.unread.append(f"**{_unparse(kw.value)}")
            elif name in {"join", "outerjoin", "join_from", "select_from"}:
                for arg in call.args[:1]:
                    statement.joins.append(_unparse(arg))
            elif name == "options":
                for arg in call.args:
                    for sub in _walk(arg):
                        if isinstance(sub, ast.Call) and _last(_callee_text(sub.func)) in (
                            P.SA_EAGER
                        ):
                            for target in sub.args:
                                statement.eager.append(
                                    target.attr
                                    if isinstance(target, ast.Attribute)
                                    else _unparse(target).strip("'\"")
                                )
            elif name in {
                "limit",
                "fetch",
                "first",
                "one",
                "one_or_none",
                "scalar_one",
                "scalar_one_or_none",
                "get",
                "first_or_404",
                "one_or_404",
                "get_or_404",
                "paginate",
            }:
                statement.has_limit = True
            elif name == "order_by":
                statement.order_by.extend(_unparse(a) for a in call.args)
            elif name == "group_by":
                statement.group_by = True
            elif name == "values" and statement.kind == "insert":
                if call.args and not isinstance(call.args[0], ast.Dict):
                    statement.batched = True
            elif name in {"subquery", "scalar_subquery", "cte", "alias", "lateral"}:
                statement.is_subquery = True
            elif name in {"with_only_columns", "add_columns", "column"}:
                for arg in call.args:
                    _expression_features(arg, statement)

    def _sql_statement(self, text: str, library: str) -> _Stmt:
        facts = sql_facts(text)
        statement = _Stmt(
            kind=facts.kind,  # type: ignore[arg-type]
            library=library,
            tables=list(facts.tables)
            or ([DYNAMIC_TABLE] if re.search(r"(?i)\b(from|update|into|join)\s+\?", text) else []),
            filters=[Filter(c, "==" if o == "=" else o, v) for c, o, v in facts.filters],
            has_limit=facts.has_limit,
            batched=facts.batched,
            aggregate=list(facts.aggregates),
            group_by=facts.group_by,
            window=facts.window,
            joins=["join"] * facts.joins,
            sql=_short(text),
        )
        return statement

    def _recognize(self, node: ast.Call, awaited: bool) -> DbOp | None:
        root, links = _unchain(node)
        if not links:
            return None
        # Django: <Model>.objects.<...>, or a queryset variable
        django_model = self._django_root(root, links)
        if django_model is not None:
            terminal = links[-1][0]
            if terminal in P.DJANGO_NO_QUERY:
                return None
            if (
                isinstance(root, ast.Name)
                and root.id in self.targets
                and terminal not in P.DJANGO_TERMINALS
            ):
                return None  # ``qs = qs.filter(...)``: refining a lazy queryset runs nothing
            return self._django_op(node, django_model, root, links, awaited)
        first, first_call = links[0]
        receiver = root
        # Flask-SQLAlchemy ``User.query.filter_by(...)`` and SQLAlchemy Query variables
        if isinstance(root, ast.Attribute) and root.attr == "query" and _is_class_name(root.value):
            return self._query_op(node, root, links, awaited, _last(_dotted(root.value) or ""))
        if isinstance(root, ast.Name) and self.types.get(root.id, "").startswith("query:"):
            terminal = links[-1][0]
            if root.id in self.targets and terminal not in P.SA_QUERY_TERMINALS:
                return None  # ``q = q.filter(...)``: refining a query runs nothing
            return self._query_op(node, root, links, awaited, self.types[root.id][6:])
        role = self._role(receiver)
        # SQLAlchemy 1.x session.query(...) chains
        if (
            first == "query"
            and role in {"session", None}
            and first_call.args
            and _is_orm_entity(first_call.args[0])
        ):
            return self._query_op(node, receiver, links, awaited)
        aiosql_call = self._aiosql_call(root, first, first_call)
        if aiosql_call is not None:
            statement, chosen, receiver = aiosql_call
        else:
            found = self._pattern_call(first, first_call, role)
            if found is None:
                return None
            statement, chosen = found
        kind: DbOpKind = statement.kind if chosen.kind == "raw" else chosen.kind
        if chosen.method in {"scalars", "scalar"} and statement.kind != "raw":
            kind = statement.kind
        # positional parameters: $1 / %s / ? bound to the call's further arguments
        params = [_unparse(a) for a in first_call.args[1:]]
        if len(first_call.args) == 2 and isinstance(first_call.args[1], (ast.Tuple, ast.List)):
            params = [_unparse(e) for e in first_call.args[1].elts]
        filters = [self._bind(f, params, first_call) for f in statement.filters]
        library = chosen.library
        if library == "dbapi":
            library = self.ctx.driver if statement.library != "sqlalchemy" else "sqlalchemy"
        if chosen.library == "sqlalchemy":
            library = "sqlalchemy"
        batched = chosen.batched or statement.batched
        if (
            chosen.method == "execute"
            and len(first_call.args) > 1
            and isinstance(first_call.args[1], (ast.List, ast.ListComp, ast.Name))
            and statement.kind in {"insert", "update", "delete"}
            and library == "sqlalchemy"
        ):
            batched = True  # session.execute(insert(X), [rows...]): executemany
        shape = chosen.result_shape
        consumed = [n for n, _ in links[1:]] + self.result_methods.get(id(node), [])
        has_limit = statement.has_limit
        if any(n in _ONE_ROW for n in consumed):
            shape = "row"
            has_limit = True
        if statement.aggregate and not statement.group_by:
            shape = "scalar"
        single_key = chosen.single_key or any(
            f.op == "==" and f.column in {"id", "pk"} for f in filters
        )
        targets = self.targets
        receiver_name = _dotted(receiver) or ""
        if not targets and role == "cursor" and receiver_name:
            # DB-API: the rows come back through the cursor (``cursor.fetchone()``)
            targets = (receiver_name,)
        return DbOp(
            library=library,
            kind="count"
            if kind == "select" and "count" in statement.aggregate and not statement.group_by
            else kind,
            api=_callee_text(first_call.func),
            receiver=_dotted(receiver) or "",
            span=self._span(node),
            seq=self._next(),
            tables=tuple(dict.fromkeys(statement.tables)),
            filters=tuple(filters),
            unread_conditions=tuple(statement.unread),
            order_by=tuple(statement.order_by),
            has_limit=has_limit,
            batched=batched,
            single_key=single_key,
            aggregate=tuple(dict.fromkeys(statement.aggregate)),
            group_by=statement.group_by,
            window=statement.window,
            joins=tuple(statement.joins),
            eager_loads=tuple(statement.eager),
            awaited=awaited,
            loops=tuple(self.loop_stack),
            reads=_names(node) | statement.reads,
            targets=targets,
            control_reads=self._control(),
            branch=tuple(self.branch),
            in_gather=self.gather_depth > 0,
            result_shape=shape,
            sql=statement.sql,
            text=self._text(node),
        )

    def _pattern_call(
        self, first: str, first_call: ast.Call, role: str | None
    ) -> tuple[_Stmt, P.MethodPattern] | None:
        """The statement and the API pattern of ``<receiver>.<first>(...)``, if it is a query."""
        patterns = P.PATTERNS_BY_METHOD.get(first)
        if patterns is None:
            return None
        argument = first_call.args[0] if first_call.args else None
        statement = self._statement(argument) if argument is not None else None
        if statement is None and argument is not None:
            literal = _string_value(argument)
            if literal is not None and not looks_like_sql(literal):
                # ``KILL 12``, ``PRAGMA ...``, ``LISTEN x``: administration, not a query per row
                statement = _Stmt(kind="ddl", library="dbapi", sql=_short(literal))
        if statement is not None and statement.is_subquery:
            statement = None
        chosen: P.MethodPattern | None = None
        for pattern in patterns:
            if role != pattern.role:
                continue
            if pattern.needs_statement and statement is None:
                continue
            if pattern.needs_model_arg and not (argument is not None and _is_class_name(argument)):
                continue
            chosen = pattern
            break
        if chosen is None:
            if statement is None or first not in P.SQL_ARGUMENT_METHODS:
                return None
            if role is not None and role not in {"session", "connection", "cursor", "pool"}:
                return None
            library = "asyncpg" if first.startswith("fetch") else statement.library
            chosen = P.MethodPattern(
                library, role or "connection", first, "raw", "rows", batched=first == "executemany"
            )
        if statement is None and chosen.method in {
            "execute",
            "scalars",
            "scalar",
            "stream",
            "stream_scalars",
            "fetch",
            "fetchrow",
            "fetchval",
            "exec_driver_sql",
            "callproc",
        }:
            statement = _Stmt(kind=chosen.kind, library=chosen.library)
        elif statement is None:
            statement = _Stmt(kind=chosen.kind, library=chosen.library)
            if chosen.needs_model_arg and argument is not None:
                statement.tables.append(_last(_dotted(argument) or ""))
                if len(first_call.args) > 1:
                    statement.filters.append(Filter("id", "==", _unparse(first_call.args[1])))
        return statement, chosen

    def _aiosql_call(
        self, root: ast.AST, method: str, call: ast.Call
    ) -> tuple[_Stmt, P.MethodPattern, ast.AST] | None:
        """``queries.get_x(conn, ...)``: a query aiosql loaded from a .sql file, sent on the
        connection passed first (the receiver of the operation)."""
        owner = _dotted(root)
        if self.ctx.aiosql is None or owner is None or not call.args:
            return None
        name = owner.split(".")[0]
        if name in self.types or not self.ctx.aiosql.knows(name):
            return None  # a local or parameter of that name is not the module's queries
        connection = call.args[0]
        # an imported name is read from its module only when a connection is passed
        query = self.ctx.aiosql.query(
            owner, method, look_in_imports=self._role(connection) is not None
        )
        if query is None:
            return None
        statement = self._sql_statement(query.sql, "dbapi")
        statement.kind = query.kind
        statement.tables = list(query.tables)
        pattern = P.MethodPattern(
            query.library, "connection", method, "raw", query.result_shape, query.batched
        )
        return statement, pattern, connection

    def _bind(self, flt: Filter, params: list[str], call: ast.Call) -> Filter:
        value = flt.value
        if value.startswith("$") and value[1:].isdigit():
            index = int(value[1:]) - 1
            if 0 <= index < len(params):
                return Filter(flt.column, flt.op, params[index], flt.table)
        elif value in {"%s", "?"} and params:
            return Filter(flt.column, flt.op, params[0] if len(params) == 1 else "", flt.table)
        elif value.startswith(":") or value.startswith("%("):
            key = value.strip(":%()s")
            for arg in call.args[1:]:
                if isinstance(arg, ast.Dict):
                    for k, v in zip(arg.keys, arg.values, strict=False):
                        if isinstance(k, ast.Constant) and k.value == key:
                            return Filter(flt.column, flt.op, _unparse(v), flt.table)
            for kw in call.keywords:
                if kw.arg == key:
                    return Filter(flt.column, flt.op, _unparse(kw.value), flt.table)
        return flt

    def _query_op(
        self,
        node: ast.Call,
        receiver: ast.AST,
        links: list[tuple[str, ast.Call]],
        awaited: bool,
        model: str = "",
    ) -> DbOp:
        """``session.query(M)...``, Flask-SQLAlchemy ``M.query...``, or a Query variable."""
        statement = _Stmt(kind="select", library="sqlalchemy")
        if model:
            statement.tables.append(model)
            rest = links
        else:
            for arg in links[0][1].args:
                name = _dotted(arg)
                if name and _is_class_name(arg):
                    statement.tables.append(_last(name))
                elif isinstance(arg, ast.Attribute):
                    owner = _column_of(arg)
                    if owner:
                        statement.tables.append(owner[0])
                _expression_features(arg, statement)
            rest = links[1:]
        self._links(rest, statement)
        terminal = links[-1][0] if rest else ""
        kind, shape = P.SA_QUERY_TERMINALS.get(terminal, ("select", "queryset"))
        if shape == "queryset":
            if id(node) in self.evaluated:
                shape = "rows"
            elif statement.tables:
                for target in self.targets:
                    if "." not in target and target != RETURN:
                        self.types[target] = f"query:{statement.tables[0]}"
        if terminal == "get":
            statement.filters.append(
                Filter("id", "==", _unparse(links[-1][1].args[0]) if links[-1][1].args else "")
            )
        if statement.aggregate and not statement.group_by:
            shape = "scalar"
        return DbOp(
            library="sqlalchemy",
            kind="count"
            if kind == "select" and "count" in statement.aggregate and not statement.group_by
            else kind,
            api=_query_api(receiver, links, model),
            receiver=_dotted(receiver) or "",
            span=self._span(node),
            seq=self._next(),
            tables=tuple(dict.fromkeys(statement.tables)),
            filters=tuple(statement.filters),
            unread_conditions=tuple(statement.unread),
            order_by=tuple(statement.order_by),
            has_limit=statement.has_limit,
            batched=statement.batched,
            single_key=terminal == "get"
            or any(f.op == "==" and f.column in {"id", "pk"} for f in statement.filters),
            aggregate=tuple(dict.fromkeys(statement.aggregate)),
            group_by=statement.group_by,
            window=statement.window,
            joins=tuple(statement.joins),
            eager_loads=tuple(statement.eager),
            awaited=awaited,
            loops=tuple(self.loop_stack),
            reads=_names(node),
            targets=self.targets,
            control_reads=self._control(),
            branch=tuple(self.branch),
            in_gather=self.gather_depth > 0,
            result_shape=shape,
            text=self._text(node),
        )

    def _django_root(self, root: ast.AST, links: list[tuple[str, ast.Call]]) -> str | None:
        if isinstance(root, ast.Attribute) and root.attr in P.DJANGO_MANAGERS:
            model = _dotted(root.value)
            if model and _last(model)[:1].isupper():
                return _last(model)
        if isinstance(root, ast.Name):
            known = self.types.get(root.id, "")
            if known.startswith("queryset:"):
                return known.split(":", 1)[1]
        return None

    def _django_op(
        self,
        node: ast.Call,
        model: str,
        root: ast.AST,
        links: list[tuple[str, ast.Call]],
        awaited: bool,
    ) -> DbOp:
        statement = _Stmt(kind="select", library="django", tables=[model])
        if isinstance(root, ast.Name) and root.id in self.queryset_filters:
            # ``pings = Ping.objects.filter(...)`` then ``pings.exists()``: same conditions
            statement.filters.extend(self.queryset_filters[root.id])
        terminal = links[-1][0]
        # a queryset without a terminal method is lazy: it runs when iterated, counted, ...
        kind, shape = P.django_terminal(terminal, [name for name, _ in links[:-1]])
        if terminal in {"save", "asave"} and len(links) > 1:
            # ``Model.objects.create(...).save()``: a write of the row just made or fetched
            created = any(name in {"create", "acreate", "get_or_create"} for name, _ in links)
            kind, shape = ("insert" if created else "update"), ""
        if shape == "queryset" and id(node) in self.evaluated:
            shape = "rows"
        for name, call in links:
            if name in {
                "filter",
                "get",
                "exclude",
                "get_or_create",
                "update_or_create",
                "aget",
                "first",
                "exists",
                "count",
                "delete",
                "update",
            }:
                if name in {"filter", "get", "exclude", "aget", "get_or_create"}:
                    _django_filters(call, statement, negated=name == "exclude")
            elif name in P.DJANGO_EAGER:
                statement.eager.extend(_unparse(a).strip("'\"") for a in call.args)
            elif name in {"annotate", "aggregate", "aaggregate"}:
                for arg in (*call.args, *(k.value for k in call.keywords)):
                    for sub in _walk(arg):
                        if isinstance(sub, ast.Call):
                            func = _last(_callee_text(sub.func)).lower()
                            if func in _AGG_FUNCS:
                                statement.aggregate.append(func)
                            if func == "window":
                                statement.window = True
                if name == "annotate":
                    statement.group_by = True
            elif name == "order_by":
                statement.order_by.extend(_unparse(a).strip("'\"") for a in call.args)
            elif name == "in_bulk":
                statement.batched = True
        if terminal in P.DJANGO_BATCHED:
            statement.batched = True
        if terminal in {"get", "first", "last", "earliest", "latest", "aget", "afirst"}:
            statement.has_limit = True
        if shape == "queryset" and (
            id(node) in self.subquery_args
            or any(f.value.startswith("OuterRef(") for f in statement.filters)
            or any(_reads_outer_ref(call) for _, call in links)
        ):
            # ``Exists(qs.filter(product_id=OuterRef("pk")))``: SQL inside the outer query,
            # never a round trip of its own (a queryset reading OuterRef cannot even run alone)
            shape = "subquery"
        for target in self.targets:
            if kind == "select" and shape in {"queryset", "subquery"}:
                self.types[target] = f"queryset:{model}"
                self.queryset_filters[target] = list(statement.filters)
        return DbOp(
            library="django",
            kind=kind,
            api=_callee_text(node.func),
            receiver=_dotted(root) or "",
            span=self._span(node),
            seq=self._next(),
            tables=(model,),
            filters=tuple(statement.filters),
            unread_conditions=tuple(statement.unread),
            order_by=tuple(statement.order_by),
            has_limit=statement.has_limit,
            batched=statement.batched,
            single_key=terminal in {"get", "aget"}
            and any(f.column in {"id", "pk"} for f in statement.filters),
            aggregate=tuple(dict.fromkeys(statement.aggregate)),
            group_by=statement.group_by,
            window=statement.window,
            eager_loads=tuple(statement.eager),
            awaited=awaited,
            loops=tuple(self.loop_stack),
            reads=_names(node),
            targets=self.targets,
            control_reads=self._control(),
            branch=tuple(self.branch),
            in_gather=self.gather_depth > 0,
            result_shape=shape,
            text=self._text(node),
        )


# ------------------------------------------------------------------------ ORM models


_SA_RELATIONSHIP = frozenset({"relationship", "relation", "Relationship"})
_SA_COLUMN = frozenset({"Column", "mapped_column", "Field", "column_property"})
_DJANGO_FK = frozenset({"ForeignKey", "OneToOneField", "ParentalKey"})
_DJANGO_M2M = frozenset({"ManyToManyField", "ParentalManyToManyField"})


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _foreign_key_columns(node: ast.ClassDef) -> dict[str, str]:
    """The class's columns that hold a foreign key, and the table each one points to."""
    found: dict[str, str] = {}
    for item in node.body:
        target = item.targets[0] if isinstance(item, ast.Assign) and item.targets else None
        target = item.target if isinstance(item, ast.AnnAssign) else target
        if not isinstance(target, ast.Name) or not isinstance(item, (ast.Assign, ast.AnnAssign)):
            continue
        for sub in _walk(item.value) if item.value is not None else ():
            if isinstance(sub, ast.Call) and _last(_callee_text(sub.func)) == "ForeignKey":
                ref = (_string_value(sub.args[0]) or _unparse(sub.args[0])) if sub.args else ""
                found[target.id] = ref.rpartition(".")[0] or ref
    return found


def _holds_the_key(
    call: ast.Call, own_class: str, target: str, own_keys: dict[str, str]
) -> bool | None:
    """Whether a SQLAlchemy ``relationship()`` is many-to-one (this class holds the foreign
    key, so it loads one row) rather than one-to-many; None when the code does not tell.

    ``foreign_keys="Solves.challenge_id"`` names this class's column, ``foreign_keys=
    "Users.team_id"`` on Teams the target's; without it, a foreign key column of this class
    that points to the target's table. A link through ``secondary`` is many-to-many.
    """
    if _keyword(call, "secondary") is not None:
        return False
    named = _keyword(call, "foreign_keys")
    if named is not None:
        text = _string_value(named) or _unparse(named)
        for owner, column in re.findall(r"(?:(\w+)\.)?(\w+)", text.strip("[]")):
            if owner == own_class or (not owner and column in own_keys):
                return True
            if owner == target and owner != own_class:
                return False
    if target == own_class:
        return None  # self-referential: ``remote_side`` decides, which we do not read
    singular = re.sub(r"(?<!^)(?=[A-Z])", "_", target).lower()
    tables = {singular, f"{singular}s", f"{singular}es", target.lower(), f"{target.lower()}s"}
    if any(table.rpartition(".")[2] in tables for table in own_keys.values()):
        return True
    return None


def _backref(
    backref: ast.Call | None,
    name: str,
    owner: str,
    forward_uselist: bool,
    many_to_one: bool | None,
    span: Span,
) -> Relationship:
    """The relationship a ``backref=`` declares on the target: lazy unless ``backref(name,
    lazy=...)`` says otherwise, a list when the forward side holds the key (or is a list only
    through ``secondary``), else one row."""
    lazy, uselist = "select", many_to_one if many_to_one is not None else not forward_uselist
    if backref is not None:
        lazy_node, uselist_node = _keyword(backref, "lazy"), _keyword(backref, "uselist")
        if isinstance(lazy_node, ast.Constant):
            lazy = str(lazy_node.value)
        if isinstance(uselist_node, ast.Constant):
            uselist = bool(uselist_node.value)
    return Relationship(name, owner, lazy, uselist, span)


def _model_class(node: ast.ClassDef) -> ModelClass | None:
    bases = [_callee_text(b) for b in node.bases]
    table = ""
    for item in node.body:
        if (
            isinstance(item, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in item.targets)
            and isinstance(item.value, ast.Constant)
        ):
            table = str(item.value.value)
    is_django = any(b in {"models.Model", "Model"} or b.endswith("models.Model") for b in bases)
    is_sqlmodel = any(_last(b) == "SQLModel" for b in bases) and any(
        k.arg == "table" for k in node.keywords
    )
    if not table and not is_django and not is_sqlmodel:
        has_relationship = any(
            isinstance(item, (ast.Assign, ast.AnnAssign))
            and isinstance(item.value, ast.Call)
            and _last(_callee_text(item.value.func)) in _SA_RELATIONSHIP | _DJANGO_FK
            for item in node.body
        )
        if not has_relationship:
            return None
        is_django = any(
            isinstance(item, ast.Assign)
            and isinstance(item.value, ast.Call)
            and _callee_text(item.value.func).startswith("models.")
            for item in node.body
        )
    library = "django" if is_django and not table else "sqlalchemy"
    own_keys = _foreign_key_columns(node)
    columns: list[str] = []
    fks: list[ForeignKey] = []
    relationships: list[Relationship] = []
    reverse: list[tuple[str, Relationship]] = []
    for item in node.body:
        value: ast.expr | None
        annotation: ast.expr | None
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target, value, annotation = item.targets[0], item.value, None
        elif isinstance(item, ast.AnnAssign):
            target, value, annotation = item.target, item.value, item.annotation
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        name = target.id
        span = Span(item.lineno, item.end_lineno or item.lineno, item.col_offset)
        func = _last(_callee_text(value.func)) if isinstance(value, ast.Call) else ""
        if isinstance(value, ast.Call) and func in _SA_RELATIONSHIP:
            target_name = ""
            if value.args:
                target_name = _string_value(value.args[0]) or _dotted(value.args[0]) or ""
            annotation_text = _unparse(annotation) if annotation is not None else ""
            if not target_name and annotation_text:
                found = re.findall(r"[\"']?([A-Z]\w*)[\"']?\]*$", annotation_text.replace("]", ""))
                candidates = [
                    c
                    for c in re.findall(r"[A-Z]\w*", annotation_text)
                    if c
                    not in {"Mapped", "List", "Set", "Optional", "WriteOnlyMapped", "DynamicMapped"}
                ]
                target_name = candidates[-1] if candidates else (found[-1] if found else "")
            lazy_node = _keyword(value, "lazy")
            lazy = str(lazy_node.value) if isinstance(lazy_node, ast.Constant) else "select"
            many_to_one = _holds_the_key(value, node.name, _last(target_name), own_keys)
            uselist_node = _keyword(value, "uselist")
            if isinstance(uselist_node, ast.Constant):
                uselist = bool(uselist_node.value)
            elif annotation_text:
                uselist = bool(re.search(r"\b(list|List|set|Set)\[", annotation_text))
            elif many_to_one is not None:
                uselist = not many_to_one
            else:
                uselist = name.endswith("s")
            relationships.append(Relationship(name, _last(target_name), lazy, uselist, span))
            backref = _keyword(value, "backref")
            backref_name = _string_value(backref) if backref is not None else None
            if backref_name is None and isinstance(backref, ast.Call) and backref.args:
                backref_name = _string_value(backref.args[0])
            if backref_name:
                reverse.append(
                    (
                        _last(target_name),
                        _backref(
                            backref if isinstance(backref, ast.Call) else None,
                            backref_name,
                            node.name,
                            uselist,
                            True if _keyword(value, "secondary") is not None else many_to_one,
                            span,
                        ),
                    )
                )
        elif isinstance(value, ast.Call) and func in _DJANGO_FK | _DJANGO_M2M:
            target_name = ""
            if value.args:
                target_name = _string_value(value.args[0]) or _dotted(value.args[0]) or ""
            else:
                to = _keyword(value, "to")
                target_name = (_string_value(to) or _dotted(to) or "") if to else ""
            target_name = _last(target_name)
            if target_name == "self":
                target_name = node.name
            many = func in _DJANGO_M2M
            relationships.append(Relationship(name, target_name, "select", many, span))
            if not many:
                columns.append(f"{name}_id")
                fks.append(ForeignKey(f"{name}_id", target_name))
            related = _keyword(value, "related_name")
            related_name = _string_value(related) if related is not None else None
            if related_name is None:
                related_name = f"{node.name.lower()}_set"
            if related_name and not related_name.endswith("+"):
                reverse.append(
                    (
                        target_name,
                        Relationship(
                            related_name, node.name, "select", func != "OneToOneField", span
                        ),
                    )
                )
        elif isinstance(value, ast.Call) and (func in _SA_COLUMN or func.endswith("Field")):
            columns.append(name)
            for sub in _walk(value):
                if isinstance(sub, ast.Call) and _last(_callee_text(sub.func)) == "ForeignKey":
                    ref = _string_value(sub.args[0]) if sub.args else None
                    if ref is None and sub.args:
                        ref = _unparse(sub.args[0])
                    if ref:
                        table_name, _, column = ref.rpartition(".")
                        fks.append(ForeignKey(name, table_name or ref, column or "id"))
        elif annotation is not None and value is None and "Mapped" in _unparse(annotation):
            columns.append(name)
    if not table:
        table = node.name.lower()
    return ModelClass(
        name=node.name,
        library=library,
        table=table,
        span=Span(node.lineno, node.end_lineno or node.lineno, node.col_offset),
        columns=tuple(columns),
        foreign_keys=tuple(fks),
        relationships=tuple(relationships),
        reverse=tuple(reverse),
    )
