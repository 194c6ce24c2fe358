"""The static audit's database operations as a workload for the index advisor.

When ``dbaudit audit --db`` has neither a runtime profile nor ``pg_stat_statements`` to say
what the application sends, the program model does: every ``DbOp`` the frontends found (its
kind, table, filter columns, sort keys and whether it is bounded) becomes one parameterized
statement, e.g. ``SELECT * FROM renders WHERE project_id = $1 ORDER BY created_at DESC LIMIT
20``, labelled with its function and ``file:line``.

Two steps, both pure:

1. :func:`collect` runs with the whole-program analysis (the call graph is needed) and keeps
   what step 2 needs in small picklable records (:class:`ProgramFacts`), cached with the
   analysis. Test and migration code is left out: it runs once, not per request.
2. :func:`build` writes the statements against the database's own schema. ORM names map to
   the database's (``__tablename__``, Django's ``db_table`` and ``db_column``, a foreign key
   field ``project`` stored as ``project_id``, a Drizzle property ``userId`` stored as
   ``user_id``); an operation on a table or column the database does not have, or whose SQL is
   built at run time, is skipped with its reason.

Frequency: a statement counts once, and ``LOOP_WEIGHT`` times more for each loop it runs in,
in its own function or in a caller that calls it from a loop (the call graph sums the callers),
as if each loop walked ``LOOP_WEIGHT`` items. The figure only ranks statements against each
other; a runtime profile or ``pg_stat_statements`` gives real counts. A bounded query
(``.limit(n)``, ``.first()``) is written with ``LIMIT 20``, a typical page: the model knows that
it is bounded, not the bound.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dbaudit.model import Filter, ModelClass
from dbaudit.schema.model import ForeignKey, Schema, Table, quote_identifier

if TYPE_CHECKING:  # the records below are imported by every static audit: keep that light
    from dbaudit.analysis.program import Program
    from dbaudit.indexes.workload import WorkloadQuery

LOOP_WEIGHT = 10.0
# a statement's weight stops growing here (three nested loops): past it, the estimate says
# more about the model than about the application
MAX_WEIGHT = LOOP_WEIGHT**3
DEFAULT_LIMIT = 20
STATEMENT_KINDS = frozenset({"select", "count", "stream", "insert", "update", "delete", "raw"})
_DYNAMIC_TABLE = "<dynamic>"
_SHORTENED = "…"  # the frontend's mark on a SQL literal it had to shorten

# Django lookups (``created__gte``): the part after the last ``__`` when it is one of these
_LOOKUPS = frozenset(
    {
        "exact",
        "iexact",
        "contains",
        "icontains",
        "in",
        "gt",
        "gte",
        "lt",
        "lte",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "range",
        "isnull",
    }
)
_COMPARISONS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "gt": ">", "gte": ">=", "lt": "<"}
_COMPARISONS |= {"lte": "<="}
_LIKE = frozenset({"like", "contains", "startswith", "endswith"})
_ILIKE = frozenset({"ilike", "icontains", "istartswith", "iendswith"})
_NONE = frozenset({"None", "null", "NULL", "undefined"})
_ORDER_KEY = re.compile(
    r"^(?:(?P<wrap>desc|asc)\(\s*)?(?P<minus>-)?(?:(?P<owner>[A-Za-z_]\w*)\.)?"
    r"(?P<column>[A-Za-z_]\w*)(?:\.(?P<method>desc|asc)\(\))?\s*\)?$"
)


@dataclass(frozen=True, slots=True)
class StaticOperation:
    """One database operation of the program model, with what a statement needs."""

    path: str
    line: int
    function: str
    kind: str
    tables: tuple[str, ...]  # model class names or SQL table names, the main one first
    filters: tuple[Filter, ...] = ()
    order_by: tuple[str, ...] = ()
    has_limit: bool = False
    columns: tuple[str, ...] = ()
    joins: tuple[str, ...] = ()
    aggregate: tuple[str, ...] = ()
    group_by: bool = False
    sql: str = ""
    calls: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.function or '<module>'} ({self.path}:{self.line})"


@dataclass(frozen=True, slots=True)
class ProgramFacts:
    """What the static audit keeps of the program for the database review."""

    operations: tuple[StaticOperation, ...] = ()
    models: tuple[ModelClass, ...] = ()
    # (library, path) of each file that declares ORM models: "sqlalchemy", "django", "drizzle"
    model_files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TableNames:
    """How one ORM model's names are spelled in the database."""

    table: str
    columns: Mapping[str, str] = field(default_factory=dict)  # attribute -> column, if renamed


@dataclass(frozen=True, slots=True)
class SkippedOperation:
    label: str
    reason: str


@dataclass(frozen=True, slots=True)
class ColumnUse:
    """A column a written statement filters or joins on, so a report can say who needs an
    index on it."""

    table: str
    column: str
    label: str
    calls: float


@dataclass(frozen=True, slots=True)
class StaticStatement:
    sql: str
    calls: float
    label: str


@dataclass(frozen=True, slots=True)
class StaticWorkload:
    statements: tuple[StaticStatement, ...]  # one per operation written, in operation order
    skipped: tuple[SkippedOperation, ...]
    operations: int  # operations considered (written or skipped)
    uses: tuple[ColumnUse, ...] = ()

    @property
    def queries(self) -> tuple[WorkloadQuery, ...]:
        """The advisor's workload: one query per statement text, calls added up."""
        from dbaudit.indexes.workload import WorkloadQuery, merge

        return merge(
            WorkloadQuery(sql=s.sql, calls=s.calls, source="static", label=s.label)
            for s in self.statements
        )

    def problems(self, examples: int = 3) -> list[str]:
        """One line per reason, naming a few of the operations it skipped."""
        by_reason: dict[str, list[str]] = defaultdict(list)
        for skipped in self.skipped:
            by_reason[skipped.reason].append(skipped.label)
        lines = []
        for reason, labels in by_reason.items():
            shown = ", ".join(labels[:examples])
            more = f" and {len(labels) - examples} more" if len(labels) > examples else ""
            lines.append(
                f"static workload: {len(labels)} operation(s) left out, {reason}: {shown}{more}"
            )
        return lines


# -- step 1: what the analysis keeps ---------------------------------------------------------


def collect(program: Program) -> ProgramFacts:
    """The operations (weighed by the loops around them) and the ORM models of ``program``."""
    from dbaudit.analysis.program import is_one_off_code, significant_loops

    weights = _CallerWeights(program)
    operations = []
    for ref in program.functions:
        if is_one_off_code(ref.module.path):
            continue
        fn = ref.function
        for op in fn.db_ops:
            if op.kind not in STATEMENT_KINDS:
                continue
            own = LOOP_WEIGHT ** len(significant_loops(fn, op.loops))
            operations.append(
                StaticOperation(
                    path=ref.module.path,
                    line=op.span.line,
                    function=fn.qualname,
                    kind=op.kind,
                    tables=op.tables,
                    filters=op.filters,
                    order_by=op.order_by,
                    has_limit=op.has_limit,
                    columns=op.columns,
                    joins=op.joins,
                    aggregate=op.aggregate,
                    group_by=op.group_by,
                    sql=op.sql,
                    calls=min(MAX_WEIGHT, own * weights.of(ref.id)),
                )
            )
    operations.sort(key=lambda o: (o.path, o.line))
    model_files = tuple(
        (module.models[0].library, module.path) for module in program.modules if module.models
    )
    return ProgramFacts(tuple(operations), tuple(program.models.values()), model_files)


class _CallerWeights:
    """How often a function runs per run of the code that calls it: the sum over its call
    sites of the caller's weight times ``LOOP_WEIGHT`` per loop around the call."""

    def __init__(self, program: Program) -> None:
        from dbaudit.analysis.program import significant_loops

        self._callers: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for ref in program.functions:
            for call, target in program.graph.callees(ref):
                loops = len(significant_loops(ref.function, call.loops))
                self._callers[target.id].append((ref.id, loops))
        self._memo: dict[str, float] = {}

    def of(self, function_id: str) -> float:
        return self._weight(function_id, frozenset())

    def _weight(self, function_id: str, path: frozenset[str]) -> float:
        known = self._memo.get(function_id)
        if known is not None:
            return known
        callers = self._callers.get(function_id)
        if not callers or function_id in path or len(path) > 32:
            return 1.0  # an entry point, or recursion: counted once
        inner = path | {function_id}
        total = sum(self._weight(c, inner) * LOOP_WEIGHT**loops for c, loops in callers)
        weight = min(MAX_WEIGHT, total)
        if not path:
            self._memo[function_id] = weight
        return weight


# -- step 2: statements in the database's names ----------------------------------------------


def model_names(
    models: Iterable[ModelClass], django: Mapping[str, tuple[str, Mapping[str, str]]] | None = None
) -> dict[str, TableNames]:
    """Model class name -> its names in the database. ``django`` comes from the Django model
    loader (``db_table``, ``db_column``), which knows what the program model does not."""
    names: dict[str, TableNames] = {}
    for model in models:
        if model.library == "django" and django and model.name in django:
            table, columns = django[model.name]
            names[model.name] = TableNames(table, dict(columns))
        else:
            names[model.name] = TableNames(model.table)
    return names


def build(
    facts: ProgramFacts, schema: Schema, names: Mapping[str, TableNames] | None = None
) -> StaticWorkload:
    """The workload of ``facts`` against ``schema`` (the database's), with what was left out."""
    names = names if names is not None else model_names(facts.models)
    statements: list[StaticStatement] = []
    skipped: list[SkippedOperation] = []
    uses: list[ColumnUse] = []
    for operation in facts.operations:
        writer = _Writer(operation, schema, names)
        written = writer.statement()
        if isinstance(written, str):
            statements.append(StaticStatement(written, operation.calls, operation.label))
            uses += [
                ColumnUse(table, column, operation.label, operation.calls)
                for table, column in dict.fromkeys(writer.used)
            ]
        else:
            skipped.append(SkippedOperation(operation.label, written.reason))
    return StaticWorkload(tuple(statements), tuple(skipped), len(facts.operations), tuple(uses))


@dataclass(frozen=True, slots=True)
class _Skip:
    reason: str


def snake_case(name: str) -> str:
    """``userId`` -> ``user_id``, the column a camelCase property is usually stored in.

    >>> snake_case("currentPeriodEnd")
    'current_period_end'
    """
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class _Writer:
    """One operation as one statement, or the reason it cannot be written."""

    def __init__(self, operation: StaticOperation, schema: Schema, names: Mapping[str, TableNames]):
        self.op = operation
        self.schema = schema
        self.names = names
        self.parameters = 0
        self.joined: dict[str, Table] = {}  # table name -> table, for joins
        self.used: list[tuple[str, str]] = []  # (table, column) filtered or joined on

    def statement(self) -> str | _Skip:
        op = self.op
        if op.sql:
            return self._raw()
        if op.kind == "raw":
            return _Skip("its SQL is built at run time")
        # ``select(func.count()).select_from(Render)`` names its table only as a join
        named = op.tables or op.joins or tuple(f.table for f in op.filters if f.table)
        if not named:
            return _Skip("its table is not known statically")
        main = self._table(named[0])
        if isinstance(main, _Skip):
            return main
        join_sql = self._joins(main)
        if isinstance(join_sql, _Skip):
            return join_sql
        where = self._where(main)
        if isinstance(where, _Skip):
            return where
        target = _qualified(main)
        if op.kind == "insert":
            return self._insert(main)
        if op.kind == "update":
            return self._update(main, where)
        if op.kind == "delete":
            return f"DELETE FROM {target}{where}"
        if op.kind == "count" or (op.aggregate and not op.group_by):
            # one number: no order and no page, whatever the ORM call chain also said
            return f"SELECT count(*) FROM {target}{join_sql}{where}"
        # rows (with per-group aggregates or not): the filter, join and sort decide the index
        selected = f"{target}.*" if join_sql else "*"
        order = self._order(main)
        limit = f" LIMIT {DEFAULT_LIMIT}" if op.has_limit else ""
        return f"SELECT {selected} FROM {target}{join_sql}{where}{order}{limit}"

    # -- names

    def _table(self, name: str) -> Table | _Skip:
        if name == _DYNAMIC_TABLE:
            return _Skip("its table is chosen at run time")
        mapped = self.names.get(name)
        candidates = [mapped.table] if mapped else []
        candidates += [name, snake_case(name)]
        for candidate in candidates:
            table = self.schema.table(candidate)
            if table is not None:
                return table
        return _Skip(f"table {candidates[0]} is not in the database")

    def _owner_table(self, owner: str, main: Table) -> Table | None:
        """The table a filter or sort key names (a model class, a table, or "" for main)."""
        if not owner:
            return main
        mapped = self.names.get(owner)
        for candidate in ([mapped.table] if mapped else []) + [owner, snake_case(owner)]:
            if candidate == main.name:
                return main
            if candidate in self.joined:
                return self.joined[candidate]
        return None

    def _column(self, attribute: str, table: Table, owner: str = "") -> str | None:
        if attribute == "pk":
            primary = next((i for i in table.indexes if i.primary), None)
            return primary.columns[0] if primary and primary.columns[0] else "id"
        mapped = self._names_of(table, owner)
        candidates = [mapped.columns[attribute]] if mapped and attribute in mapped.columns else []
        snake = snake_case(attribute)
        candidates += [attribute, snake, f"{attribute}_id", f"{snake}_id"]
        return next((c for c in candidates if table.column(c) is not None), None)

    def _names_of(self, table: Table, owner: str) -> TableNames | None:
        if owner in self.names:
            return self.names[owner]
        return next((n for n in self.names.values() if n.table == table.name), None)

    def _ref(self, table: Table, column: str) -> str:
        quoted = quote_identifier(column)
        return f"{_qualified(table)}.{quoted}" if self.joined else quoted

    def _parameter(self) -> str:
        self.parameters += 1
        return f"${self.parameters}"

    # -- clauses

    def _joins(self, main: Table) -> str | _Skip:
        clauses = []
        for name in self.op.joins:
            other = self._table(name)
            if isinstance(other, _Skip) or other.name == main.name:
                continue
            condition = _join_condition(main, other, self.used)
            if condition is None:
                if any(self._owner_is(f.table, other) for f in self.op.filters):
                    return _Skip(f"no foreign key joins {main.name} and {other.name}")
                continue  # the join does not narrow what is read from the main table
            self.joined[other.name] = other
            clauses.append(f" JOIN {_qualified(other)} ON {condition}")
        return "".join(clauses)

    def _owner_is(self, owner: str, table: Table) -> bool:
        mapped = self.names.get(owner)
        return owner in {table.name} or (mapped is not None and mapped.table == table.name)

    def _where(self, main: Table) -> str | _Skip:
        predicates = []
        for item in self.op.filters:
            table = self._owner_table(item.table, main)
            if table is None:
                continue  # a table the statement does not read directly (a subquery's)
            predicate = self._predicate(item, table)
            if isinstance(predicate, _Skip):
                return predicate
            if predicate:
                predicates.append(predicate)
        return f" WHERE {' AND '.join(predicates)}" if predicates else ""

    def _predicate(self, item: Filter, table: Table) -> str | _Skip:
        attribute, op = item.column, item.op
        field_name, _, lookup = attribute.partition("__")
        if lookup:
            if lookup not in _LOOKUPS:
                return ""  # ``owner__email``: a condition on a related table, not written
            attribute, op = field_name, lookup if op in {"==", lookup} else op
        column = self._column(attribute, table, item.table)
        if column is None:
            return _Skip(f"column {table.name}.{attribute} is not in the database")
        ref = self._ref(table, column)
        self.used.append((table.name, column))
        value = item.value.strip()
        if value in _NONE and op in {"==", "is", "exact"}:
            return f"{ref} IS NULL"
        if value in _NONE and op in {"!=", "is not", "isnot"}:
            return f"{ref} IS NOT NULL"
        if op == "isnull":
            return f"{ref} IS {'NOT ' if value == 'False' else ''}NULL"
        if op in {"==", "exact", "iexact"}:
            return f"{ref} = {self._parameter()}"
        if op == "!=":
            return f"{ref} <> {self._parameter()}"
        if op in {"in", "any"}:
            return f"{ref} = ANY({self._parameter()})"
        if op in _COMPARISONS:
            return f"{ref} {_COMPARISONS[op]} {self._parameter()}"
        if op in _LIKE:
            return f"{ref} LIKE {self._parameter()}"
        if op in _ILIKE:
            return f"{ref} ILIKE {self._parameter()}"
        if op in {"range", "between"}:
            return f"{ref} BETWEEN {self._parameter()} AND {self._parameter()}"
        return ""  # a raw or unknown condition: left out, the rest still narrows the read

    def _order(self, main: Table) -> str:
        keys = []
        for text in self.op.order_by:
            match = _ORDER_KEY.match(text.strip().strip("'\""))
            if match is None:
                break  # an expression: later keys only order within it, so stop here
            table = self._owner_table(match["owner"] or "", main)
            column = self._column(match["column"], table, match["owner"] or "") if table else None
            if table is None or column is None:
                break
            descending = bool(match["minus"]) or "desc" in {match["wrap"], match["method"]}
            keys.append(self._ref(table, column) + (" DESC" if descending else ""))
        return f" ORDER BY {', '.join(keys)}" if keys else ""

    def _insert(self, main: Table) -> str:
        columns = [c for c in (self._column(a, main) for a in self.op.columns) if c]
        target = _qualified(main)
        if not columns:
            return f"INSERT INTO {target} DEFAULT VALUES"
        unique = list(dict.fromkeys(columns))
        values = ", ".join(self._parameter() for _ in unique)
        names = ", ".join(quote_identifier(c) for c in unique)
        return f"INSERT INTO {target} ({names}) VALUES ({values})"

    def _update(self, main: Table, where: str) -> str | _Skip:
        columns = [c for c in (self._column(a, main) for a in self.op.columns) if c]
        if not columns:
            return _Skip("the columns it sets are not known statically")
        sets = ", ".join(
            f"{quote_identifier(c)} = {self._parameter()}" for c in dict.fromkeys(columns)
        )
        return f"UPDATE {_qualified(main)} SET {sets}{where}"

    def _raw(self) -> str | _Skip:
        from dbaudit.indexes.workload import numbered_placeholders
        from dbaudit.sql.extract import ExtractError, extract
        from dbaudit.sql.fingerprint import fingerprint

        if self.op.sql.endswith(_SHORTENED):
            return _Skip("its SQL text is too long to have been kept")
        sql = numbered_placeholders(fingerprint(self.op.sql).text)
        try:
            shape = extract(sql)
        except ExtractError:
            return _Skip("its SQL cannot be parsed")
        if shape.kind == "other":
            return _Skip("it is not a SELECT, INSERT, UPDATE or DELETE")
        missing = [t for t in shape.tables if self.schema.table(t) is None]
        if missing:
            return _Skip(f"table {missing[0]} is not in the database")
        return sql


def _qualified(table: Table) -> str:
    if table.schema == "public":
        return quote_identifier(table.name)
    return f"{quote_identifier(table.schema)}.{quote_identifier(table.name)}"


def _join_condition(main: Table, other: Table, used: list[tuple[str, str]]) -> str | None:
    """``other.id = main.other_id`` from a foreign key between the two, either way round."""
    found = [(fk, main, other) for fk in main.foreign_keys if _references(fk, other)]
    found += [(fk, other, main) for fk in other.foreign_keys if _references(fk, main)]
    if not found:
        return None
    fk, child, parent = found[0]
    used.extend((child.name, column) for column in fk.columns)
    return " AND ".join(
        f"{_qualified(child)}.{quote_identifier(c)} = {_qualified(parent)}.{quote_identifier(p)}"
        for c, p in zip(fk.columns, fk.referenced_columns, strict=False)
    )


def _references(fk: ForeignKey, table: Table) -> bool:
    return fk.referenced_table.split(".")[-1] == table.name
