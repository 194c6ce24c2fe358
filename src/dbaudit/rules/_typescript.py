"""Fix code written in TypeScript, for findings in TypeScript/JavaScript modules.

The rules describe one problem in language-neutral terms; a fix is only useful when it can
be pasted next to the code it was found in, so a Drizzle app gets ``inArray`` and
``Promise.all``, a Prisma app ``{ in: ids }`` and ``updateMany``, Knex ``whereIn`` and
node-postgres ``= ANY($1)``. Names (tables, columns, loop variables, keys) come from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbaudit.model import DbOp, Filter, Loop, ModuleModel
from dbaudit.model.expressions import free_names, object_pairs

TS_LANGUAGES = frozenset({"typescript", "javascript"})
# a transaction handle or one checked-out pg client is a single connection: one statement at
# a time. ``db`` (Drizzle), ``prisma``, ``pool`` and ``knex`` are pools.
_SINGLE_CONNECTION = re.compile(r"(^|\.)(tx|trx|transaction|client|conn|connection)$")
_TRANSACTION_HANDLE = re.compile(r"(^|\.)(tx|trx|transaction)$")
_PLACEHOLDER = re.compile(r"^(\$\d+|\?|%s)$")
_IDENTIFIER_PATH = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")


_JAVASCRIPT_FILE = re.compile(r"\.(?:c|m)?jsx?$")


def is_typescript(language: str) -> bool:
    """TypeScript or JavaScript: fixes in the syntax both share (``javascript`` leaves out
    the type annotations)."""
    return language in TS_LANGUAGES


def module_language(module: ModuleModel) -> str:
    """The TypeScript frontend reads ``.js``/``.cjs``/``.mjs`` too: their fixes are plain
    JavaScript (no ``Map<K, V>`` or ``sql<number>``)."""
    if module.language == "typescript" and _JAVASCRIPT_FILE.search(module.path):
        return "javascript"
    return module.language


def sql_count(language: str, aggregate: str = "count") -> str:
    cast = "<number>" if language == "typescript" else ""
    return f"sql{cast}`{aggregate}(*)`"


def single_connection(handle: str) -> bool:
    """``tx``/``trx``/``client`` run one statement at a time; pools run queries concurrently."""
    return bool(_SINGLE_CONNECTION.search(handle))


def transaction_handle(handle: str) -> bool:
    """``tx``/``trx``/``transaction``: the handle of a transaction callback."""
    return bool(_TRANSACTION_HANDLE.search(handle))


def item_name(loop: Loop) -> str:
    return loop.targets[0].split(".")[-1] if loop.targets else "item"


def item_parameter(loop: Loop) -> str:
    """The loop variable as the loop binds it, ready to be a callback's parameter or a
    ``for ... of`` target again: ``project``, ``{ recipientId }``, ``[id, name]``."""
    if loop.pattern:
        return loop.pattern
    if len(loop.targets) > 1:
        return "[" + ", ".join(loop.targets) + "]"
    return item_name(loop)


def destructures(loop: Loop) -> bool:
    """The items are taken apart by the binding: the item itself has no name."""
    return item_parameter(loop)[:1] in {"{", "["}


def loop_header(loop: Loop) -> str:
    """``for (const project of projects)``, ``projects.map(({ id }) => ...)``."""
    if loop.kind == "while":
        return f"while ({loop.iterable})" if loop.iterable else "for (;;)"
    if loop.kind == "for" and (not loop.targets or not loop.pattern):
        # ``for (let i = 0; i < n; i++)``: the frontend keeps its condition, no item (a
        # loop over chunks keeps its counter as the item, with no binding written)
        return f"for (...; {loop.iterable}; ...)"
    target = item_parameter(loop) if loop.targets else "_"
    if loop.kind == "comprehension":
        return f"{loop.iterable}.map(({target}) => ...)"
    keyword = "for await" if loop.is_async or loop.kind == "async for" else "for"
    return f"{keyword} (const {target} of {loop.iterable})"


def column_of(table: str, column: str) -> str:
    """A Drizzle column of a table: ``users.email``, or ``backups[`${kind}Id`]`` when the
    column is picked at run time (the frontend keeps it as its subscript)."""
    return f"{table}{column}" if column.startswith("[") else f"{table}.{column}"


def _looks_like_key(name: str) -> bool:
    return name == "id" or name.endswith(("Id", "_id", "Ids", "_ids"))


def item_key(flt: Filter | None, loop: Loop) -> tuple[str, str]:
    """The callback parameter that takes one item and the per-item key computed from it.

    The key is the query's value as the loop body computes it (``project.id``,
    ``Number(recipientId)``), read through the loop's own binding (``{ recipientId }``). When
    the query's value is a placeholder or a helper's parameter, the key is a destructured
    name that looks like one, else the item's ``id`` (the whole item then gets a name).
    """
    parameter = item_parameter(loop)
    value = flt.value if flt is not None else ""
    placeholder = bool(_PLACEHOLDER.match(value))
    if value and not placeholder and free_names(value) & set(loop.targets):
        return parameter, value
    if destructures(loop):
        named_key = next((t for t in loop.targets if _looks_like_key(t)), "")
        return (parameter, named_key) if named_key else ("item", "item.id")
    item = item_name(loop)
    return parameter, item if _looks_like_key(item) else f"{item}.id"


@dataclass(frozen=True, slots=True)
class Conditions:
    """A per-item query's WHERE split for a batched fix: the key condition, the conditions
    every item shares (the batched query keeps them as written), the ones that read the
    item besides its key, and the filters the frontend found but could not write back."""

    key: str  # the key condition as written; "" when no condition is the key alone
    kept: tuple[str, ...] = ()
    per_item: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()


_EQUALITY_CALL = re.compile(r"^(?:[\w$]+\.)?(?:eq|inArray)\(")
_KNEX_KEY_STEP = re.compile(r"^(?:where|andWhere|whereIn)\(")


def _entry_key(part: str) -> str:
    """The key of an object entry (``tenantId: t.id`` / ``tenantId`` -> tenantId), "" for a
    spread or anything that is no entry."""
    found = re.match(r"^[\"']?([A-Za-z_$][\w$]*)[\"']?\s*(?::|$)", part)
    return found.group(1) if found else ""


# words that are values, not names a condition reads (``sent: false``)
_LITERALS = frozenset({"true", "false", "null", "undefined", "NaN", "Infinity"})


def condition_reads(part: str, library: str) -> set[str]:
    """Names a written condition reads: an object entry's value (its key is a column), or
    the shorthand name itself."""
    if library in {"prisma", "drizzle"} and not part.startswith("..."):
        key = _entry_key(part)
        if key and ":" not in part:
            return {key}
        if key:
            return free_names(part.split(":", 1)[1]) - _LITERALS
    return free_names(part.removeprefix("...")) - _LITERALS


def is_key_part(part: str, flt: Filter, library: str) -> bool:
    """Whether ``part`` is the key condition and nothing more: ``eq(t.projectId, p.id)``,
    ``projectId: p.id``, ``where({ project_id: p.id })``, not ``or(eq(...), ...)``."""
    column = re.escape(flt.column.removeprefix("[").removesuffix("]"))
    if library == "prisma" or (library == "drizzle" and _entry_key(part)):
        if _entry_key(part) != flt.column:
            return False
        value = part.split(":", 1)[1].strip() if ":" in part else part
        return not value.startswith("{") or bool(re.match(r"^\{\s*(equals|in)\s*:", value))
    if library == "knex":
        return (
            bool(_KNEX_KEY_STEP.match(part))
            and "." not in part.split("(", 1)[0]
            and bool(re.search(rf"(?<![\w$]){column}(?![\w$])", part))
        )
    return bool(_EQUALITY_CALL.match(part)) and bool(
        re.search(rf"(?<![\w$]){column}(?![\w$])", part.split(",", 1)[0])
    )


def split_conditions(
    op: DbOp | None,
    flt: Filter | None,
    loop: Loop,
    per_item: frozenset[str] = frozenset(),
    helper: bool = False,
) -> Conditions:
    """The query's conditions (``DbOp.where``) sorted for a batched fix. ``per_item`` are the
    names that change from item to item: the loop's own, and those computed from them. A
    ``helper``'s conditions read its parameters and locals, names the loop does not have:
    only those that read no name at all are kept, the others are named as it writes them."""
    if op is None:
        return Conditions("")
    library = library_of(op)
    names = set(loop.targets) | per_item
    parts = op.where
    if not parts:
        # the frontend kept no condition as written: the ones it read must still be seen
        sql = library in {"pg", "mysql2", "knex"}
        unread = tuple(
            f"{f.column} {'=' if sql and f.op == '==' else f.op} {f.value}".strip()
            for f in op.filters
            if flt is None or not (f.column == flt.column and f.value == flt.value)
        )
        return Conditions("", unread=unread)
    keys = [p for p in parts if flt is not None and is_key_part(p, flt, library)]
    key = next((p for p in keys if flt and flt.value and flt.value in p), keys[0] if keys else "")
    kept: list[str] = []
    others: list[str] = []
    foreign: list[str] = []
    for part in parts:
        if part == key:
            continue
        reads = condition_reads(part, library)
        if helper and reads:
            foreign.append(f"{part} (as the helper writes it)")
            continue
        (others if reads & names else kept).append(part)
    return Conditions(key, tuple(kept), tuple(others), tuple(foreign))


def _sql_name(name: str, library: str) -> str:
    """A table or column as PostgreSQL must be told it: ``"Flag"``, as the statement wrote it
    (a bare ``Flag`` folds to ``flag``, another table), escaped for a double-quoted JS string."""
    if library == "pg" and name != name.lower() and re.fullmatch(r"[A-Za-z_]\w*", name):
        return f'\\"{name}\\"'
    return name


def _plural(item: str) -> str:
    return f"{item}List" if item.endswith("s") else f"{item}s"


def _items_and_prelude(loop: Loop) -> tuple[str, list[str]]:
    """The collection the loop walks, bound to a const when it is a call (``await f()``)."""
    # a list of objects taken apart is no list of its first field's values
    item = "item" if destructures(loop) else item_name(loop)
    iterable = loop.iterable
    if "(" in iterable or "await" in iterable or not _IDENTIFIER_PATH.match(iterable):
        name = _plural(item)
        return name, [f"const {name} = {iterable};"]
    return iterable, []


def _keys(items: str, parameter: str, key: str, name: str, lines: list[str]) -> str:
    """The name holding every key: the collection itself when it holds the keys (``ids``)."""
    if key == parameter:
        return items
    lines.append(f"const {name} = {items}.map(({parameter}) => {key});")
    return name


def _model(op: DbOp) -> str:
    """``prisma.render.findMany`` -> ``prisma.render``."""
    return op.api.rsplit(".", 1)[0] if "." in op.api else f"prisma.{main_table(op)}"


def main_table(op: DbOp | None, fallback: str = "rows") -> str:
    if op is not None and op.tables:
        return op.tables[0]
    return fallback


def table_ref(op: DbOp | None, fallback: str = "rows") -> str:
    """The table as the statement names it: ``schema.keys`` stays ``schema.keys``, as the
    bare ``keys`` may be another name in that scope (unkey's loop over a ``keys`` array)."""
    table = main_table(op, fallback)
    if op is None or op.library != "drizzle":
        return table
    # an argument (``.update(schema.keys)``, ``eq(schema.keys.id, ...)``), not the relational
    # API's ``db.query.renders.findFirst``, which names no table object
    found = re.search(rf"[(,]\s*((?:[A-Za-z_$][\w$]*\.)+{re.escape(table)})(?![\w$])", op.text)
    return found.group(1) if found else table


def _unwritable_key(flt: Filter | None) -> bool:
    """A key the fix cannot map each item to: the whole object a helper's destructured
    parameter was given (``{ id: kind }`` for ``removeTag({ id: kind })``), not its field."""
    return flt is not None and flt.value.lstrip("( ").startswith("{")


def _computed_in_loop(
    cond: Conditions, flt: Filter | None, loop: Loop, per_item: frozenset[str], library: str
) -> set[str]:
    """Names the batched statement would read per item that the loop body computes from the
    item (``const { sessionId, dataKey } = data``): a callback over the items has no such
    name, and the shared conditions must not take them for values every item shares."""
    computed = per_item - set(loop.targets)
    reads = free_names(flt.value) if flt is not None else set()
    for part in (cond.key, *cond.per_item):
        if part:
            reads |= condition_reads(part, library)
    return reads & computed


def _handle(op: DbOp | None, default: str) -> str:
    if op is None or not op.receiver:
        return default
    return op.receiver.split(".")[0] if op.library == "prisma" else op.receiver


def library_of(op: DbOp | None) -> str:
    return op.library if op is not None and op.library else "drizzle"


def _per_item_match(cond: Conditions, library: str, items: str, parameter: str) -> str:
    """Each item's own conditions as one condition over every item, in the library's syntax:
    ``or(...projects.map((p) => and(eq(...), gt(...))))``, Prisma's ``OR: projects.map((p) =>
    ({ projectId: p.id, since: ... }))``; "" for a library that has none written here."""
    own = ([cond.key] if cond.key else []) + list(cond.per_item)
    if not own:
        return ""
    if library == "prisma" or (library == "drizzle" and all(_entry_key(p) for p in own)):
        if any(p.startswith("...") or not _entry_key(p) for p in own):
            return ""
        return f"OR: {items}.map(({parameter}) => ({{ {', '.join(own)} }}))"
    if library == "drizzle":
        each = own[0] if len(own) == 1 else f"and({', '.join(own)})"
        return f"or(...{items}.map(({parameter}) => {each}))"
    return ""


def _where_drizzle(conditions: list[str]) -> str:
    return conditions[0] if len(conditions) == 1 else f"and({', '.join(conditions)})"


def _where_prisma(conditions: list[str]) -> str:
    """The entries of one where object; a second ``OR`` key goes into ``AND: [...]``, as one
    object literal cannot hold two."""
    ors = [c for c in conditions if _entry_key(c) == "OR"]
    if len(ors) < 2:
        return ", ".join(conditions)
    rest = [c for c in conditions if _entry_key(c) != "OR"]
    return ", ".join([*rest, f"AND: [{', '.join('{ ' + c + ' }' for c in ors)}]"])


def _guarded(op: DbOp | None, loop: Loop, per_item: frozenset[str]) -> list[str]:
    """A note when the statement runs only for some items: an ``if`` around it in the loop
    reads the item, and a batch over every item would also touch the others."""
    if op is None or not op.branch:
        return []
    reads = op.control_reads & (set(loop.targets) | per_item)
    if not reads:
        return []
    return [
        "// the loop runs it only for the items its condition lets through (it reads "
        f"{', '.join(sorted(reads))}): filter the items by that condition first"
    ]


def _notes(cond: Conditions, composite: bool) -> list[str]:
    """Comment lines for what the batched statement could not carry over as written."""
    lines = []
    if cond.per_item and not composite:
        lines.append(
            "// each item's own conditions are not in the batched statement: apply them per "
            f"item: {'; '.join(cond.per_item)}"
        )
    if cond.unread:
        lines.append(
            "// and the loop query's other conditions, which dbaudit could not read as "
            f"written: {'; '.join(cond.unread)}"
        )
    return lines


def batched_select_code(
    op: DbOp | None,
    loop: Loop,
    flt: Filter | None,
    language: str = "typescript",
    per_item: frozenset[str] = frozenset(),
    helper: bool = False,
) -> str:
    """``for (const p of projects) { <query keyed by p.id> }`` as one IN query and a Map.
    ``helper``: the query is a helper's, ``flt`` its key in the loop's terms.

    The batched query keeps every condition of the per-item one (``DbOp.where``): those every
    item shares as written, the key as ``inArray``/``{ in }``/``whereIn``; conditions that
    read the item besides its key make each item's own match (an ``or`` over the items) where
    the library can say so, else a note tells to apply them per item. Filters the frontend
    read but could not write back are named in a comment, never dropped silently.
    """
    if flt is None or _unwritable_key(flt):
        return ""  # no condition ties the query to the item: an IN list on a guessed id is no fix
    if (
        not helper
        and flt.value
        and not _PLACEHOLDER.match(flt.value)
        and not free_names(flt.value) & (set(loop.targets) | per_item)
    ):
        # ``checks.map(({ whereClause }) => findFirst({ where: { id: contactId,
        # ...whereClause } }))``: the key is the same on every turn, the item changes the
        # rest; an IN list over the items' ids would ask another question
        return ""
    if op is not None and (
        op.kind == "count"
        or (op.aggregate and library_of(op) != "prisma")
        or (op.joins and library_of(op) != "prisma")
    ):
        # ``tx.select({ c: count() }).from(members).innerJoin(user, ...).where(...)`` per
        # item: one row per item needs the joins and a GROUP BY on the key, which a Map of
        # the table's plain rows does not give (it kept ``isNull(user.deletedAt)`` without
        # the join of ``user``, and fetched the rows the count was counting)
        return ""
    table = table_ref(op)
    column = flt.column
    parameter, value = item_key(flt, loop)
    items, lines = _items_and_prelude(loop)
    # names the fix declares must not shadow the items (``rows`` of ``rows.val``), the
    # loop's own bindings or the table
    taken = {items, *free_names(items), *free_names(parameter), *free_names(table)}
    rows = "rows" if "rows" not in taken else "found"
    row = "row" if "row" not in taken else "foundRow"
    library = library_of(op)
    cond = split_conditions(op, flt, loop, per_item, helper)
    if _computed_in_loop(cond, flt, loop, per_item, library):
        return ""
    if not helper:
        lines += _guarded(op, loop, per_item)
    match = _per_item_match(cond, library, items, item_parameter(loop))
    # each item's own match when conditions read the item besides its key, or no condition
    # is the key alone (``or(eq(t.ownerId, p.id), ...)``)
    composite = bool(match) and (bool(cond.per_item) or not cond.key)
    keys = (
        ""
        if composite
        else _keys(items, parameter, value, "keys" if "keys" not in taken else "itemKeys", lines)
    )
    if library == "prisma":
        model = _model(op) if op else f"prisma.{table}"
        batched = match if composite else f"{column}: {{ in: {keys} }}"
        where = _where_prisma([batched, *cond.kept])
        query = f"await {model}.findMany({{ where: {{ {where} }} }})"
    elif library == "knex":
        shared = "".join(f".{part}" for part in cond.kept)
        query = f'await {_handle(op, "knex")}("{table}").whereIn("{column}", {keys}){shared}'
    elif library in {"pg", "mysql2"}:
        placeholder = "ANY($1)" if library == "pg" else "IN (?)"
        name, col = _sql_name(table, library), _sql_name(column, library)
        condition = f"{col} = {placeholder}" if library == "pg" else f"{col} {placeholder}"
        query = (
            f'(await {_handle(op, "pool")}.query("SELECT * FROM {name} WHERE {condition}", '
            f"[{keys}])).rows"
        )
    else:
        batched = match if composite else f"inArray({column_of(table, column)}, {keys})"
        query = (
            f"await {_handle(op, 'db')}.select().from({table})"
            f".where({_where_drizzle([batched, *cond.kept])})"
        )
    lines += _notes(cond, composite)
    lines.append(f"const {rows} = {query}; // one query for all of them")
    lines += [
        f"const byKey = new Map<unknown, typeof {rows}>();"
        if language == "typescript"
        else "const byKey = new Map();",
        f"for (const {row} of {rows}) {{",
        f"  const group = byKey.get({row}.{column}) ?? [];",
        f"  group.push({row});",
        f"  byKey.set({row}.{column}, group);",
        "}",
        f"for (const {parameter} of {items}) {{",
    ]
    if composite and cond.per_item:
        lines.append(
            "  // each row matched the conditions of an item with its key; when items share a "
            f"key, check: {'; '.join(cond.per_item)}"
        )
    lines += [
        f"  const related = byKey.get({value}) ?? [];",
        "  // ...",
        "}",
    ]
    return "\n".join(lines)


def _braced(text: str, start: int) -> str:
    """The balanced ``{...}`` that opens at ``text[start]`` ("" when cut off)."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    return ""


def _written_values(op: DbOp | None, marker: str) -> str:
    """The object literal after ``marker`` in the call (``.set(`` / ``data:``), as written."""
    if op is None:
        return "{ ... }"
    found = re.search(re.escape(marker) + r"\s*\{", op.text)
    values = _braced(op.text, found.end() - 1) if found else ""
    return values or "{ ... }"


def bulk_write_code(
    op: DbOp | None,
    loop: Loop,
    flt: Filter | None,
    per_item: frozenset[str] = frozenset(),
    helper: bool = False,
    keep: str = "",
) -> str:
    """A per-item UPDATE/DELETE/INSERT loop as one statement over every key. ``per_item``
    are the names computed from the item in the loop (``newMeta``), as the loop's own;
    ``helper``: the statement is a helper's, ``flt`` its key in the loop's terms; ``keep``:
    the test an item passes for the loop to write it (``u.active``, in an ``if`` arm), by
    which the items are filtered first."""
    table = table_ref(op, "table")
    item = item_name(loop)
    kind = op.kind if op is not None else "update"
    if (flt is None or _unwritable_key(flt)) and kind != "insert":
        return ""  # no condition ties the statement to the item: nothing to put in an IN list
    column = flt.column if flt else "id"
    parameter, value = item_key(flt, loop)
    items, lines = _items_and_prelude(loop)
    if keep:
        items = f"{items}.filter(({item_parameter(loop)}) => {keep})"
    library = library_of(op)
    if kind == "insert":
        rows = f"{items}.map(({item_parameter(loop)}) => ({{ ... }}))"
        if library == "prisma":
            lines.append(
                f"await {_model(op) if op else 'prisma.' + table}.createMany({{ data: {rows} }});"
            )
        elif library == "knex":
            lines.append(f'await {_handle(op, "knex")}("{table}").insert({rows});')
        elif library in {"pg", "mysql2"}:
            lines.append(
                f'await {_handle(op, "pool")}.query("INSERT INTO {table} (...) '
                'SELECT * FROM unnest($1::int[], ...)", [...columns]);'
            )
        else:
            lines.append(f"await {_handle(op, 'db')}.insert({table}).values({rows});")
        lines[-1] += " // one statement for every row"
        return "\n".join(lines)
    # a write cannot be filtered afterwards: conditions that read the item besides its key
    # go into each item's own match (an ``or`` over the items), never into a note only
    cond = split_conditions(op, flt, loop, per_item, helper)
    if _computed_in_loop(cond, flt, loop, per_item, library):
        return ""
    if not helper and not keep:
        lines += _guarded(op, loop, per_item)
    values = _written_values(op, "data:" if library == "prisma" else ".set(")
    if helper and kind == "update" and condition_reads(values, ""):
        lines.append(
            f"// the helper computes the values it sets ({values}) on every call: one "
            "statement needs each item's own values joined in, or one statement per item "
            "inside a single transaction"
        )
    elif kind == "update" and condition_reads(values, "") & (set(loop.targets) | per_item):
        lines.append(
            "// each item sets values of its own: one statement needs them joined in "
            "(UPDATE ... FROM (VALUES ...) through sql`` / $executeRaw), or keep one "
            "statement per item inside a single transaction"
        )
        # one updateMany would write the values of an item that is not there (``data: {
        # content: operation.content }`` after the loop): the statements stay per item,
        # sent as one batch where the library has one
        computed = condition_reads(values, "") & (per_item - set(loop.targets))
        if (
            library == "prisma"
            and op is not None
            and not computed
            and not transaction_handle(_handle(op, ""))
        ):
            call = op.text.strip().removeprefix("await ").strip()
            if not call.endswith("…"):
                lines += [
                    f"await {_handle(op, 'prisma')}.$transaction(",
                    f"  {items}.map(({item_parameter(loop)}) => {call}),",
                    f"); // one batch in one transaction for every {item}",
                ]
                return "\n".join(lines)
        return "\n".join(lines)
    match = _per_item_match(cond, library, items, item_parameter(loop))
    composite = bool(match) and (bool(cond.per_item) or not cond.key)
    # the name holding the keys must not be the items' own (``for (const item of ids)``)
    # nor the table's
    taken = {items, *free_names(parameter), *free_names(table)}
    name = next(n for n in ("ids", "keys", "itemIds") if n not in taken)
    ids = "" if composite else _keys(items, parameter, value, name, lines)
    lines += _notes(cond, composite)
    delete = kind == "delete"
    if library == "prisma":
        model = _model(op) if op else f"prisma.{table}"
        batched = match if composite else f"{column}: {{ in: {ids} }}"
        where = f"where: {{ {_where_prisma([batched, *cond.kept])} }}"
        if delete:
            statement = f"await {model}.deleteMany({{ {where} }});"
        else:
            data = _written_values(op, "data:")
            statement = f"await {model}.updateMany({{ {where}, data: {data} }});"
    elif library == "knex":
        tail = ".del()" if delete else ".update({ ... })"
        shared = "".join(f".{part}" for part in cond.kept)
        statement = (
            f'await {_handle(op, "knex")}("{table}").whereIn("{column}", {ids}){shared}{tail};'
        )
    elif library in {"pg", "mysql2"}:
        name, col = _sql_name(table, library), _sql_name(column, library)
        condition = f"{col} = ANY($1)" if library == "pg" else f"{col} IN (?)"
        verb = f"DELETE FROM {name}" if delete else f"UPDATE {name} SET ..."
        statement = f'await {_handle(op, "pool")}.query("{verb} WHERE {condition}", [{ids}]);'
    else:
        handle = _handle(op, "db")
        head = (
            f"{handle}\n  .delete({table})"
            if delete
            else f"{handle}\n  .update({table})\n  .set({_written_values(op, '.set(')})"
        )
        batched = match if composite else f"inArray({column_of(table, column)}, {ids})"
        statement = f"await {head}\n  .where({_where_drizzle([batched, *cond.kept])});"
    lines.append(f"{statement} // one statement for every {item}")
    return "\n".join(lines)


def upsert_library(op: DbOp | None) -> str:
    """The library of a per-row upsert: Prisma's ``upsert``, Drizzle's ``onConflictDoUpdate``
    (PostgreSQL, SQLite) or ``onDuplicateKeyUpdate`` (MySQL); "" for any other write."""
    if op is None or op.kind != "insert":
        return ""
    if op.library == "prisma" and op.api.endswith(".upsert"):
        return "prisma"
    if op.library == "drizzle" and (
        "onConflictDoUpdate" in op.api or "onDuplicateKeyUpdate" in op.api
    ):
        return "drizzle"
    return ""


def _conflict_columns(where: str) -> list[str]:
    """The unique key a Prisma ``upsert`` matches on: ``{ userId_key: { userId, key } }``
    (a compound unique) names its fields inside, ``{ email }`` its one field."""
    pairs = object_pairs(where)
    if len(pairs) == 1 and pairs[0][1].startswith("{"):
        return [key for key, _ in object_pairs(pairs[0][1])]
    return [key for key, _ in pairs]


def bulk_upsert_code(op: DbOp, loop: Loop) -> str:
    """A per-row upsert loop as one statement for every row.

    Prisma has no bulk upsert (``createMany`` only inserts, ``upsert`` takes one row): one
    ``INSERT ... ON CONFLICT ... DO UPDATE`` through ``$executeRaw``, its rows joined by
    ``Prisma.join``. Drizzle inserts every row with one ``onConflictDoUpdate`` whose ``set``
    reads each row's own values from ``excluded``.
    """
    item = item_name(loop)
    parameter = item_parameter(loop)
    items, lines = _items_and_prelude(loop)
    table = main_table(op, "table")
    if upsert_library(op) == "prisma":
        created = object_pairs(_written_values(op, "create:"))
        updated = [key for key, _ in object_pairs(_written_values(op, "update:"))]
        target = _conflict_columns(_written_values(op, "where:"))
        columns = ", ".join(f'"{key}"' for key, _ in created) or "..."
        values = ", ".join(f"${{{value}}}" for _, value in created) or "..."
        conflict = ", ".join(f'"{key}"' for key in target) or "..."
        assignments = ", ".join(f'"{key}" = EXCLUDED."{key}"' for key in updated) or "..."
        handle = _handle(op, "prisma")
        model = table[:1].upper() + table[1:]  # the model's name, the table's unless @@map
        lines += [
            "// Prisma has no bulk upsert: one INSERT ... ON CONFLICT for every row (table and",
            "// column names as mapped in schema.prisma; MySQL: ON DUPLICATE KEY UPDATE)",
            f"await {handle}.$executeRaw`",
            f'  INSERT INTO "{model}" ({columns})',
            f"  VALUES ${{Prisma.join({items}.map(({parameter}) => Prisma.sql`({values})`))}}",
            f"  ON CONFLICT ({conflict}) DO UPDATE SET {assignments}`;",
            "// or, when most rows are new: createMany({ data, skipDuplicates: true }) inserts",
            "// them in one statement, and the rows that existed are updated in one batch",
            "// (prisma.$transaction([...updates]), outside an interactive transaction)",
        ]
        return "\n".join(lines)
    handle = _handle(op, "db")
    row = _written_values(op, ".values(")
    found = re.search(r"target:\s*(\[[^\]]*\]|[\w$.]+)", op.text)
    conflict_target = found.group(1) if found else "..."
    updated = [key for key, _ in object_pairs(_written_values(op, "set:"))]
    mysql = "onDuplicateKeyUpdate" in op.api
    if mysql:
        fresh = [f"{key}: sql`values(${{{table}.{key}}})`" for key in updated]
        conflict = f"  .onDuplicateKeyUpdate({{ set: {{ {', '.join(fresh) or '...'} }} }})"
    else:
        fresh = [f"{key}: sql.raw(`excluded.${{{table}.{key}.name}}`)" for key in updated]
        each = f"column: sql.raw(`excluded.${{{table}.column.name}}`)"
        conflict = (
            f"  .onConflictDoUpdate({{\n    target: {conflict_target},\n"
            + (f"    set: {{ {', '.join(fresh)} }}," if fresh else f"    set: {{ /* {each} */ }},")
            + " // each row's own new values\n  })"
        )
    lines += [
        f"await {handle}",
        f"  .insert({table})",
        f"  .values({items}.map(({parameter}) => ({row})))",
        f"{conflict}; // one statement for every {item}",
    ]
    return "\n".join(lines)


def update_or_create_code(
    update: DbOp, create: DbOp, loop: Loop, per_item: frozenset[str] = frozenset()
) -> str:
    """An UPDATE per item, then an INSERT when it matched no row, as one upsert of every
    item. ``ON CONFLICT`` needs a unique index on what the UPDATE matches, which the schema
    may not have (the pair is often written because it has none): the fix says so."""
    parameter = item_parameter(loop)
    items, lines = _items_and_prelude(loop)
    columns = [f.column for f in update.filters if f.op == "==" and not f.part_of_unread]
    if update.library == "prisma":
        where = _written_values(update, "where:")
        conflict = _conflict_columns(where) or columns
        created = object_pairs(_written_values(create, "data:"))
        updated = [key for key, _ in object_pairs(_written_values(update, "data:"))]
        table = main_table(update, "table")
        model = table[:1].upper() + table[1:]
        names = ", ".join(f'"{key}"' for key, _ in created) or "..."
        values = ", ".join(f"${{{value}}}" for _, value in created) or "..."
        assignments = ", ".join(f'"{key}" = EXCLUDED."{key}"' for key in updated) or "..."
        lines += [
            "// one INSERT ... ON CONFLICT for every item; it needs a unique index on what the",
            f"// update matches (@@unique([{', '.join(conflict)}]) in schema.prisma, and its",
            "// migration) when there is none. Table and column names as mapped in schema.prisma",
            f"await {_handle(update, 'prisma')}.$executeRaw`",
            f'  INSERT INTO "{model}" ({names})',
            f"  VALUES ${{Prisma.join({items}.map(({parameter}) => Prisma.sql`({values})`))}}",
            f"  ON CONFLICT ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in conflict)}) "
            f"DO UPDATE SET {assignments}`;",
        ]
        return "\n".join(lines)
    if update.library == "drizzle" and columns:
        table = table_ref(update, "table")
        target = ", ".join(column_of(table, c) for c in columns)
        row = _written_values(create, ".values(")
        if condition_reads(row, "") & (per_item - set(loop.targets)):
            row = "{ ... }"  # values the loop body computes: the callback has no such names
        lines += [
            "// it needs a unique index on the columns the update matches when there is none",
            f"await {_handle(create, 'db')}",
            f"  .insert({table})",
            f"  .values({items}.map(({parameter}) => ({row})))",
            f"  .onConflictDoUpdate({{ target: [{target}], set: {{ /* each column: "
            f"sql.raw(`excluded.${{{table}.column.name}}`) */ }} }});",
        ]
        return "\n".join(lines)
    return ""


def promise_all_code(targets: list[tuple[str, ...]], calls: list[str]) -> str:
    """``const [a, b] = await Promise.all([qa, qb]);``: destructured results keep their shape."""
    names = []
    for target in targets:
        if len(target) > 1:
            names.append("[" + ", ".join(target) + "]")
        else:
            names.append(target[0] if target and target[0] != "<return>" else "")
    body = "\n".join(f"  {call}," for call in calls)
    return f"const [{', '.join(names)}] = await Promise.all([\n{body}\n]);"


def joined_lookup_code(
    op: DbOp | None,
    row: str,
    table: str,
    key: str,
    joins: list[tuple[str, str, str]],
) -> str:
    """One query for a row and the rows its foreign keys point at.

    ``joins`` are (attribute, joined table, alias or "") — an alias for a self-reference, as
    Drizzle needs ``alias(renders, "parent")`` to join ``renders`` to itself.
    """
    library = library_of(op)
    if library == "prisma":
        model = _model(op) if op else f"prisma.{table}"
        relations = ", ".join(
            f"{(alias or attr).removesuffix('Id')}: true" for attr, _, alias in joins
        )
        return (
            f"const row = await {model}.findUnique({{\n"
            f"  where: {{ id: {key} }},\n"
            f"  include: {{ {relations} }}, // one query (the relations of the schema)\n"
            "});"
        )
    if library in {"knex", "pg", "mysql2"}:
        sql_joins = "\n".join(
            f"  LEFT JOIN {other} {alias or other} ON {alias or other}.id = {table}.{attr}"
            for attr, other, alias in joins
        )
        placeholder = "$1" if library != "mysql2" else "?"
        handle = _handle(op, "pool" if library != "knex" else "knex")
        runner = "raw" if library == "knex" else "query"
        return (
            f"const row = await {handle}.{runner}(`\n"
            f"  SELECT {table}.*, ... FROM {table}\n{sql_joins}\n"
            f"  WHERE {table}.id = {placeholder}`, [{key}]);"
        )
    handle = _handle(op, "db")
    aliases = [f'const {alias} = alias({other}, "{alias}");' for _, other, alias in joins if alias]
    fields = [(row, table)] + [
        (alias or self_alias(attr), alias or other) for attr, other, alias in joins
    ]
    selected = ", ".join(name if name == value else f"{name}: {value}" for name, value in fields)
    left_joins = [
        f"  .leftJoin({alias or other}, eq({alias or other}.id, {table}.{attr}))"
        for attr, other, alias in joins
    ]
    return "\n".join(
        [
            'import { alias } from "drizzle-orm/pg-core";' if aliases else "",
            *aliases,
            "const [row] = await " + handle,
            f"  .select({{ {selected} }})",
            f"  .from({table})",
            *left_joins,
            f"  .where(eq({table}.id, {key}))",
            "  .limit(1); // one round trip",
        ]
    ).lstrip("\n")


def self_alias(attr: str) -> str:
    """``parentRenderId`` -> ``parent``, ``referenceRenderId`` -> ``reference``."""
    name = re.sub(r"(_?[Ii]d)$", "", attr)
    name = re.sub(r"(_render|Render)$", "", name)
    return name or attr


def combined_row_code(
    op: DbOp | None, table_a: str, table_b: str, col_a: str, col_b: str, key: str
) -> str:
    library = library_of(op)
    if library == "prisma":
        return (
            f"const row = await prisma.{table_a}.findFirst({{\n"
            f"  where: {{ {col_a}: {key} }},\n"
            f"  include: {{ {table_b}: true }}, // the relation between them, one query\n"
            "});"
        )
    if library in {"knex", "pg", "mysql2"}:
        handle = _handle(op, "pool" if library != "knex" else "knex")
        placeholder = "$1" if library != "mysql2" else "?"
        return (
            f"const row = await {handle}.{'raw' if library == 'knex' else 'query'}(`\n"
            f"  SELECT {table_a}.*, {table_b}.* FROM {table_a}\n"
            f"  LEFT JOIN {table_b} ON {table_b}.{col_b} = {table_a}.{col_a}\n"
            f"  WHERE {table_a}.{col_a} = {placeholder}`, [{key}]);"
        )
    return (
        f"const [row] = await {_handle(op, 'db')}\n"
        f"  .select({{ {table_a}, {table_b} }})\n"
        f"  .from({table_a})\n"
        f"  .leftJoin({table_b}, eq({table_b}.{col_b}, {table_a}.{col_a})) "
        "// plus the second query's other conditions\n"
        f"  .where(eq({table_a}.{col_a}, {key}))\n"
        "  .limit(1);"
    )


_WHERE = re.compile(r"[.\s{,]where\s*([(:])")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def where_text(op: DbOp) -> str:
    """The query's condition as written (``.where(and(eq(...), isNull(...)))``'s argument,
    Prisma's ``where: {...}``), when the excerpt holds it whole; "" otherwise."""
    match = next((m for m in _WHERE.finditer(op.text) if _own_where(op.text, m)), None)
    if match is None:
        return ""
    start = match.end()
    stack: list[str] = []
    quote = ""
    for index in range(start, len(op.text)):
        char = op.text[index]
        if quote:
            if char == quote and op.text[index - 1] != "\\":
                quote = ""
            continue
        if char in "'\"`":
            quote = char
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif stack and char == stack[-1]:
            stack.pop()
        elif not stack and (char in ")}" or (char == "," and match.group(1) == ":")):
            found = op.text[start:index].strip().rstrip(",").strip()
            # a callback (``where: (t, { eq }) => ...``) does not go into ``.where()``
            return "" if "=>" in found.split("(", 1)[0] or found.startswith("(") else found
    return ""


def _own_where(text: str, match: re.Match[str]) -> bool:
    """Whether a ``where`` is the query's own: a step of the chain (``.where(``, outside any
    bracket) or a key of the options object (``findMany({ where:``), not the ``where`` of an
    include, a ``with`` or a subquery, which picks other rows."""
    depth = 0
    quote = ""
    for index, char in enumerate(text[: match.start() + 1]):
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char in _CLOSERS:
            depth += 1
        elif char in ")]}":
            depth -= 1
    return depth == (0 if match.group(1) == "(" else 2)


def _dropped_conditions(op: DbOp) -> bool:
    """Conditions the ``==`` filters alone leave out (``isNull``, ``inArray``, relations)."""
    return bool(op.joins and op.library == "prisma") or any(
        f.op != "==" or not f.value for f in op.filters
    )


def count_code(op: DbOp, name: str, aggregate: str, language: str = "typescript") -> str:
    """``rows.length`` only: ``count()`` in SQL (Drizzle), ``.count`` (Prisma), ``count(*)``.
    The count keeps every condition of the query it replaces: the condition as written when
    the excerpt holds it, else the equality filters and a note that others are missing."""
    table = main_table(op)
    written = where_text(op)
    conditions = [
        f"eq({column_of(flt.table or table, flt.column)}, {flt.value})"
        for flt in op.filters
        if flt.op == "==" and flt.value
    ]
    rest = "/* and the query's other conditions */"
    if written:
        conditions = [written]
    elif _dropped_conditions(op):
        conditions.append(rest)
    library = op.library
    total = f"{name}{'Count' if aggregate == 'count' else 'Total'}"
    if library == "prisma":
        where = ", ".join(
            f"{f.column}: {f.value}" if f.value != f.column else f.column
            for f in op.filters
            if f.op == "=="
        )
        if _dropped_conditions(op):
            where = f"{where}, {rest}" if where else rest
        if written.startswith("{") and written.endswith("}"):
            where = written[1:-1].strip().rstrip(",").strip()
        elif written:
            where = ""  # ``where: buildBaseWhere(...)``: an expression, kept whole below
        elif not where and _WHERE.search(op.text):
            where = rest  # a where dbaudit could not read: never an empty one (every row)
        condition = f"{{ {where} }}" if where or not written else written
        call = "count" if aggregate == "count" else "aggregate"
        argument = (
            f"{{ where: {condition} }}"
            if aggregate == "count"
            else f"{{ where: {condition}, _sum: {{ ... }} }}"
        )
        return f"const {total} = await {_model(op)}.{call}({argument});"
    if library == "knex":
        knex = _handle(op, "knex")
        return f'const [{{ count: {total} }}] = await {knex}("{table}").where(...).count("id");'
    if library in {"pg", "mysql2"}:
        return (
            f"const {{ rows: [{{ {total} }}] }} = await {_handle(op, 'pool')}.query("
            f'"SELECT {aggregate}(*) AS \\"{total}\\" FROM {table} WHERE ...", [...]);'
        )
    where = conditions[0] if len(conditions) == 1 else f"and({', '.join(conditions)})"
    joins = "".join(f"\n  .innerJoin({j}, ...)" for j in op.joins)
    selected = "count()" if aggregate == "count" else "sum(...)"
    return (
        f"const [{{ {total} }}] = await {_handle(op, 'db')}\n"
        f"  .select({{ {total}: {selected} }}) // or {sql_count(language, aggregate)}\n"
        f"  .from({table})" + joins + (f"\n  .where({where})" if conditions else "") + ";"
    )


def first_row_code(op: DbOp) -> str:
    """The query as written, asking the database for the one row the caller keeps: Drizzle's
    and Knex's ``.limit(1)`` (before a ``.for("update")``, where SQL puts LIMIT), Prisma's
    ``findFirst``; "" for a statement whose text is not there whole."""
    text = op.text
    if not text or text.endswith("…"):
        return ""
    if op.library == "prisma":
        return re.sub(r"\.findMany\(", ".findFirst(", text, count=1) if ".findMany(" in text else ""
    if op.library in {"drizzle", "knex"} and not op.sql:
        # before a ``.for("update")`` (SQL puts LIMIT there) or the SQLite runner ``.get()``
        end = re.search(r"\.for(?:Update|Share)?\(|\s*\.(?:get|all)\(\)\s*$", text)
        at = end.start() if end else len(text)
        return f"{text[:at]}.limit(1){text[at:]}"
    return ""


def bounded_list_code(op: DbOp) -> str:
    """A list query with a page size and keyset pagination on the primary key."""
    table = main_table(op)
    library = op.library
    if op.sql and library in {"prisma", "drizzle"}:
        # a raw statement (``$queryRaw```, ``db.execute(sql`...`)``) keeps its SQL, given a page
        name = table if table == table.lower() else f'"{table}"'  # Prisma's "User"
        statement = (
            f"SELECT ... FROM {name} WHERE ... AND id > ${{after}} ORDER BY id LIMIT ${{pageSize}}"
        )
        if library == "prisma":
            return f"{_handle(op, 'prisma')}.$queryRaw`{statement}`"
        return f"{_handle(op, 'db')}.execute(sql`{statement}`)"
    if library == "prisma":
        return (
            f"{_model(op)}.findMany({{ where: {{ ... }}, orderBy: {{ id: 'asc' }}, "
            "take: pageSize, cursor: after ? { id: after } : undefined, skip: after ? 1 : 0 })"
        )
    if library == "knex":
        return (
            f'{_handle(op, "knex")}("{table}").where(...).andWhere("id", ">", after)'
            '.orderBy("id").limit(pageSize)'
        )
    if library in {"pg", "mysql2"}:
        return (
            f'{_handle(op, "pool")}.query("SELECT ... FROM {table} WHERE ... AND id > $1 '
            'ORDER BY id LIMIT $2", [after, pageSize])'
        )
    return (
        f"{_handle(op, 'db')}.select().from({table})"
        f".where(and(..., gt({table}.id, after))).orderBy(asc({table}.id)).limit(pageSize)"
    )
