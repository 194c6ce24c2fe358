"""Candidate indexes for a workload: pure functions from statement shapes and a schema.

For each statement and each table it reads: the equality columns, then the range or sort
columns as composites (sort keys keep their direction, so ``ORDER BY created_at DESC LIMIT 20``
gets ``(user_id, created_at DESC)``); partial indexes for constant predicates (``IS NULL``,
``is_public = true``, a status value); join columns; and foreign keys with no index. Where the
statement reads only a few narrow columns of the table besides the keys, each of its candidates
also comes as a covering index (``INCLUDE`` those columns), so that an index-only scan can
answer it.
A candidate an existing index already serves as a prefix is rejected here with that reason;
everything else goes to the planner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dbaudit.indexes.columns_read import ALL_COLUMNS
from dbaudit.schema.model import Index, IndexKey, Schema, Table, quote_identifier
from dbaudit.sql.extract import SortKey, StatementShape

# Below this many rows a sequential scan reads the whole table in a page or two.
MIN_TABLE_ROWS = 1_000
MAX_KEY_COLUMNS = 4
# An equality (or IN) filter never matches NULL, so when most rows hold NULL in its column, an
# index ``WHERE column IS NOT NULL`` serves the same lookups at a fraction of the size (and of
# the write cost: rows written with NULL there never touch it). PostgreSQL proves the predicate
# from the strict ``=`` itself, also in generic plans.
MOSTLY_NULL_FRACTION = 0.5
# A covering variant carries the statement's other columns in its leaf tuples (INCLUDE: no
# sort order to keep, the key's own statistics unchanged, but no deduplication either). An
# index-only scan pays off when the index is much narrower than the table; one that stores most
# of a row is a second copy of the table, and is not proposed.
MAX_INCLUDE_COLUMNS = 4
MAX_COVERING_ROW_SHARE = 0.5  # stored columns' average width / the row's (pg_stats avg_width)


@dataclass(frozen=True, slots=True)
class Candidate:
    table: str
    keys: tuple[IndexKey, ...]
    predicate: str | None = None
    origin: str = ""  # why it was proposed: "equality + sort", "foreign key", ...
    include: tuple[str, ...] = ()  # non-key columns stored for index-only scans (INCLUDE)

    @property
    def identity(self) -> tuple[str, tuple[IndexKey, ...], str | None, tuple[str, ...]]:
        return (self.table, self.keys, self.predicate, self.include)

    @property
    def columns(self) -> tuple[str, ...]:
        """The key columns (expressions for expression keys), in order."""
        return tuple(k.column or k.expression for k in self.keys)

    @property
    def stored_columns(self) -> frozenset[str]:
        """Every column whose value the index holds: keys and INCLUDE columns."""
        return frozenset(self.columns) | frozenset(self.include)

    def name(self) -> str:
        suffix = ("_covering" if self.include else "") + ("_partial" if self.predicate else "")
        return index_name(self.table, self.columns, suffix)

    def keys_text(self) -> str:
        """``table (keys)``: what a plan reads through this index, whatever its name, its
        INCLUDE columns or its predicate (see :func:`dbaudit.indexes.whatif.plan_signature`)."""
        return f"{self.table} ({', '.join(k.render() for k in self.keys)})"

    def _body(self) -> str:
        text = f"({', '.join(k.render() for k in self.keys)})"
        if self.include:
            text += f" INCLUDE ({', '.join(quote_identifier(c) for c in self.include)})"
        if self.predicate:
            text += f" WHERE {self.predicate}"
        return text

    def definition(self, *, concurrently: bool = True, name: str | None = None) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        target = ".".join(quote_identifier(part) for part in self.table.split("."))
        index_name = quote_identifier(name or self.name())
        return f"CREATE INDEX {how}{index_name} ON {target} {self._body()}"

    def anonymous_definition(self) -> str:
        """``CREATE INDEX ON ...`` as HypoPG takes it."""
        target = ".".join(quote_identifier(part) for part in self.table.split("."))
        return f"CREATE INDEX ON {target} {self._body()}"


def index_name(table: str, columns: Sequence[str], suffix: str = "") -> str:
    """The name dbaudit gives an index it suggests, the index advisor and the runtime check
    alike: ``<table>_<columns>[suffix]_idx``, PostgreSQL's own name for an index created with
    none, without the schema, cut at PostgreSQL's 63 characters (pure).

    >>> index_name("shop.orders", ("customer_id", "status"))
    'orders_customer_id_status_idx'
    >>> index_name("renders", ("chain_id",), "_partial")
    'renders_chain_id_partial_idx'
    """
    return f"{table.split('.')[-1]}_{'_'.join(columns)}{suffix}_idx"[:63]


@dataclass(frozen=True, slots=True)
class Rejection:
    candidate: Candidate
    reason: str


def _key(column: str, descending: bool = False, nulls_first: bool | None = None) -> IndexKey:
    return IndexKey(
        expression=column, column=column, descending=descending, nulls_first=nulls_first
    )


def _sort_key(key: SortKey) -> IndexKey:
    return _key(key.column, key.descending, key.nulls_first)


def _dedupe(columns: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(columns))


def shape_candidates(
    shape: StatementShape, table: Table, reads: frozenset[str] | None = None
) -> list[Candidate]:
    """The candidates one statement suggests for one of its tables; ``reads``: the columns
    it reads from the table (:mod:`dbaudit.indexes.columns_read`), for covering variants."""
    name = table.name if table.schema == "public" else table.qualified_name
    filters = [f for f in shape.filters if f.table == table.name]
    indexable = [f for f in filters if f.value != "subquery" or f.operator == "IN"]
    equality = _dedupe(f.column for f in indexable if f.operator in ("=", "IN"))
    ranges = _dedupe(
        f.column
        for f in indexable
        if f.operator in ("<", "<=", ">", ">=", "BETWEEN") and f.column not in equality
    )
    nulls = _dedupe(f.column for f in filters if f.operator == "IS NULL")
    join_columns = _dedupe(
        ref.column
        for join in shape.joins
        for ref in (join.left, join.right)
        if ref.table == table.name
    )
    sort = [k for k in shape.sort_keys if k.table == table.name]
    sort_usable = bool(sort) and len(sort) == len(shape.sort_keys)
    sort_keys = [_sort_key(k) for k in sort if k.column not in equality] if sort_usable else []

    found: list[Candidate] = []

    def add(keys: Sequence[IndexKey], origin: str, predicate: str | None = None) -> None:
        keys = tuple(keys)[:MAX_KEY_COLUMNS]
        if keys:
            found.append(Candidate(name, keys, predicate, origin))

    eq_keys = [_key(c) for c in [*equality, *nulls]]
    if eq_keys:
        add(eq_keys, "equality columns")
        for column in equality:
            add([_key(column)], "equality column")
    if sort_keys:
        add([*eq_keys, *sort_keys], "equality + sort" if eq_keys else "sort")
    if ranges:
        add([*eq_keys, _key(ranges[0])], "equality + range" if eq_keys else "range")
    for column in join_columns:
        add([_key(column)], "join column")
        if eq_keys and column not in equality:
            add([*eq_keys, _key(column)], "equality + join column")

    constants = [f for f in filters if f.is_constant_predicate]
    if constants:
        predicate = " AND ".join(f.predicate_sql() for f in constants)
        constant_columns = {f.column for f in constants}
        rest_eq = [_key(c) for c in equality if c not in constant_columns]
        rest = [*rest_eq, *sort_keys] if sort_keys else rest_eq
        if not rest and ranges:
            rest = [_key(ranges[0])]
        elif ranges and not sort_keys:
            rest = [*rest, _key(ranges[0])]
        add(rest, "partial index for constant predicate", predicate)
    found.extend(_not_null_variants(found, table, equality))
    if reads is None:
        return found
    implied = {f.column for f in filters if f.is_constant_predicate}
    return [*found, *_covering_variants(found, table, reads, implied)]


def _covering_variants(
    found: Sequence[Candidate], table: Table, reads: frozenset[str], implied: set[str]
) -> list[Candidate]:
    """Each candidate with the statement's other columns as INCLUDE columns, when they are few
    and narrow: the statement can then be answered by an index-only scan. A partial index
    need not store the columns of the constant predicate it implies."""
    if ALL_COLUMNS in reads or any(c.avg_width is None for c in table.columns):
        return []  # every column (a copy of the table), or no statistics to judge widths by
    row_width = sum(c.avg_width or 0 for c in table.columns)
    variants = []
    for candidate in found:
        exempt = implied if candidate.predicate else set()
        extra = sorted(set(reads) - set(candidate.columns) - exempt)
        if not extra or len(extra) > MAX_INCLUDE_COLUMNS:
            continue
        stored = [table.column(c) for c in [*candidate.columns, *extra]]
        if any(c is None for c in stored):
            continue  # an expression key, or a column this table does not have
        width = sum(c.avg_width or 0 for c in stored if c is not None)
        if width > MAX_COVERING_ROW_SHARE * row_width:
            continue
        variants.append(
            replace(
                candidate,
                include=tuple(extra),
                origin=f"{candidate.origin}, covering: INCLUDE the other columns it reads "
                "(index-only scan)",
            )
        )
    return variants


def _not_null_variants(
    found: Sequence[Candidate], table: Table, equality: Sequence[str]
) -> list[Candidate]:
    """For candidates led by an equality column that is mostly NULL: the same keys as a partial
    index on the rows where it is set."""
    variants = []
    for candidate in found:
        leading = candidate.keys[0].column
        if candidate.predicate is not None or leading is None or leading not in equality:
            continue
        column = table.column(leading)
        share = column.null_fraction if column is not None else None
        if share is None or share < MOSTLY_NULL_FRACTION:
            continue
        variants.append(
            Candidate(
                candidate.table,
                candidate.keys,
                f"{quote_identifier(leading)} IS NOT NULL",
                f"{candidate.origin}, partial: the equality never matches the {share:.0%} "
                "of rows where it is NULL",
            )
        )
    return variants


def foreign_key_candidates(table: Table) -> list[Candidate]:
    name = table.name if table.schema == "public" else table.qualified_name
    return [
        Candidate(name, tuple(_key(c) for c in fk.columns), None, "foreign key")
        for fk in table.foreign_keys
    ]


def _same_direction(existing: Sequence[IndexKey], wanted: Sequence[IndexKey]) -> bool:
    """A btree serves the wanted order read forwards, or every key flipped read backwards."""
    pairs = list(zip(existing, wanted, strict=False))
    forwards = all(e.descending == w.descending and _nulls(e) == _nulls(w) for e, w in pairs)
    backwards = all(e.descending != w.descending and _nulls(e) != _nulls(w) for e, w in pairs)
    return forwards or backwards


def serves_as_prefix(wider: Candidate, narrower: Candidate) -> bool:
    """Whether ``wider`` starts with ``narrower``'s keys and stores its INCLUDE columns (same
    table and predicate), so that ``narrower`` would be a redundant index next to it."""
    n = len(narrower.keys)
    return (
        wider.table == narrower.table
        and wider.predicate == narrower.predicate
        and (
            len(wider.keys) > n
            or (len(wider.keys) == n and set(narrower.include) < set(wider.include))
        )
        and [k.column for k in wider.keys[:n]] == [k.column for k in narrower.keys]
        and _same_direction(wider.keys[:n], narrower.keys)
        and set(narrower.include) <= wider.stored_columns
    )


def _nulls(key: IndexKey) -> bool:
    return key.nulls_first if key.nulls_first is not None else key.descending


def covering_index(table: Table, candidate: Candidate) -> Index | None:
    """An existing valid btree index that starts with the candidate's keys (as a prefix)."""
    wanted = candidate.keys
    for index in table.indexes:
        if not index.valid or index.method != "btree" or len(index.keys) < len(wanted):
            continue
        if index.predicate is not None and index.predicate != candidate.predicate:
            continue
        if not set(candidate.include) <= {*index.columns, *index.include}:
            continue
        prefix = index.keys[: len(wanted)]
        if [k.column for k in prefix] != [k.column for k in wanted]:
            continue
        if _same_direction(prefix, wanted):
            return index
    # Equality-only candidates are served by any index on the same column set in another order.
    if (
        all(not k.descending for k in wanted)
        and candidate.origin.startswith("equality column")
        and not candidate.include
    ):
        for index in table.indexes:
            head = {k.column for k in index.keys[: len(wanted)]}
            if index.valid and index.predicate is None and head == {k.column for k in wanted}:
                return index
    return None


def generate(
    shapes: Sequence[StatementShape | None],
    schema: Schema,
    reads: Sequence[Mapping[str, frozenset[str]]] | None = None,
) -> tuple[list[tuple[Candidate, tuple[int, ...]]], list[Rejection]]:
    """All distinct candidates with the statements that suggested them, and the rejections;
    ``reads``: per statement, the columns it reads per table (for covering variants)."""
    motivating: dict[Any, list[int]] = {}
    first: dict[Any, Candidate] = {}
    for number, shape in enumerate(shapes):
        if shape is None:
            continue
        for table_name in shape.tables:
            table = schema.table(table_name)
            if table is None:
                continue
            read = reads[number].get(table_name) if reads is not None else None
            for candidate in shape_candidates(shape, table, read):
                first.setdefault(candidate.identity, candidate)
                motivating.setdefault(candidate.identity, [])
                if number not in motivating[candidate.identity]:
                    motivating[candidate.identity].append(number)
    for table in schema.tables:
        for candidate in foreign_key_candidates(table):
            first.setdefault(candidate.identity, candidate)
            motivating.setdefault(candidate.identity, [])

    accepted: list[tuple[Candidate, tuple[int, ...]]] = []
    rejected: list[Rejection] = []
    for identity, candidate in first.items():
        table = schema.table(candidate.table)
        if table is None:  # pragma: no cover - candidates only come from known tables
            continue
        named = [k.column for k in candidate.keys if k.column] + list(candidate.include)
        missing = [c for c in named if table.column(c) is None]
        if missing:
            rejected.append(
                Rejection(candidate, f"column {missing[0]} is not in table {candidate.table}")
            )
            continue
        cover = covering_index(table, candidate)
        if cover is not None:
            rejected.append(
                Rejection(candidate, f"covered by existing index {cover.name} (prefix)")
            )
            continue
        if table.row_estimate is not None and table.row_estimate < MIN_TABLE_ROWS:
            rejected.append(
                Rejection(
                    candidate,
                    f"table too small ({table.row_estimate} rows, under {MIN_TABLE_ROWS}): "
                    "a sequential scan is as fast",
                )
            )
            continue
        accepted.append((candidate, tuple(motivating[identity])))
    return accepted, rejected
