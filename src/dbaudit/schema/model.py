"""One schema model for every source: a live catalog, SQLAlchemy or Django models, SQL DDL.

Loaders fill what their source knows; what it cannot know (sizes, row estimates, usage
counters for static sources) stays ``None`` rather than a made-up zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

SchemaSource = Literal["live", "sqlalchemy", "django", "ddl"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = ""
    nullable: bool = True
    # Planner statistics (pg_stats, after ANALYZE): share of NULL rows; distinct values as
    # pg_stats gives them (negative: minus a share of the rows); average stored width in bytes.
    null_fraction: float | None = None
    n_distinct: float | None = None
    avg_width: int | None = None

    def distinct_values(self, rows: float) -> float | None:
        """Estimated number of distinct non-NULL values in a table of ``rows`` rows."""
        if self.n_distinct is None:
            return None
        return self.n_distinct if self.n_distinct >= 0 else -self.n_distinct * rows


@dataclass(frozen=True, slots=True)
class IndexKey:
    """One key of an index: a plain column, or an expression (``column`` is then ``None``)."""

    expression: str
    column: str | None
    descending: bool = False
    nulls_first: bool | None = None  # None = the default for the direction

    def render(self) -> str:
        text = self.expression if self.column is None else _quote(self.column)
        if self.descending:
            text += " DESC"
        if self.nulls_first is not None and self.nulls_first != self.descending:
            text += " NULLS FIRST" if self.nulls_first else " NULLS LAST"
        return text


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    table: str
    keys: tuple[IndexKey, ...]
    unique: bool = False
    primary: bool = False
    predicate: str | None = None  # partial index WHERE clause, as the catalog prints it
    method: str = "btree"
    include: tuple[str, ...] = ()
    valid: bool = True
    constraint: str | None = None  # name of the constraint this index backs (PK, UNIQUE, EXCLUDE)
    size_bytes: int | None = None
    scans: int | None = None  # pg_stat_user_indexes.idx_scan since the last stats reset
    definition: str = ""

    @property
    def columns(self) -> tuple[str | None, ...]:
        """Key columns in order; ``None`` for an expression key."""
        return tuple(key.column for key in self.keys)


@dataclass(frozen=True, slots=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    referenced_table: str
    referenced_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableUsage:
    """Counters from pg_stat_user_tables since the last stats reset."""

    seq_scan: int = 0
    seq_tup_read: int = 0
    idx_scan: int = 0
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_del: int = 0
    n_live_tup: int = 0

    @property
    def writes(self) -> int:
        return self.n_tup_ins + self.n_tup_upd + self.n_tup_del


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    schema: str = "public"
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_estimate: int | None = None
    size_bytes: int | None = None
    usage: TableUsage | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def qualified_name(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass(frozen=True, slots=True)
class Schema:
    tables: tuple[Table, ...] = ()
    source: SchemaSource = "live"
    server_version: int | None = None  # server_version_num for live schemas
    notes: tuple[str, ...] = field(default=())  # things a loader could not read, one line each

    def table(self, name: str) -> Table | None:
        bare = name.split(".")[-1]
        return next((t for t in self.tables if t.name == bare or t.qualified_name == name), None)

    def columns_by_table(self) -> dict[str, tuple[str, ...]]:
        return {t.name: tuple(c.name for c in t.columns) for t in self.tables}


# Reserved words that appear as column names in real schemas ("user", "order", ...).
# Words PostgreSQL's grammar takes only quoted as a table or column name (ColId): its reserved
# keywords and the type/function-name ones (``join``, ``left``, ``like``, ``verbose``), as
# pglast carries them from the server's own keyword list.
_RESERVED = frozenset(RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS)


def _quote(identifier: str) -> str:
    """Quote an identifier only when PostgreSQL needs it."""
    if (
        identifier.isidentifier()
        and identifier == identifier.lower()
        and identifier.isascii()
        and identifier not in _RESERVED
    ):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


quote_identifier = _quote
