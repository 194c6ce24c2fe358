"""Pure passes that pull the index-relevant shape out of one SQL statement.

What an index advisor needs to know about a query: the tables it reads, the filtered columns
with their operator and what they are compared to (a parameter, a constant, another column),
join columns, sort keys with direction, and the LIMIT. Parsing is sqlglot's PostgreSQL dialect;
the original text is never re-rendered for execution.

>>> shape = extract("SELECT * FROM renders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20")
>>> [(f.column, f.operator, f.value) for f in shape.filters]
[('user_id', '=', 'parameter')]
>>> [(k.column, k.descending) for k in shape.sort_keys], shape.limit
([('created_at', True)], 20)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from dbaudit.sql.fingerprint import StatementKind, quiet_parsing, statement_kind

ValueKind = Literal["parameter", "constant", "column", "expression", "subquery"]

EQUALITY_OPERATORS = frozenset({"=", "IN", "IS NULL"})
RANGE_OPERATORS = frozenset({"<", "<=", ">", ">=", "BETWEEN", "LIKE"})

_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}


class ExtractError(ValueError):
    """The statement could not be parsed; the message is one line."""


@dataclass(frozen=True, slots=True)
class ColumnRef:
    table: str | None  # the real table name (aliases resolved); None when ambiguous
    column: str


@dataclass(frozen=True, slots=True)
class Filter:
    table: str | None
    column: str
    operator: (
        str  # "=", "<>", "<", "<=", ">", ">=", "IN", "BETWEEN", "LIKE", "IS NULL", "IS NOT NULL"
    )
    value: ValueKind
    constant: str | None = None  # SQL text of a constant right-hand side ("TRUE", "'done'")

    @property
    def is_equality(self) -> bool:
        return self.operator in EQUALITY_OPERATORS

    @property
    def is_range(self) -> bool:
        return self.operator in RANGE_OPERATORS

    @property
    def is_constant_predicate(self) -> bool:
        """Usable as a partial index predicate: the same in every execution of the query."""
        return self.value == "constant" and self.operator != "LIKE"

    def predicate_sql(self) -> str:
        from dbaudit.schema.model import quote_identifier

        column = quote_identifier(self.column)
        if self.operator in ("IS NULL", "IS NOT NULL"):
            return f"{column} {self.operator}"
        if self.operator == "IN":
            return f"{column} IN {self.constant}"
        return f"{column} {self.operator} {self.constant}"


@dataclass(frozen=True, slots=True)
class Join:
    left: ColumnRef
    right: ColumnRef


@dataclass(frozen=True, slots=True)
class SortKey:
    table: str | None
    column: str
    descending: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True, slots=True)
class StatementShape:
    kind: StatementKind
    tables: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    joins: tuple[Join, ...] = ()
    sort_keys: tuple[SortKey, ...] = ()
    limit: int | None = None
    has_limit: bool = False  # True for LIMIT $1 too, where ``limit`` stays None
    set_columns: tuple[str, ...] = ()  # columns an UPDATE writes
    target_table: str | None = None  # the table an INSERT/UPDATE/DELETE writes

    @property
    def is_write(self) -> bool:
        return self.kind in ("insert", "update", "delete")

    def filters_on(self, table: str) -> tuple[Filter, ...]:
        return tuple(f for f in self.filters if f.table == table)


def parse(sql: str) -> exp.Expression:
    try:
        # a statement sqlglot only reads as a command (``CREATE EXTENSION ...``) is logged as
        # unsupported syntax: the audit's stderr is no place for it
        with quiet_parsing():
            statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except SqlglotError as error:  # ParseError, and TokenError for text that is no SQL at all
        raise ExtractError(f"cannot parse SQL: {str(error).splitlines()[0][:200]}") from None
    if len(statements) != 1:
        raise ExtractError(f"expected one statement, found {len(statements)}")
    return cast(exp.Expression, statements[0])


def table_aliases(tree: exp.Expression) -> dict[str, str]:
    """Alias (or bare name) -> real table name, for every table the statement mentions."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if not table.name or table.name in ctes:
            continue
        aliases[table.alias_or_name] = table.name
        aliases.setdefault(table.name, table.name)
    return aliases


def resolve_column(
    column: exp.Column,
    aliases: Mapping[str, str],
    schema: Mapping[str, Sequence[str]] | None,
) -> ColumnRef:
    if column.table:
        return ColumnRef(aliases.get(column.table), column.name)
    tables = _local_tables(column) or sorted(set(aliases.values()))
    if len(tables) == 1:
        return ColumnRef(tables[0], column.name)
    if schema is not None:
        owners = [t for t in tables if column.name in schema.get(t, ())]
        if len(owners) == 1:
            return ColumnRef(owners[0], column.name)
    return ColumnRef(None, column.name)


_SCOPES = (exp.Select, exp.Update, exp.Delete, exp.Insert)


def _local_tables(column: exp.Column) -> list[str]:
    """Tables of the innermost SELECT/UPDATE/DELETE around ``column`` (not of its subqueries)."""
    scope = column.find_ancestor(*_SCOPES)
    if scope is None:
        return []
    ctes = {cte.alias_or_name for cte in scope.root().find_all(exp.CTE)}
    names = {
        table.name
        for table in scope.find_all(exp.Table)
        if table.name and table.name not in ctes and table.find_ancestor(*_SCOPES) is scope
    }
    return sorted(names)


def conjuncts(condition: exp.Expression | None) -> Iterator[exp.Expression]:
    """Top-level AND terms; an OR stays one term (it is no simple index key)."""
    if condition is None:
        return
    node = cast(exp.Expression, condition.unnest())
    if isinstance(node, exp.And):
        yield from conjuncts(cast(exp.Expression, node.left))
        yield from conjuncts(cast(exp.Expression, node.right))
    else:
        yield node


def _value_kind(node: exp.Expression) -> ValueKind:
    node = cast(exp.Expression, node.unnest())
    if isinstance(node, exp.Parameter | exp.Placeholder):
        return "parameter"
    if isinstance(node, exp.Literal | exp.Boolean | exp.Null):
        return "constant"
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "constant"
    if isinstance(node, exp.Cast):
        return _value_kind(node.this)
    if isinstance(node, exp.Column):
        return "column"
    if isinstance(node, exp.Query | exp.Subquery):
        return "subquery"
    return "expression"


def _constant_text(node: exp.Expression) -> str:
    return node.sql(dialect="postgres")


def _term_filters(
    term: exp.Expression,
    aliases: Mapping[str, str],
    schema: Mapping[str, Sequence[str]] | None,
) -> Iterator[Filter | Join]:
    negated = False
    if isinstance(term, exp.Not):
        negated, term = True, term.this.unnest()
    if isinstance(term, exp.Column):  # WHERE is_public / WHERE NOT is_deleted
        ref = resolve_column(term, aliases, schema)
        yield Filter(ref.table, ref.column, "=", "constant", "FALSE" if negated else "TRUE")
        return
    if isinstance(term, exp.Is) and isinstance(term.this, exp.Column):
        ref = resolve_column(term.this, aliases, schema)
        is_not = negated != bool(term.args.get("negate"))
        if isinstance(term.expression, exp.Null):
            operator = "IS NOT NULL" if is_not else "IS NULL"
            yield Filter(ref.table, ref.column, operator, "constant")
        return
    if negated:
        return  # NOT (x = 1), NOT IN: no index key
    if isinstance(term, exp.In) and isinstance(term.this, exp.Column):
        ref = resolve_column(term.this, aliases, schema)
        if term.args.get("query") is not None:
            yield Filter(ref.table, ref.column, "IN", "subquery")
            return
        values = term.expressions
        kinds = {_value_kind(v) for v in values}
        kind: ValueKind = kinds.pop() if len(kinds) == 1 else "expression"
        constant = None
        if kind == "constant":
            constant = "(" + ", ".join(_constant_text(v) for v in values) + ")"
        yield Filter(ref.table, ref.column, "IN", kind, constant)
        return
    if isinstance(term, exp.Between) and isinstance(term.this, exp.Column):
        ref = resolve_column(term.this, aliases, schema)
        yield Filter(ref.table, ref.column, "BETWEEN", _value_kind(term.args["low"]))
        return
    if isinstance(term, exp.Like | exp.ILike) and isinstance(term.this, exp.Column):
        ref = resolve_column(term.this, aliases, schema)
        # Only a case-sensitive LIKE can use a btree (with a text_pattern_ops or C collation).
        like = "LIKE" if isinstance(term, exp.Like) else "ILIKE"
        yield Filter(ref.table, ref.column, like, _value_kind(term.expression))
        return
    comparison = _COMPARISONS.get(type(term))
    if comparison is None:
        return
    operator = comparison
    binary = cast(exp.Binary, term)
    left = cast(exp.Expression, binary.left.unnest())
    right = cast(exp.Expression, binary.right.unnest())
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, operator = right, left, _FLIPPED[operator]
    if not isinstance(left, exp.Column):
        return
    ref = resolve_column(left, aliases, schema)
    if isinstance(right, exp.Column):
        other = resolve_column(right, aliases, schema)
        if operator == "=" and other.table != ref.table:
            yield Join(ref, other)
        return
    if isinstance(right, exp.Any):  # col = ANY($1): an IN list in one parameter
        yield Filter(ref.table, ref.column, "IN", _value_kind(right.this))
        return
    kind = _value_kind(right)
    constant = _constant_text(right) if kind == "constant" else None
    if kind == "constant" and isinstance(right, exp.Null):
        return  # "= NULL" is never true
    yield Filter(ref.table, ref.column, operator, kind, constant)


def filters_and_joins(
    tree: exp.Expression, schema: Mapping[str, Sequence[str]] | None = None
) -> tuple[tuple[Filter, ...], tuple[Join, ...]]:
    """Filters and equi-joins from every WHERE and JOIN ... ON of the statement."""
    aliases = table_aliases(tree)
    filters: list[Filter] = []
    joins: list[Join] = []
    conditions: list[exp.Expression] = [w.this for w in tree.find_all(exp.Where)]
    conditions += [j.args["on"] for j in tree.find_all(exp.Join) if j.args.get("on")]
    for condition in conditions:
        for term in conjuncts(condition):
            for item in _term_filters(term, aliases, schema):
                target = filters if isinstance(item, Filter) else joins
                if item not in target:
                    target.append(item)  # type: ignore[arg-type]
    return tuple(filters), tuple(joins)


def sort_keys(
    tree: exp.Expression, schema: Mapping[str, Sequence[str]] | None = None
) -> tuple[SortKey, ...]:
    """The top-level ORDER BY as column keys; an expression key ends the usable prefix."""
    order = tree.args.get("order")
    if order is None:
        return ()
    aliases = table_aliases(tree)
    keys: list[SortKey] = []
    for ordered in order.expressions:
        target = ordered.this.unnest() if isinstance(ordered, exp.Ordered) else ordered
        if not isinstance(target, exp.Column):
            break
        ref = resolve_column(target, aliases, schema)
        descending = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        # sqlglot fills nulls_first with the dialect default; keep it only when explicit.
        explicit = None if nulls_first is None or bool(nulls_first) == descending else nulls_first
        keys.append(SortKey(ref.table, ref.column, descending, explicit))
    return tuple(keys)


def limit_of(tree: exp.Expression) -> tuple[int | None, bool]:
    limit = tree.args.get("limit")
    if limit is None:
        return None, False
    value = limit.expression if isinstance(limit, exp.Limit) else limit
    if isinstance(value, exp.Literal) and value.is_int:
        return int(value.this), True
    return None, True


def _write_target(tree: exp.Expression) -> str | None:
    target = tree.this if isinstance(tree, exp.Insert | exp.Update | exp.Delete) else None
    if isinstance(target, exp.Schema):  # INSERT INTO t (cols)
        target = target.this
    return target.name if isinstance(target, exp.Table) else None


def extract(sql: str, *, schema: Mapping[str, Sequence[str]] | None = None) -> StatementShape:
    """The index-relevant shape of one statement; ``schema`` (table -> columns) resolves
    unqualified columns in multi-table statements."""
    tree = parse(sql)
    kind = statement_kind(tree)
    filters, joins = filters_and_joins(tree, schema)
    limit, has_limit = limit_of(tree)
    set_columns: tuple[str, ...] = ()
    if isinstance(tree, exp.Update):
        set_columns = tuple(
            e.left.name for e in tree.expressions if isinstance(e, exp.EQ) and e.left.name
        )
    tables = tuple(dict.fromkeys(table_aliases(tree).values()))
    return StatementShape(
        kind=kind,
        tables=tables,
        filters=filters,
        joins=joins,
        sort_keys=sort_keys(tree, schema) if kind == "select" else (),
        limit=limit,
        has_limit=has_limit,
        set_columns=set_columns,
        target_table=_write_target(tree),
    )
