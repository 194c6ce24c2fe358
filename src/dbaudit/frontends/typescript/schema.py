"""Drizzle schema files -> ORM models for the rules and tables for the index review.

``export const renders = pgTable("renders", { id: serial("id").primaryKey(), chainId:
integer("chain_id").references(() => renderChains.id), ... }, (t) => [index("i").on(t.chainId)])``
gives a ``ModelClass`` named ``renders`` (the name code uses in queries) over table
``renders`` with a foreign key ``chainId`` -> ``render_chains.id``, and a
``dbaudit.schema.Table`` with SQL column names, the index and the foreign key, so the index
review works for a TypeScript app without a database. ``relations(renders, ({ one, many }) =>
...)`` adds relationships; Drizzle never loads a relation lazily (only ``with:`` loads one),
so they carry ``lazy="noload"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from tree_sitter import Node

from dbaudit.frontends.typescript.queries import Source, arguments
from dbaudit.frontends.typescript.syntax import unwrap
from dbaudit.model import ForeignKey, ModelClass, Relationship, Span
from dbaudit.schema.model import Column, Index, IndexKey, Schema, Table
from dbaudit.schema.model import ForeignKey as SchemaForeignKey

TABLE_FACTORIES = frozenset({"pgTable", "mysqlTable", "sqliteTable"})
INDEX_FACTORIES = {"index": False, "uniqueIndex": True}


@dataclass(slots=True)
class _Column:
    prop: str  # the JS property, what queries use
    name: str  # the SQL column name
    type: str
    nullable: bool = True
    primary: bool = False
    unique: bool = False
    references: tuple[str, str] | None = None  # (table variable, property)


@dataclass(slots=True)
class DrizzleTable:
    variable: str
    name: str
    span: Span
    columns: list[_Column] = field(default_factory=list)
    # (name, keys, unique, predicate): a key is a property, or an expression from ``sql``
    # with ``${.prop}`` where it reads a column; the predicate is written the same way
    indexes: list[tuple[str, tuple[str, ...], bool, str]] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)


def read_tables(statements: Sequence[Node], src: Source) -> list[DrizzleTable]:
    tables: dict[str, DrizzleTable] = {}
    relation_calls: list[tuple[str, Node]] = []
    for name, value in _module_constants(statements, src):
        callee = _callee(value, src)
        args = arguments(value.child_by_field_name("arguments"))
        if callee in TABLE_FACTORIES and len(args) >= 2:
            table = DrizzleTable(name, _string(args[0], src) or name, _span(value))
            _columns(unwrap(args[1]), src, table)
            if len(args) >= 3:
                _extras(unwrap(args[2]), src, table)
            tables[name] = table
        elif callee == "relations" and len(args) >= 2:
            relation_calls.append((src.text(args[0]), unwrap(args[1])))
    for owner, builder in relation_calls:
        if owner in tables:
            tables[owner].relationships.extend(_relations(builder, src))
    return list(tables.values())


def drizzle_models(statements: Sequence[Node], src: Source) -> tuple[ModelClass, ...]:
    if b"Table(" not in src.data:
        return ()
    tables = read_tables(statements, src)
    sql_names = {t.variable: t.name for t in tables}
    models = []
    for table in tables:
        fks = tuple(
            ForeignKey(c.prop, sql_names.get(c.references[0], c.references[0]), c.references[1])
            for c in table.columns
            if c.references is not None
        )
        models.append(
            ModelClass(
                name=table.variable,
                library="drizzle",
                table=table.name,
                span=table.span,
                columns=tuple(c.prop for c in table.columns),
                foreign_keys=fks,
                relationships=tuple(table.relationships),
            )
        )
    return tuple(models)


def drizzle_schema_tables(statements: Sequence[Node], src: Source) -> tuple[Table, ...]:
    """The same tables in the schema model (SQL names), for the index review."""
    tables = read_tables(statements, src)
    by_variable = {t.variable: t for t in tables}
    out = []
    for table in tables:
        sql_of = {c.prop: c.name for c in table.columns}
        indexes: list[Index] = []
        primary = [c.name for c in table.columns if c.primary]
        if primary:
            indexes.append(
                Index(
                    f"{table.name}_pkey",
                    table.name,
                    tuple(IndexKey(c, c) for c in primary),
                    unique=True,
                    primary=True,
                )
            )
        for column in table.columns:
            if column.unique and not column.primary:
                indexes.append(
                    Index(
                        f"{table.name}_{column.name}_key",
                        table.name,
                        (IndexKey(column.name, column.name),),
                        unique=True,
                    )
                )
        for name, props, unique, predicate in table.indexes:
            keys = tuple(
                IndexKey(_columns_in(p[1:], sql_of), None)
                if p.startswith(_EXPRESSION)
                else IndexKey(sql_of.get(p, p), sql_of.get(p, p))
                for p in props
            )
            where = _columns_in(predicate, sql_of) if predicate else None
            indexes.append(Index(name, table.name, keys, unique=unique, predicate=where))
        fks = []
        for column in table.columns:
            if column.references is None:
                continue
            target = by_variable.get(column.references[0])
            target_name = target.name if target is not None else column.references[0]
            target_column = column.references[1]
            if target is not None:
                target_column = {c.prop: c.name for c in target.columns}.get(
                    target_column, target_column
                )
            fks.append(
                SchemaForeignKey(
                    f"{table.name}_{column.name}_fkey",
                    table.name,
                    (column.name,),
                    target_name,
                    (target_column,),
                )
            )
        out.append(
            Table(
                name=table.name,
                columns=tuple(Column(c.name, c.type, c.nullable) for c in table.columns),
                indexes=tuple(indexes),
                foreign_keys=tuple(fks),
            )
        )
    return tuple(out)


# ------------------------------------------------------------------------------ helpers


def _module_constants(statements: Sequence[Node], src: Source) -> Iterator[tuple[str, Node]]:
    for node in statements:
        if node.type == "export_statement":
            declaration = node.child_by_field_name("declaration")
            if declaration is None:
                continue
            node = declaration
        if node.type not in {"lexical_declaration", "variable_declaration"}:
            continue
        for declarator in node.named_children:
            name = declarator.child_by_field_name("name")
            value = declarator.child_by_field_name("value")
            if name is not None and value is not None and name.type == "identifier":
                inner = unwrap(value)
                if inner.type == "call_expression":
                    yield src.text(name), inner


def _callee(node: Node, src: Source) -> str:
    function = node.child_by_field_name("function")
    return src.text(unwrap(function)).rsplit(".", 1)[-1] if function is not None else ""


def _string(node: Node, src: Source) -> str:
    node = unwrap(node)
    text = src.text(node)
    if node.type in {"string", "template_string"} and len(text) >= 2:
        return text[1:-1]
    return ""


def _span(node: Node) -> Span:
    return Span(node.start_point[0] + 1, node.end_point[0] + 1, node.start_point[1])


def _chain(node: Node, src: Source) -> list[tuple[str, tuple[Node, ...]]]:
    """``integer("x").notNull()`` -> [("integer", (x,)), ("notNull", ())], innermost first."""
    links: list[tuple[str, tuple[Node, ...]]] = []
    current = unwrap(node)
    while current.type == "call_expression":
        function = current.child_by_field_name("function")
        args = arguments(current.child_by_field_name("arguments"))
        if function is None:
            break
        function = unwrap(function)
        if function.type == "member_expression":
            prop = function.child_by_field_name("property")
            links.append((src.text(prop) if prop is not None else "", args))
            obj = function.child_by_field_name("object")
            if obj is None:
                break
            current = unwrap(obj)
        else:
            links.append((src.text(function).rsplit(".", 1)[-1], args))
            break
    links.reverse()
    return links


def _columns(node: Node, src: Source, table: DrizzleTable) -> None:
    if node.type != "object":
        return
    for pair in node.named_children:
        if pair.type != "pair":
            continue
        key = pair.child_by_field_name("key")
        value = pair.child_by_field_name("value")
        if key is None or value is None:
            continue
        prop = src.text(key).strip("'\"")
        links = _chain(value, src)
        if not links:
            continue
        type_name, type_args = links[0]
        column = _Column(prop, (_string(type_args[0], src) if type_args else "") or prop, type_name)
        for method, args in links[1:]:
            if method == "notNull":
                column.nullable = False
            elif method == "primaryKey":
                column.primary = True
                column.nullable = False
            elif method == "unique":
                column.unique = True
            elif method == "references" and args:
                target = unwrap(args[0])
                if target.type == "arrow_function":
                    body = target.child_by_field_name("body")
                    target = unwrap(body) if body is not None else target
                text = src.text(target)
                if "." in text:
                    variable, _, prop_name = text.rpartition(".")
                    column.references = (variable.rsplit(".", 1)[-1], prop_name)
        table.columns.append(column)


def _extras(node: Node, src: Source, table: DrizzleTable) -> None:
    """The third argument: ``(t) => ({ i: index("i").on(t.a) })`` or ``(t) => [ ... ]``."""
    if node.type == "arrow_function":
        body = node.child_by_field_name("body")
        if body is None:
            return
        node = unwrap(body)
        if node.type == "statement_block":
            returned = next((c for c in node.named_children if c.type == "return_statement"), None)
            if returned is None or not returned.named_children:
                return
            node = unwrap(returned.named_children[0])
    items: list[Node] = []
    if node.type == "object":
        for pair in node.named_children:
            value = pair.child_by_field_name("value") if pair.type == "pair" else None
            if value is not None:
                items.append(value)
    elif node.type == "array":
        items = list(node.named_children)
    for item in items:
        links = _chain(item, src)
        if not links or links[0][0] not in INDEX_FACTORIES:
            continue
        name = _string(links[0][1][0], src) if links[0][1] else ""
        props: list[str] = []
        predicate = ""
        for method, args in links[1:]:
            if method == "on":
                for arg in args:
                    expression = _sql_template(unwrap(arg), src)
                    props.append(
                        _EXPRESSION + expression if expression else src.text(arg).rsplit(".", 1)[-1]
                    )
            elif method == "where" and args:
                predicate = _sql_template(unwrap(args[0]), src)
        if props:
            plain = [p for p in props if not p.startswith(_EXPRESSION)]
            index_name = name or f"{table.name}_{'_'.join(plain)}_idx"
            table.indexes.append(
                (index_name, tuple(props), INDEX_FACTORIES[links[0][0]], predicate)
            )


_EXPRESSION = "="  # marks an index key that is an expression, not a property
_INTERPOLATED_COLUMN = re.compile(r"\$\{\s*[\w$]+\.([\w$]+)\s*\}")
# ``${.email}``: no JavaScript interpolation reads so, and no SQL braces (``'{vip}'``) look so
_PLACEHOLDER = re.compile(r"\$\{\.([\w$]+)\}")


def _sql_template(node: Node, src: Source) -> str:
    """``sql`LOWER(${t.email})` `` -> ``LOWER(${.email})``; "" for anything else."""
    if node.type != "call_expression":
        return ""
    function = node.child_by_field_name("function")
    template = node.child_by_field_name("arguments")
    if function is None or src.text(function) != "sql" or template is None:
        return ""
    if template.type != "template_string":
        return ""
    return _INTERPOLATED_COLUMN.sub(r"${.\1}", src.text(template)[1:-1])


def _columns_in(expression: str, sql_of: dict[str, str]) -> str:
    """``LOWER(${.email})`` with the property's SQL column name: ``LOWER(email)``."""
    return _PLACEHOLDER.sub(lambda m: sql_of.get(m.group(1), m.group(1)), expression)


def _relations(builder: Node, src: Source) -> Iterator[Relationship]:
    if builder.type != "arrow_function":
        return
    body = builder.child_by_field_name("body")
    if body is None:
        return
    body = unwrap(body)
    if body.type != "object":
        return
    for pair in body.named_children:
        if pair.type != "pair":
            continue
        key = pair.child_by_field_name("key")
        value = pair.child_by_field_name("value")
        if key is None or value is None:
            continue
        value = unwrap(value)
        callee = _callee(value, src) if value.type == "call_expression" else ""
        if callee not in {"one", "many"}:
            continue
        args = arguments(value.child_by_field_name("arguments"))
        target = src.text(args[0]) if args else ""
        yield Relationship(src.text(key), target, "noload", callee == "many", _span(pair))


def schema_from_sources(sources: Iterable[tuple[str, str]]) -> Schema:
    """One ``Schema`` from Drizzle schema files given as (path, text), for the index review.

    Files without ``pgTable(`` are passed over; a file that cannot be read as TypeScript adds
    a note instead of stopping the others. ``source`` is "ddl" (declared, not live) until the
    schema model names Drizzle as a source of its own.
    """
    from dbaudit.frontends.typescript.syntax import dialect_for, parse_recovering

    tables: dict[str, Table] = {}
    notes: list[str] = []
    for path, text in sources:
        if "Table(" not in text:
            continue
        parsed = parse_recovering(text.encode("utf-8", "surrogatepass"), dialect_for(path))
        if parsed.has_error:
            notes.append(f"{path}: syntax errors; tables read where the tree allowed")
        for table in drizzle_schema_tables(parsed.statements, Source(parsed.data)):
            if table.name in tables:
                notes.append(f"{path}: table {table.name} declared again; the first one is kept")
                continue
            tables[table.name] = table
    return Schema(tables=tuple(tables.values()), source="ddl", notes=tuple(notes))
