"""Load the schema model from SQL DDL (a schema dump or migration files), parsed by pglast.

Understood: ``CREATE TABLE`` (columns, types, NOT NULL, inline and table-level PRIMARY KEY,
UNIQUE and FOREIGN KEY), ``CREATE [UNIQUE] INDEX`` (columns and expressions, sort direction and
NULLS order, INCLUDE, ``USING``, partial ``WHERE``), ``ALTER TABLE ... ADD CONSTRAINT`` and
``DROP INDEX``. Everything else is ignored. Sizes, row estimates and usage stay unknown.

>>> schema = load_ddl("CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX ON t (a DESC);")
>>> [(i.name, i.columns, i.keys[0].descending) for i in schema.table("t").indexes]
[('t_pkey', ('id',), False), ('t_a_idx', ('a',), True)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

from dbaudit.schema.model import Column, ForeignKey, Index, IndexKey, Schema, Table


class DDLError(ValueError):
    """A DDL text could not be parsed; one line."""


@dataclass(slots=True)
class _TableDraft:
    name: str
    schema: str
    columns: list[Column] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


def _names(values: Iterable[ast.String] | None) -> tuple[str, ...]:
    return tuple(v.sval or "" for v in values or ())


def _type_name(type_name: ast.TypeName | None) -> str:
    if type_name is None:
        return ""
    parts = [n.sval or "" for n in type_name.names or () if n.sval != "pg_catalog"]
    return ".".join(parts)


def _qualified(relation: ast.RangeVar) -> tuple[str, str]:
    return relation.schemaname or "public", relation.relname or ""


def _key_name(name: str, schema: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


class _Loader:
    def __init__(self) -> None:
        self.tables: dict[str, _TableDraft] = {}

    def table(self, relation: ast.RangeVar | None) -> _TableDraft:
        if relation is None:  # pragma: no cover - pglast always fills it for these statements
            raise DDLError("statement without a table")
        schema, name = _qualified(relation)
        key = _key_name(name, schema)
        if key not in self.tables:
            self.tables[key] = _TableDraft(name=name, schema=schema)
        return self.tables[key]

    def constraint(
        self, draft: _TableDraft, constraint: ast.Constraint, column: str | None
    ) -> None:
        kind = constraint.contype
        key = _key_name(draft.name, draft.schema)
        if kind in (enums.ConstrType.CONSTR_PRIMARY, enums.ConstrType.CONSTR_UNIQUE):
            columns = (column,) if column else _names(constraint.keys)
            primary = kind == enums.ConstrType.CONSTR_PRIMARY
            default = f"{draft.name}_pkey" if primary else f"{draft.name}_{'_'.join(columns)}_key"
            name = constraint.conname or default
            draft.indexes.append(
                Index(
                    name=name,
                    table=key,
                    keys=tuple(IndexKey(c, c) for c in columns),
                    unique=True,
                    primary=primary,
                    constraint=name,
                )
            )
            if primary:
                draft.columns = [
                    replace(c, nullable=False) if c.name in columns else c for c in draft.columns
                ]
        elif kind == enums.ConstrType.CONSTR_FOREIGN and constraint.pktable is not None:
            columns = (column,) if column else _names(constraint.fk_attrs)
            ref_schema, ref_name = _qualified(constraint.pktable)
            draft.foreign_keys.append(
                ForeignKey(
                    name=constraint.conname or f"{draft.name}_{'_'.join(columns)}_fkey",
                    table=key,
                    columns=columns,
                    referenced_table=_key_name(ref_name, ref_schema),
                    referenced_columns=_names(constraint.pk_attrs) or ("id",),
                )
            )

    def create_table(self, statement: ast.CreateStmt) -> None:
        draft = self.table(statement.relation)
        deferred: list[tuple[ast.Constraint, str | None]] = []
        for element in statement.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                constraints = list(element.constraints or ())
                not_null = any(
                    c.contype in (enums.ConstrType.CONSTR_NOTNULL, enums.ConstrType.CONSTR_PRIMARY)
                    for c in constraints
                )
                draft.columns.append(
                    Column(element.colname or "", _type_name(element.typeName), not not_null)
                )
                deferred.extend((c, element.colname) for c in constraints)
            elif isinstance(element, ast.Constraint):
                deferred.append((element, None))
        for constraint, column in deferred:
            self.constraint(draft, constraint, column)

    def create_index(self, statement: ast.IndexStmt) -> None:
        draft = self.table(statement.relation)
        keys = []
        for param in statement.indexParams or ():
            descending = param.ordering == enums.SortByDir.SORTBY_DESC
            nulls = None
            if param.nulls_ordering == enums.SortByNulls.SORTBY_NULLS_FIRST:
                nulls = True
            elif param.nulls_ordering == enums.SortByNulls.SORTBY_NULLS_LAST:
                nulls = False
            if nulls is not None and nulls == descending:
                nulls = None  # the default for the direction
            if param.name:
                keys.append(IndexKey(param.name, param.name, descending, nulls))
            else:
                keys.append(IndexKey(RawStream()(param.expr), None, descending, nulls))
        columns = "_".join(k.column or "expr" for k in keys)
        draft.indexes.append(
            Index(
                name=statement.idxname or f"{draft.name}_{columns}_idx",
                table=_key_name(draft.name, draft.schema),
                keys=tuple(keys),
                unique=bool(statement.unique),
                predicate=RawStream()(statement.whereClause) if statement.whereClause else None,
                method=statement.accessMethod or "btree",
                include=tuple(p.name or "" for p in statement.indexIncludingParams or ()),
            )
        )

    def alter_table(self, statement: ast.AlterTableStmt) -> None:
        draft = self.table(statement.relation)
        for command in statement.cmds or ():
            if command.subtype == enums.AlterTableType.AT_AddConstraint and isinstance(
                command.def_, ast.Constraint
            ):
                self.constraint(draft, command.def_, None)

    def drop(self, statement: ast.DropStmt) -> None:
        if statement.removeType != enums.ObjectType.OBJECT_INDEX:
            return
        dropped = {names[-1].sval for names in statement.objects or ()}
        for draft in self.tables.values():
            draft.indexes = [i for i in draft.indexes if i.name not in dropped]

    def schema(self) -> Schema:
        return Schema(
            tables=tuple(
                Table(
                    name=d.name,
                    schema=d.schema,
                    columns=tuple(d.columns),
                    indexes=tuple(d.indexes),
                    foreign_keys=tuple(d.foreign_keys),
                )
                for d in sorted(self.tables.values(), key=lambda d: (d.schema, d.name))
            ),
            source="ddl",
        )


def load_ddl(*texts: str) -> Schema:
    """The schema the DDL statements of ``texts`` build, applied in order."""
    loader = _Loader()
    for text in texts:
        try:
            statements = parse_sql(text)
        except ParseError as error:
            raise DDLError(f"cannot parse DDL: {str(error).splitlines()[0]}") from None
        for raw in statements:
            statement = raw.stmt
            if isinstance(statement, ast.CreateStmt):
                loader.create_table(statement)
            elif isinstance(statement, ast.IndexStmt):
                loader.create_index(statement)
            elif isinstance(statement, ast.AlterTableStmt):
                loader.alter_table(statement)
            elif isinstance(statement, ast.DropStmt):
                loader.drop(statement)
    return loader.schema()


def load_ddl_files(paths: Iterable[str | Path]) -> Schema:
    """Migration files in the order given (sort them the way the migration tool does)."""
    texts = []
    for path in paths:
        file = Path(path)
        try:
            texts.append(file.read_text(encoding="utf-8"))
        except OSError as error:
            raise DDLError(f"cannot read {file}: {error.strerror}") from None
    return load_ddl(*texts)
