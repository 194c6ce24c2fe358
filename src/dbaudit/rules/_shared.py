"""Small helpers the rule modules share: loop descriptions and fix code written for the code."""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterable

from dbaudit.analysis.callgraph import FunctionRef
from dbaudit.analysis.cost import Cost
from dbaudit.analysis.program import Program, passed_arguments
from dbaudit.model import Branch, Call, DbOp, Filter, Function, Loop, Span
from dbaudit.model.expressions import free_names
from dbaudit.rules import _typescript as ts
from dbaudit.sql.batch import where_conditions

_NESTED_BY_DEPTH = {1: "a query per {noun}", 2: "queries per {noun} of each outer item"}


def loop_header(loop: Loop, language: str = "python") -> str:
    """The loop as its language writes it, for messages and call-chain hops."""
    if ts.is_typescript(language):
        return ts.loop_header(loop)
    if loop.kind == "while":
        return f"while {loop.iterable}"
    opener = "async for" if loop.is_async else "for"
    return f"{opener} {_binding(loop)} in {loop.iterable}"


def noun(loop: Loop) -> str:
    if not loop.targets:
        return "iteration"
    if _ENUMERATE.match(loop.iterable) and len(loop.targets) > 1:
        return loop.targets[1].split(".")[-1]  # ``for i, user in enumerate(users)``: a user
    return loop.targets[0].split(".")[-1]


# ``enumerate(items)`` / ``enumerate(items, start=1)``: the items, each behind its position
_ENUMERATE = re.compile(r"^enumerate\((?P<items>.+?)(?P<start>,\s*(?:start\s*=\s*)?[^,()]+)?\)$")
# builtins that hand out a one-pass iterator: the fix walks the items twice, so keeps a list
_ONE_PASS = re.compile(r"^(zip|map|filter|reversed|enumerate|iter)\(")
_PYTHON_NAMES = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


def _binding(loop: Loop) -> str:
    """The Python loop target as written: ``user``, ``user_id, name``, ``i, (a, b)``; a tuple
    written in parentheses whole (``for (book, copy) in ...``) without them."""
    binding = loop.pattern or ", ".join(loop.targets) or "_"
    if binding.startswith("(") and binding.endswith(")") and _closes_at_end(binding):
        return binding[1:-1].strip() or "_"
    return binding


def _closes_at_end(text: str) -> bool:
    """Whether the bracket that opens ``text`` closes at its last character."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth == 0:
            return index == len(text) - 1
    return False


def _top_level_parts(binding: str) -> list[str]:
    """``i, (a, b)`` -> ["i", "(a, b)"]: the elements of a tuple target, nested ones whole."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(binding):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(binding[start:index].strip())
            start = index + 1
    parts.append(binding[start:].strip())
    return [p for p in parts if p]


def _reads(expression: str) -> set[str]:
    """Names an expression reads (``str(row.user_id)`` -> str, row), not its attributes."""
    return set(_PYTHON_NAMES.findall(re.sub(r"'[^']*'|\"[^\"]*\"", "", expression)))


def _python_item(loop: Loop, value: str, condition: str = "") -> tuple[str, str, str, str]:
    """(binding, iterable, key, walk) of a comprehension over the loop's items that computes
    each item's key as the loop body does, and how the loop walks them again (``{}`` stands
    for the items): ``for i, user in enumerate(users)`` keyed by ``user.id`` maps ``user``
    over ``users`` and walks ``enumerate({})``; a tuple target keeps its shape
    (``[user_id for user_id, name in rows]``)."""
    binding, walk = _binding(loop), "{}"
    iterable, _ = python_items(loop)
    parts = _top_level_parts(binding)
    enumerated = _ENUMERATE.match(iterable)
    position_read = parts[0] in _reads(value) | _reads(condition) if parts else False
    if (
        enumerated
        and len(parts) == 2
        and not position_read
        and whole_expression(enumerated["items"])
    ):
        binding, iterable = parts[1], enumerated["items"]
        if binding.startswith("(") and binding.endswith(")"):
            binding = binding[1:-1]
        walk = "enumerate({}" + (enumerated["start"] or "") + ")"
        parts = _top_level_parts(binding)
    names = [n for n in _PYTHON_NAMES.findall(binding) if n != "_"]
    if value:
        return binding, iterable, value, walk
    if len(parts) > 1:
        named_key = next((n for n in names if n == "id" or n.endswith("_id")), "")
        return binding, iterable, named_key or f"{names[0] if names else 'item'}.id", walk
    return binding, iterable, f"{names[0] if names else 'item'}.id", walk


def whole_expression(text: str) -> bool:
    """``text`` is one whole Python expression: not cut short (``…``), nor a piece of one."""
    if not text or text.endswith("…"):
        return False
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def valid_python(code: str) -> bool:
    """Fix code parses as Python (``...`` placeholders and ``await`` outside a function
    included): a fix that does not is never shown."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def python_items(loop: Loop) -> tuple[str, str]:
    """What the loop iterates, as fix code writes it, and a line to put before the fix when
    the model keeps no whole expression of it (one longer than the frontend keeps: the fix
    names the items, ``users = ...``, and the comment says which they are)."""
    if whole_expression(loop.iterable):
        return loop.iterable, ""
    name = _collection_name(_binding(loop))
    return name, f"{name} = ...  # the items of `{loop_header(loop)}`"


def python_loop_code(loop: Loop) -> str:
    """The loop's header as fix code writes it (``for user in users``, without the colon),
    after the line that names its items when ``python_items`` needs one."""
    if loop.kind == "while":
        return loop_header(loop)
    items, prelude = python_items(loop)
    opener = "async for" if loop.is_async else "for"
    header = f"{opener} {_binding(loop)} in {items}"
    return f"{prelude}\n{header}" if prelude else header


def python_items_prelude(loop: Loop) -> str:
    """The line ``python_items`` puts before a fix, with its newline; "" when none."""
    line = python_items(loop)[1]
    return f"{line}\n" if line else ""


def python_items_clause(loop: Loop, value: str = "", condition: str = "") -> tuple[str, str]:
    """``for <binding> in <items>`` of a comprehension over the loop's items, and the key it
    computes for each (``value`` as the loop body writes it, else a guess from the names).
    ``condition``: the items the loop body takes only (``if u.active``), kept as the
    comprehension's ``if``. An iterable the model keeps no whole expression of is named
    (``python_items_prelude`` gives the line that binds it)."""
    binding, iterable, key, _ = _python_item(loop, value, condition)
    clause = f"for {binding} in {iterable}"
    return (f"{clause} if {condition}" if condition else clause), key


def arm_conditions(
    fn: Function, branch: Branch, loop: Loop, per_item: Iterable[str], seq: int
) -> tuple[list[str], str]:
    """The conditions, as the function's language writes them, under which the event at
    ``branch`` (and ``seq``) of the body of ``loop`` runs for an item: those of the ``if``
    arms between the loop and it (an ``else`` arm's negated test, a ``continue`` guard's
    too), leaving out those that read nothing that changes with the item. ([], reason) when
    no condition can be said for the items: an ``except`` or ``case`` arm, a test reading a
    name the loop body computes or an attribute it sets, or a guard that stops the loop
    (``break``, ``return``, ``raise``: the items after it are never reached)."""
    known = {(branch_id, arm): test for branch_id, arm, test in fn.conditions}
    exits = set(fn.exiting_arms) | set(fn.breaking_arms)
    targets = set(loop.targets)
    computed = set(per_item) - targets
    item = noun(loop)
    # ``u.count += 1`` before ``if u.count > 3``: the test reads what the loop sets
    changed = {
        t
        for a in fn.assigns
        if loop.id in a.loops and a.seq < seq and a.kind != "for-target"
        for t in a.targets
        if "." in t and root_name(t) in targets
    }
    # ``seen.add(u.email)`` after ``if u.email not in seen``: the set grows item by item
    changed |= {
        c.callee.rsplit(".", 1)[0]
        for c in fn.calls
        if loop.id in c.loops
        and c.callee.rsplit(".", 1)[-1] in _MUTATORS
        and root_name(c.callee) not in targets
    }
    tests: list[str] = []
    for branch_id, arm in branch[loop.branch_depth :]:
        test = known.get((branch_id, arm))
        if test is None:
            return [], (
                f"the write runs only for each {item} that takes a catch, except or case "
                "arm (or passes a test too long to repeat), which no filter here can say"
            )
        reads = _reads(test)
        if not reads & (targets | computed) and "(" not in test:
            continue  # the same for every item: the loop writes all of them or none
        if reads & computed:
            name = sorted(reads & computed)[0]
            return [], (
                f"the write runs only when `{test}` holds, and `{name}` is computed in the "
                f"loop for each {item}: filter the keys by it first"
            )
        touched = sorted(t for t in changed if re.search(rf"(?<![\w.$]){re.escape(t)}\b", test))
        if touched:
            return [], (
                f"the write runs only when `{test}` holds, and the loop changes "
                f"`{touched[0]}` as it goes: filter the keys by what it holds at each {item}"
            )
        stop = next(
            (
                known.get((b, a), "")
                for b, a in sorted(exits)
                if b == branch_id and a != arm and (b, a) in known
            ),
            None,
        )
        if stop is not None:
            return [], (
                f"the loop stops at the first {item} for which `{stop}` holds, so one "
                f"statement over every {item} would also write each {item} after it"
            )
        tests.append(test)
    return tests, ""


# methods that change a collection in place (Python's, and JavaScript's push/set/delete)
_MUTATORS = frozenset(
    {"append", "extend", "insert", "add", "update", "setdefault", "pop", "remove", "discard"}
    | {"clear", "popitem", "push", "unshift", "splice", "set", "delete"}
)


def ts_all_of(tests: Iterable[str]) -> str:
    """TypeScript tests joined with ``&&``, each in parentheses unless it is one operand."""
    parts = list(tests)
    if len(parts) <= 1:
        return parts[0] if parts else ""
    simple = re.compile(r"!?[\w$.?]+(?:\([^()]*\))?")
    return " && ".join(p if simple.fullmatch(p) else f"({p})" for p in parts)


def all_of(tests: Iterable[str]) -> str:
    """The tests joined with ``and``, each in parentheses where Python needs them."""
    parts = list(tests)
    if len(parts) <= 1:
        return parts[0] if parts else ""
    try:
        trees = [ast.parse(t, mode="eval").body for t in parts]
    except SyntaxError:
        return " and ".join(f"({t})" for t in parts)
    return ast.unparse(ast.BoolOp(ast.And(), trees))


_WHERE_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
}


def conditions_as_filters(
    tests: Iterable[str], item: str, per_item: Iterable[str]
) -> list[Filter] | None:
    """The tests as column conditions of the item's own row (``u.plan == "free"`` ->
    ``plan == "free"``, ``u.deleted_at is None``), when every one is such a comparison with
    a value that is the same for every item; None otherwise (``u.active``, whose truth is
    not SQL's; ``!=``, which a NULL column answers otherwise; a call; another name's
    attribute), and the fix filters the keys in Python instead."""
    changing = set(per_item) | {item}
    filters: list[Filter] = []
    for test in tests:
        try:
            tree = ast.parse(test, mode="eval").body
        except SyntaxError:
            return None
        parts = (
            tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
        )
        for part in parts:
            if not (isinstance(part, ast.Compare) and len(part.ops) == 1):
                return None
            left, right, op = part.left, part.comparators[0], part.ops[0]
            if not (
                isinstance(left, ast.Attribute)
                and isinstance(left.value, ast.Name)
                and left.value.id == item
            ):
                return None
            if not all(
                isinstance(
                    n, (ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.Load)
                )
                for n in ast.walk(right)
            ):
                return None  # a call, an operation: the loop's value may not be SQL's
            value = ast.unparse(right)
            if _reads(value) & changing:
                return None
            if isinstance(op, (ast.Is, ast.IsNot)):
                if not (isinstance(right, ast.Constant) and right.value is None):
                    return None
                filters.append(
                    Filter(left.attr, "is" if isinstance(op, ast.Is) else "is not", "None")
                )
                continue
            symbol = _WHERE_OPS.get(type(op))
            if symbol is None:
                return None
            filters.append(Filter(left.attr, symbol, value))
    return filters


def condition_code(flt: Filter, table: str, library: str) -> str:
    """One condition of the item's row as the bulk statement writes it."""
    if library == "django":
        if flt.op in {"is", "is not"}:
            return f"{flt.column}__isnull={flt.op == 'is'}"
        return _django_condition(flt)
    return sqlalchemy_condition(table, flt)


def _free_name(name: str, fallback: str, taken: set[str]) -> str:
    """``name``, else ``fallback``, else ``fallback`` numbered: the first that is not taken."""
    for candidate in (name, fallback, *(f"{fallback}_{n}" for n in range(2, 10))):
        if candidate not in taken:
            return candidate
    return f"{fallback}_{len(taken)}"


def _collection_name(binding: str) -> str:
    """A name for the loop's items once they are kept in a list."""
    parts = _top_level_parts(binding)
    if len(parts) > 1:
        return "pairs" if len(parts) == 2 else "entries"
    name = binding.strip("()[] ")
    name = name if re.fullmatch(r"[A-Za-z_]\w*", name) else "item"
    plural = f"{name}s" if not name.endswith("s") else f"{name}_list"
    return plural if not keyword.iskeyword(plural) else f"{name}_items"


def fixed_cost(cost: Cost) -> str:
    """The cost once every per-item query is batched: one query per query site."""
    total = cost.total_constant + sum(c for m, c in cost.terms if m)
    return str(max(total, 1))


# columns that are the table's own key whatever the schema says (Django's ``pk`` alias)
KEY_COLUMNS = frozenset({"id", "pk"})


def key_filter(op: DbOp | None, loop: Loop | None = None) -> Filter | None:
    """The filter that ties a per-item query to the loop variable (``project_id == p.id``).

    Of the equality / ``IN`` filters, the one whose value reads a name the loop binds
    (``Number(recipientId)``, ``str(owner.id)``, not only a value that starts with it); when
    several do, the one on the table's key, else the first as written. With no loop, or no
    filter reading it, the first such filter.
    """
    if op is None:
        return None
    # an arm of an OR is no key: an IN list on it would drop the other arms' rows
    keyed = [f for f in op.filters if f.op in {"==", "in"} and not f.part_of_unread]
    names = set(loop.targets) if loop is not None else set()
    readers = [f for f in keyed if free_names(f.value) & names]
    if readers:
        return next((f for f in readers if f.column in KEY_COLUMNS), readers[0])
    if not names and keyed:
        return keyed[0]
    return next((f for f in op.filters if f.op == "==" and not f.part_of_unread), None)


_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_DJANGO_LOOKUPS = {"==": "", "in": "__in", ">": "__gt", ">=": "__gte", "<": "__lt", "<=": "__lte"}
_SQL_LIBRARIES = frozenset({"asyncpg", "psycopg", "psycopg2", "sqlite3", "dbapi"})
# a value the SQL text frontend could not bind to the call's arguments
_UNBOUND = re.compile(r"^(\$\d+|%s|\?|:\w+|%\(\w+\)s)?$")


def sqlalchemy_condition(table: str, flt: Filter) -> str:
    """One filter as a SQLAlchemy expression (``Render.user_id == user_id``,
    ``Grant.deleted_at.is_not(None)``); "" for one no code here writes (a BETWEEN, a
    filter the frontend kept as part of a group)."""
    if flt.part_of_unread:
        return ""
    column = f"{flt.table or table}.{flt.column}"
    if flt.op in _COMPARISONS:
        return f"{column} {flt.op} {flt.value}"
    method = _SQLALCHEMY_METHODS.get(flt.op)
    return f"{column}.{method}({flt.value})" if method else ""


_SQLALCHEMY_METHODS = {
    "in": "in_",
    "is": "is_",
    "is not": "is_not",
    "is_not": "is_not",
    "isnot": "is_not",
    "like": "like",
    "ilike": "ilike",
}


def _django_condition(flt: Filter) -> str:
    if flt.op in _DJANGO_LOOKUPS:
        return f"{flt.column}{_DJANGO_LOOKUPS[flt.op]}={flt.value}"
    return f"{flt.column}={flt.value}" if "__" in flt.column else ""  # the keyword as written


def _sql_condition(flt: Filter) -> str:
    if flt.op not in _COMPARISONS or _UNBOUND.match(flt.value):
        return ""
    return f"{flt.column} {'=' if flt.op == '==' else flt.op}"


def _row_check(row: str, flt: Filter) -> str:
    """The per-item condition checked on a fetched row (``row.owner_id == p.owner_id``); none
    for a Django field across a relation (``project__owner_id``), no attribute of the row."""
    if "__" in flt.column:
        return ""
    if flt.op in _COMPARISONS:
        return f"{row}.{flt.column} {flt.op} {flt.value}"
    return f"{row}.{flt.column} in {flt.value}" if flt.op == "in" else ""


def _other_conditions(
    op: DbOp | None, key: Filter | None, loop: Loop, own_query: bool = False
) -> tuple[list[Filter], list[Filter], list[str]]:
    """The per-item query's conditions besides its key: (the same for every item, the ones
    that read the loop's item too, the ones the frontend could not read, as written)."""
    if op is None:
        return [], [], []
    unread = list(op.unread_conditions)
    if key is not None and own_query and key not in op.filters:
        # the query's own key, its value written with what the loop binds: the filter it was
        own = [
            f for f in op.filters if (f.column, f.op, f.table) == (key.column, key.op, key.table)
        ]
        key = own[0] if len(own) == 1 else key
    if key is not None and key not in op.filters:
        # a helper's query, its key given in the caller's terms (DBA102): its other filters
        # read the helper's parameters, which may be per item in the caller; named as written
        table = main_table(op)
        unread += [
            f"{f.table or table}.{f.column} {f.op} {f.value} (as the helper writes it)"
            for f in op.filters
            if not f.part_of_unread and (f.column, f.op) != (key.column, key.op)
        ]
        return [], [], unread
    names = set(loop.targets)
    same: list[Filter] = []
    per_item: list[Filter] = []
    for flt in op.filters:
        if flt == key or flt.part_of_unread:
            continue
        (per_item if free_names(flt.value) & names else same).append(flt)
    return same, per_item, unread


def bulk_write_conditions(
    op: DbOp | None, key: Filter | None, loop: Loop, per_item: Iterable[str] = ()
) -> tuple[list[str], list[str]] | None:
    """The per-item write's conditions besides its key, written for the one bulk statement
    (Django keywords, SQLAlchemy expressions), and those no code here can write, as written
    (for the ``# keep the query's other conditions`` line). None when a condition besides the
    key reads the item, or a name the loop body sets (``per_item``): one IN over the keys
    would also write the rows that condition leaves out for some items."""
    same, item_filters, unread = _other_conditions(op, key, loop)
    names = set(per_item) | set(loop.targets)
    if item_filters or any(free_names(f.value) & names for f in same):
        return None
    if any(_reads(condition) & names for condition in unread):
        return None  # ``.exclude(promotion_rule_id=rule_id)``, ``rule_id`` set per item
    if op is not None and op.library == "django":
        written = [_django_condition(f) for f in same]
    else:
        written = [sqlalchemy_condition(main_table(op), f) for f in same]
    unread += [f"{f.column} {f.op} {f.value}" for f, c in zip(same, written, strict=True) if not c]
    return [c for c in written if c], unread


def main_table(op: DbOp | None, fallback: str = "Row") -> str:
    if op is not None and op.tables:
        return op.tables[0]
    return fallback


def is_write(op: DbOp) -> bool:
    return op.kind in {"insert", "update", "delete", "flush"}


def language(ref: FunctionRef) -> str:
    """The language fixes are written in: the one of the module the finding is in."""
    return ts.module_language(ref.module)


def is_typescript(ref: FunctionRef) -> bool:
    return ts.is_typescript(ref.module.language)


def batched_in(op: DbOp | None, language: str) -> str:
    """How the fix batches the keys, in the words of the library (for fix summaries)."""
    if not ts.is_typescript(language):
        return "IN / ANY on the keys"
    library = ts.library_of(op)
    if library == "prisma":
        return "`{ in: keys }` in the where"
    if library == "knex":
        return "`whereIn` on the keys"
    if library in {"pg", "mysql2"}:
        return "`= ANY($1)` on the keys"
    return "`inArray` on the keys"


# an ``async for`` walks a database stream, a CSV reader (aiocsv), an API's pages (Stripe's
# auto-paging lists) or a generator of the app's own: chunks are for all of them, and
# ``partitions`` is only a SQLAlchemy result's way to cut them
ASYNC_STREAM_NOTE = (
    " The loop walks an async iterable, which can be read only once: batch per chunk of it "
    "(collect `size` items in a list, one IN query per list; a SQLAlchemy streamed result "
    "gives such chunks with `async for chunk in result.partitions(size)`)."
)


def batched_select_code(
    op: DbOp | None,
    loop: Loop,
    library: str = "",
    key: Filter | None = None,
    language: str = "python",
    per_item: frozenset[str] = frozenset(),
    own_query: bool = False,
    row_attribute: str = "",
) -> str:
    """``for p in projects: <query keyed by p.id>`` rewritten as one IN query and a dict.
    ``row_attribute``: the row's attribute that holds the key when it is not the key's column
    (a Django foreign key ``account`` is ``row.account_id``: ``row.account`` would load each
    row's account, one query per row, in the fix itself).
    ``per_item``: the names the loop body computes from the item before the query
    (``const { sessionId } = data``), which no condition shared by every item may read.
    ``own_query``: ``op`` is the loop's own query and ``key`` its key filter written with
    what the loop binds (``payload_id`` as ``delivery.payload_id``), not a helper's query."""
    if ts.is_typescript(language):
        # a helper's query (DBA102): its key comes in the caller's terms, its other
        # conditions read the helper's parameters and are named as it writes them
        helper = key is not None and op is not None and key not in op.filters
        return ts.batched_select_code(
            op, loop, key or key_filter(op, loop), language, per_item, helper=helper
        )
    if loop.is_async:
        # ``async for grant in results`` (a server-side stream, ``stream_scalars``): read
        # once, it has no second pass for the keys, and reading it whole first undoes the
        # streaming: the fix batches per chunk (``ASYNC_STREAM_NOTE``), in words
        return ""
    table = main_table(op)
    flt = key or key_filter(op, loop)
    column = flt.column if flt else "id"
    binding, iterable, value, walk = _python_item(loop, flt.value if flt else "")
    library = library or (op.library if op else "sqlalchemy")
    if row_attribute and not _ID_VALUE.search(value):
        value = f"{value}.pk"  # ``account=account``: the row's ``account_id`` is its pk
    lines = [line for line in (python_items(loop)[1],) if line]
    items = iterable
    if "(" in items or "await" in items:
        items = _collection_name(binding)
        kept = f"list({iterable})" if _ONE_PASS.match(iterable) else iterable
        lines.append(f"{items} = {kept}")
    # the fix's names must not take one the code it keeps reads: ``for key in keys`` walked
    # the new list of keys instead of the items, ``rows`` the fetched rows
    taken = {items, *_reads(iterable), *_reads(binding), *_reads(value)}
    taken |= {n for f in (op.filters if op is not None else ()) for n in _reads(f.value)}
    keys, rows, row, by_key = (
        _free_name(n, fallback, taken)
        for n, fallback in (
            ("keys", "batch_keys"),
            ("rows", "found"),
            ("row", "found_row"),
            ("by_key", "rows_by_key"),
        )
    )
    lines.append(f"{keys} = [{value} for {binding} in {items}]")
    same, item_filters, unread = _other_conditions(op, flt, loop, own_query)
    checks = [_row_check(row, f) for f in item_filters]
    # a condition on the item besides the key cannot go into the one query: the rows it keeps
    # are picked out per item below; one no code here can write is named for the reader
    unread += [
        f"{f.column} {f.op} {f.value} (per item)"
        for f, c in zip(item_filters, checks, strict=True)
        if not c
    ]
    checks = [c for c in checks if c]
    if library == "django":
        written = [_django_condition(f) for f in same]
        unread += [
            f"{f.column} {f.op} {f.value}" for f, c in zip(same, written, strict=True) if not c
        ]
        # a keyword given twice (the key's ``id__in`` and a queryset's own ``id__in=allowed``)
        # is a SyntaxError in one call: a later one goes into a filter() of its own, as the
        # code had it (its queryset filtered before the per-item lookup)
        first: list[str] = []
        chained: list[str] = []
        for keyword in [f"{column}__in={keys}", *filter(None, written)]:
            name = keyword.split("=", 1)[0]
            (chained if any(k.split("=", 1)[0] == name for k in first) else first).append(keyword)
        query = f"{table}.objects.filter({', '.join(first)})"
        query += "".join(f".filter({keyword})" for keyword in chained)
        if "__" in column:
            # a field across a relation (``project__owner_id``) is no attribute of the row:
            # the query hands each row the key it matched
            lines.insert(0, "from django.db.models import F")
            query += f'.annotate(batch_key=F("{column}"))'
            column = "batch_key"
        query_lines = [f"{rows} = list({query})"]
    elif library in _SQL_LIBRARIES:
        written = [_sql_condition(f) for f in same]
        if not all(written):  # a value not bound to the call's arguments: the text says it
            unread.append(_WHOLE_WHERE)
        unread += [u for u in _sql_unread(op, len(same) + len(item_filters) + 1) if u not in unread]
        conditions = [(c, f.value) for f, c in zip(same, written, strict=True) if c]
        if library == "asyncpg":
            where = " AND ".join(
                [f"{column} = ANY($1)", *(f"{c} ${n}" for n, (c, _) in enumerate(conditions, 2))]
            )
            arguments = ", ".join([keys, *(v for _, v in conditions)])
            sql = f"SELECT * FROM {table} WHERE {where}"
            query_lines = [f'{rows} = await conn.fetch("{sql}", {arguments})']
        else:
            where = " AND ".join([f"{column} = ANY(%s)", *(f"{c} %s" for c, _ in conditions)])
            arguments = ", ".join([keys, *(v for _, v in conditions)])
            sql = f"SELECT * FROM {table} WHERE {where}"
            query_lines = [
                f'cursor.execute("{sql}", ({arguments},))',
                f"{rows} = cursor.fetchall()",
            ]
    else:
        written = [sqlalchemy_condition(table, f) for f in same]
        unread += [
            f"{f.column} {f.op} {f.value}" for f, c in zip(same, written, strict=True) if not c
        ]
        where = ", ".join([f"{table}.{column}.in_({keys})", *filter(None, written)])
        query = f"select({table}).where({where})"
        if op is not None and not op.awaited:
            query_lines = [f"{rows} = session.scalars({query}).all()"]
        else:
            query_lines = [f"{rows} = (await session.scalars({query})).all()"]
    if unread:
        # never a complete-looking query that drops what the original one filters on
        lines.append(f"# keep the query's other conditions: {'; '.join(unread)}")
    query_lines[-1] += "  # one query for all of them"
    lines += query_lines
    found = f"{by_key}.get({value}, [])"
    if checks:
        found = f"[{row} for {row} in {found} if {' and '.join(checks)}]"
    lines += [
        f"{by_key}: dict = {{}}",
        f"for {row} in {rows}:",
        f"    {by_key}.setdefault({row}.{row_attribute or column}, []).append({row})",
        f"for {_binding(loop)} in {walk.replace('{}', items)}:",
        f"    ...  # use {found}",
    ]
    code = "\n".join(lines)
    return code if valid_python(code) else ""  # a value the model keeps cut short


_WHOLE_WHERE = "those of the statement's WHERE"
# a key value that is already an id, not a model instance (``doc_id``, ``t.pk``, ``row["id"]``)
_ID_VALUE = re.compile(r"(?:\bid|_id|\.pk|\bpk|[\"']id[\"']\])\)?$")


def foreign_key_attribute(program: Program, op: DbOp | None, key: Filter | None) -> str:
    """``account_id`` when ``key`` filters a Django model's foreign key by its name
    (``MailRule.objects.filter(account=account)``); "" otherwise."""
    if op is None or key is None or op.library != "django" or "__" in key.column:
        return ""
    model = program.models.get(main_table(op))
    attribute = f"{key.column}_id"
    if model is None or not any(fk.column == attribute for fk in model.foreign_keys):
        return ""
    return attribute


def _sql_unread(op: DbOp | None, known: int) -> list[str]:
    """The WHERE of a SQL text when its conditions are more than its ``known`` filters (an OR,
    a subquery, a function), or when the text was cut short: then no filter list is whole."""
    text = op.sql if op is not None else ""
    if not text:
        return []
    if text.endswith("…") or where_conditions(text) != known:
        return [_WHOLE_WHERE]
    return []


def loops_of(fn: Function, ids: tuple[int, ...]) -> list[Loop]:
    return [fn.loops[i] for i in ids]


def fanned_out(fn: Function, loop: Loop) -> bool:
    """The loop is inside an ``asyncio.gather(...)``/``Promise.all(...)`` call: the per-item
    queries run concurrently, but there are still N of them (N round trips, N connections)."""
    return any(
        g.span.line <= loop.span.line and loop.span.end_line <= g.span.end_line for g in fn.gathers
    )


# Django expressions and queryset methods that give back another unevaluated queryset (or an
# expression over one): a queryset handed only to these has run no query yet
_LAZY_BUILDERS = frozenset(
    {
        "Q",
        "Exists",
        "Subquery",
        "filter",
        "exclude",
        "annotate",
        "alias",
        "union",
        "intersection",
        "difference",
        "order_by",
        "distinct",
        "values",
        "values_list",
        "select_related",
        "prefetch_related",
        "only",
        "defer",
        "using",
        "none",
        "all",
    }
)
_LAZY_SHAPES = frozenset({"queryset", "subquery"})


def builds_lazy_queryset(program: Program, ref: FunctionRef) -> bool:
    """Every query ``ref`` reaches is a Django queryset it builds and hands back unevaluated
    (``return Checkout.objects.filter(...)``, ``result_qs &= checkouts``, ``Q(Exists(qs))``):
    calling it runs no query; whoever evaluates what it returns does. A queryset it iterates,
    counts, passes to a helper it cannot see as lazy, or keeps for later is a query."""
    key = ("lazy-queryset", ref.id)
    if key not in program.memo:
        program.memo[key] = False  # a cycle of helpers: not shown to be lazy
        program.memo[key] = _builds_lazy_queryset(program, ref)
    return bool(program.memo[key])


def _builds_lazy_queryset(program: Program, ref: FunctionRef) -> bool:
    reach = program.reach(ref)
    if not reach.queries or reach.writes:
        return False
    fn = ref.function
    for op in fn.db_ops:
        if op.result_shape == "subquery":
            continue
        if op.result_shape != "queryset" or not stays_lazy(
            program, ref, op.seq, op.span, op.targets
        ):
            return False
    for call, target in program.graph.callees(ref):
        sub = program.reach(target)
        if not sub.queries and not sub.writes:
            continue
        if not builds_lazy_queryset(program, target):
            return False
        if not stays_lazy(program, ref, call.seq, call.span, call.targets):
            return False
    return True


def stays_lazy(
    program: Program,
    ref: FunctionRef,
    seq: int,
    span: Span | None,
    targets: tuple[str, ...],
    depth: int = 0,
) -> bool:
    """The queryset made by the event at ``seq`` of ``ref`` (or, with no span, held by the
    parameters ``targets``) is only refined, combined (``&=``, ``|=``), embedded (``Q``,
    ``Exists``, ``.filter(...)``), handed to a helper that does no more with it, or returned:
    never iterated, counted or handed to a call that may evaluate it. A condition reading it
    is not taken for an evaluation: the model keeps no condition's text, and ``if qs is not
    None`` around a lazy queryset (saleor's filters) is far more common than ``if qs:``."""
    fn = ref.function
    names = set(targets) - {"<return>"}
    if span is not None:
        enclosing = [c for c in fn.calls if c.seq != seq and _encloses(c.span, span)]
        if not all(_lazy_builder(c.callee) for c in enclosing):
            return False  # ``list(helper())``, ``show(helper())``, ``helper().count()``
        if not names and "<return>" not in targets and not enclosing:
            return False  # ``rows.append(helper())``: kept, to be evaluated later
        if any(
            a.kind == "for-target" and a.span.line <= span.line <= a.span.end_line
            for a in fn.assigns
        ):
            return False  # ``for row in helper():``
    for assign in sorted(fn.assigns, key=lambda a: a.seq):
        if assign.seq > seq and assign.reads & names:
            names |= set(assign.targets) - {"<return>"}  # ``qs2 = qs``, ``result &= qs``
    if not names:
        return True
    if any(loop.reads & names for loop in fn.loops):
        return False  # iterated
    for op in fn.db_ops:
        if op.seq != seq and op.reads & names and op.result_shape not in _LAZY_SHAPES:
            return False  # ``qs.count()``, ``qs.first()``
    for call in fn.calls:
        if call.seq == seq or not call.reads & names or _lazy_builder(call.callee):
            continue
        if not _hands_on_lazily(program, ref, call, names, depth):
            return False
    return True


def _hands_on_lazily(
    program: Program, ref: FunctionRef, call: Call, names: set[str], depth: int
) -> bool:
    """``call`` passes a queryset held in ``names`` to a helper of the tree that only builds
    on it (``where_filter_qs(qs, ...)``, ``_handle_predicate(result_qs, ...)``)."""
    target = program.resolve(ref, call)
    if target is None or depth >= 4:
        return False  # outside the tree: it may evaluate what it is given
    if program.reach(target).queries and not builds_lazy_queryset(program, target):
        return False
    passed = passed_arguments(call, target.function)
    given = tuple(p for p, value in passed.items() if free_names(value) & names)
    if any(free_names(arg) & names for arg in call.args) and not given:
        return False  # handed through ``*args``/``**kwargs``: cannot follow it
    return stays_lazy(program, target, -1, None, given, depth + 1)


def _lazy_builder(callee: str) -> bool:
    return callee.rsplit(".", 1)[-1] in _LAZY_BUILDERS


def _encloses(outer: Span, inner: Span) -> bool:
    """The call at ``outer`` contains the event at ``inner`` (an argument, or the start of its
    chain: ``helper(x).count()`` starts where ``helper(x)`` does)."""
    return (outer.line, outer.col) <= (inner.line, inner.col) and outer.end_line >= inner.end_line


def same_every_item(
    program: Program, fn: Function, loop: Loop, reads: Iterable[str], values: Iterable[str]
) -> bool:
    """A query (or a helper's call) reading ``reads``, with the filter values or arguments
    ``values``, is the same on every item of ``loop``: it reads, receiver included, no name
    the loop binds or its body assigns (``self.current = p`` changes what ``self.helper()``
    reads), and no value is computed by a call (``now()``, ``random.randint(...)`` may differ
    each time). A ``while`` loop, or one that binds only ``_``, repeats a call that may take
    the next row each time (a queue, a retry): never one answer asked N times."""
    if loop.kind != "for" or not set(loop.targets) - {"_"}:
        return False
    if any("(" in value for value in values):
        return False
    return not set(reads) & per_item_names(program, fn, loop)


def per_item_names(program: Program, fn: Function, loop: Loop) -> set[str]:
    """Names that may hold another value on each item: what the loop binds, what is derived
    from it, and whatever its body assigns (``const { subscriptionId } = notification``)."""
    changed = program.derived(fn, loop.targets)
    changed |= {root_name(t) for a in fn.assigns if loop.id in a.loops for t in a.targets}
    return changed


def root_name(expression: str) -> str:
    """The name an expression starts from: ``self`` of ``self.dal.get``, ``rows`` of ``rows[0]``."""
    return expression.split(".")[0].split("[")[0]


def only_element(value: str) -> str | None:
    """``x`` of a literal ``{x}``, ``[x]`` or ``(x,)`` (Python); None otherwise."""
    try:
        node = ast.parse(value.strip(), mode="eval").body
    except SyntaxError:
        return None
    if (
        isinstance(node, (ast.Set, ast.List, ast.Tuple))
        and len(node.elts) == 1
        and not isinstance(node.elts[0], ast.Starred)
    ):
        return ast.unparse(node.elts[0])
    return None


def written_tables(program: Program, ref: FunctionRef, depth: int = 0) -> set[str] | None:
    """The tables ``ref`` and the helpers it calls write; None when one write names none."""
    tables: set[str] = set()
    for op in ref.function.db_ops:
        if is_write(op):
            if not op.tables:
                return None
            tables.update(op.tables)
    for _, callee in program.graph.callees(ref):
        if not program.reach(callee).writes:
            continue
        if depth >= 6:
            return None
        deeper = written_tables(program, callee, depth + 1)
        if deeper is None:
            return None
        tables |= deeper
    return tables
