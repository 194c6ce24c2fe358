"""Load the schema model from SQLAlchemy model source, statically (``ast``; nothing is imported).

Understood: declarative classes (``__tablename__``, ``mapped_column``/``Column`` with
``primary_key``, ``nullable``, ``index=True``, ``unique=True``, ``ForeignKey("t.c")``,
``Mapped[X | None]`` for nullability, ``__table_args__``), Core ``Table("t", metadata, ...)``,
``Index(...)`` in ``__table_args__``, in a ``Table`` or anywhere at module level (columns as
strings, ``Model.column``, ``Model.column.desc()``, ``text("expr")``; ``unique``,
``postgresql_where``, ``postgresql_using``, ``postgresql_include``), ``UniqueConstraint``,
``PrimaryKeyConstraint``, ``ForeignKeyConstraint``, and module-level helper functions that
return a column (``def _pk(): return mapped_column(BigInteger, primary_key=True)``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dbaudit.frontends.python.newer_syntax import parse_python
from dbaudit.schema.model import Column, ForeignKey, Index, IndexKey, Schema, Table

_COLUMN_CALLS = frozenset({"Column", "mapped_column"})


class ModelSourceError(ValueError):
    """A model file could not be read or parsed; one line."""


def _callee(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kwarg(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _strings(node: ast.expr | None) -> tuple[str, ...]:
    if isinstance(node, ast.List | ast.Tuple):
        return tuple(s for s in (_string(e) for e in node.elts) if s is not None)
    return ()


@dataclass(slots=True)
class _Draft:
    name: str
    columns: list[Column] = field(default_factory=list)
    primary: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)


class _Module:
    def __init__(self, tree: ast.Module, tables: dict[str, _Draft], classes: dict[str, str]):
        self.tree = tree
        self.tables = tables
        self.classes = classes  # class name -> table name
        self.helpers = {
            node.name: ret.value
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            for ret in node.body
            if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call)
        }

    def column_call(self, value: ast.expr | None) -> ast.Call | None:
        if not isinstance(value, ast.Call):
            return None
        if _callee(value) in _COLUMN_CALLS:
            return value
        helper = self.helpers.get(_callee(value))
        if helper is not None and _callee(helper) in _COLUMN_CALLS:
            return helper
        return None

    # -- columns -----------------------------------------------------------------------------
    def add_column(
        self, draft: _Draft, attribute: str | None, call: ast.Call, annotation: ast.expr | None
    ) -> None:
        name = attribute
        type_name = ""
        foreign: tuple[str, str] | None = None
        for arg in call.args:
            text = _string(arg)
            if (text is not None and name is None) or (text is not None and arg is call.args[0]):
                name = text
            elif _callee(arg) == "ForeignKey" and isinstance(arg, ast.Call) and arg.args:
                target = _string(arg.args[0]) or ast.unparse(arg.args[0])
                table, _, column = target.rpartition(".")
                foreign = (table, column)
            elif isinstance(arg, ast.Name | ast.Attribute | ast.Call) and not type_name:
                type_name = _callee(arg)
        if name is None:
            return
        primary = _true(_kwarg(call, "primary_key"))
        nullable_arg = _kwarg(call, "nullable")
        if isinstance(nullable_arg, ast.Constant) and isinstance(nullable_arg.value, bool):
            nullable = nullable_arg.value
        elif primary:
            nullable = False
        elif _callee(call) == "mapped_column" and annotation is not None:
            nullable = _optional(annotation)
        else:
            nullable = True
        if not type_name and annotation is not None:
            type_name = _mapped_type(annotation)
        draft.columns.append(Column(name, type_name, nullable and not primary))
        if primary:
            draft.primary.append(name)
        if foreign is not None:
            table, column = foreign
            table = self.classes.get(table, table)
            draft.foreign_keys.append(
                ForeignKey(f"{draft.name}_{name}_fkey", draft.name, (name,), table, (column,))
            )
        unique = _true(_kwarg(call, "unique"))
        if _true(_kwarg(call, "index")):
            draft.indexes.append(
                Index(f"ix_{draft.name}_{name}", draft.name, (IndexKey(name, name),), unique)
            )
        elif unique:
            key = f"{draft.name}_{name}_key"
            draft.indexes.append(
                Index(key, draft.name, (IndexKey(name, name),), True, constraint=key)
            )

    # -- indexes and constraints -------------------------------------------------------------
    def index_key(self, node: ast.expr, default_table: str | None) -> tuple[IndexKey, str | None]:
        descending = False
        if isinstance(node, ast.Call) and _callee(node) in ("desc", "asc"):
            descending = _callee(node) == "desc"
            node = node.func.value if isinstance(node.func, ast.Attribute) else node
        text = _string(node)
        if text is not None:
            return IndexKey(text, text, descending), default_table
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            table = self.classes.get(node.value.id, default_table)
            return IndexKey(node.attr, node.attr, descending), table
        if isinstance(node, ast.Call) and _callee(node) == "text" and node.args:
            expression = _string(node.args[0]) or ast.unparse(node.args[0])
            return IndexKey(expression, None, descending), default_table
        return IndexKey(ast.unparse(node), None, descending), default_table

    def add_index(self, call: ast.Call, default_table: str | None) -> None:
        if not call.args:
            return
        name = _string(call.args[0]) or ""
        keys: list[IndexKey] = []
        table = default_table
        for arg in call.args[1:]:
            key, owner = self.index_key(arg, default_table)
            keys.append(key)
            table = table or owner
        if table is None or table not in self.tables or not keys:
            return
        where = _kwarg(call, "postgresql_where")
        predicate = None
        if where is not None:
            predicate = _predicate(where)
        using = _string(_kwarg(call, "postgresql_using") or ast.Constant(None)) or "btree"
        self.tables[table].indexes.append(
            Index(
                name=name or f"ix_{table}_{'_'.join(k.column or 'expr' for k in keys)}",
                table=table,
                keys=tuple(keys),
                unique=_true(_kwarg(call, "unique")),
                predicate=predicate,
                method=using,
                include=_strings(_kwarg(call, "postgresql_include")),
            )
        )

    def add_table_item(self, draft: _Draft, call: ast.Call) -> None:
        kind = _callee(call)
        if kind == "Index":
            self.add_index(call, draft.name)
        elif kind == "UniqueConstraint":
            columns = tuple(s for s in (_string(a) for a in call.args) if s)
            name = _string(_kwarg(call, "name") or ast.Constant(None))
            name = name or f"{draft.name}_{'_'.join(columns)}_key"
            draft.indexes.append(
                Index(name, draft.name, tuple(IndexKey(c, c) for c in columns), True,
                      constraint=name)
            )  # fmt: skip
        elif kind == "PrimaryKeyConstraint":
            draft.primary.extend(s for s in (_string(a) for a in call.args) if s)
        elif kind == "ForeignKeyConstraint" and len(call.args) >= 2:
            columns = _strings(call.args[0])
            targets = _strings(call.args[1])
            if columns and targets:
                table = targets[0].rpartition(".")[0]
                draft.foreign_keys.append(
                    ForeignKey(
                        _string(_kwarg(call, "name") or ast.Constant(None))
                        or f"{draft.name}_{'_'.join(columns)}_fkey",
                        draft.name,
                        columns,
                        self.classes.get(table, table),
                        tuple(t.rpartition(".")[2] for t in targets),
                    )
                )
        elif kind in _COLUMN_CALLS:
            self.add_column(draft, None, call, None)

    # -- walking -----------------------------------------------------------------------------
    def load_classes(self) -> None:
        for node in self.tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            table = _table_name(node)
            if table is None:
                continue
            draft = self.tables.setdefault(table, _Draft(table))
            for statement in node.body:
                target, value, annotation = _assignment(statement)
                if target == "__table_args__" and isinstance(value, ast.Tuple | ast.List):
                    for item in value.elts:
                        if isinstance(item, ast.Call):
                            self.add_table_item(draft, item)
                    continue
                call = self.column_call(value)
                if target and call is not None:
                    self.add_column(draft, target, call, annotation)

    def load_core_tables(self) -> None:
        for call in _module_calls(self.tree):
            if _callee(call) == "Table" and call.args and _string(call.args[0]):
                draft = self.tables.setdefault(_string(call.args[0]) or "", _Draft(""))
                draft.name = _string(call.args[0]) or ""
                for item in call.args[2:]:
                    if isinstance(item, ast.Call):
                        self.add_table_item(draft, item)

    def load_module_indexes(self) -> None:
        for call in _module_calls(self.tree):
            if _callee(call) == "Index":
                self.add_index(call, None)


def _module_calls(tree: ast.Module) -> Iterable[ast.Call]:
    """Calls at module level, not inside classes or functions (nor inside a Table call's
    arguments, which the Table handles)."""
    stack: list[ast.AST] = [
        n for n in tree.body if not isinstance(n, ast.ClassDef | ast.FunctionDef)
    ]
    while stack:
        node = stack.pop(0)
        if isinstance(node, ast.Call):
            yield node
            if _callee(node) == "Table":
                continue
        stack.extend(ast.iter_child_nodes(node))


def _table_name(node: ast.ClassDef) -> str | None:
    for statement in node.body:
        target, value, _ = _assignment(statement)
        if target == "__tablename__" and value is not None:
            return _string(value)
    return None


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None, ast.expr | None]:
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id, statement.value, statement.annotation
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return statement.targets[0].id, statement.value, None
    return None, None, None


def _optional(annotation: ast.expr) -> bool:
    """``Mapped[X | None]`` or ``Mapped[Optional[X]]``."""
    text = ast.unparse(annotation).replace(" ", "")
    return "|None" in text or "None|" in text or "Optional[" in text


def _mapped_type(annotation: ast.expr) -> str:
    if isinstance(annotation, ast.Subscript):
        inner = annotation.slice
        return ast.unparse(inner).replace(" | None", "").replace("Optional[", "").rstrip("]")
    return ""


def _predicate(node: ast.expr) -> str:
    """A ``postgresql_where`` as SQL: ``text("...")`` as written, simple comparisons translated."""
    if isinstance(node, ast.Call) and _callee(node) == "text" and node.args:
        return _string(node.args[0]) or ast.unparse(node.args[0])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        column = node.func.value
        name = column.attr if isinstance(column, ast.Attribute) else ast.unparse(column)
        if node.func.attr == "is_" and node.args and _is_none(node.args[0]):
            return f"{name} IS NULL"
        if node.func.attr in ("isnot", "is_not") and node.args and _is_none(node.args[0]):
            return f"{name} IS NOT NULL"
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left = node.left.attr if isinstance(node.left, ast.Attribute) else ast.unparse(node.left)
        right = node.comparators[0]
        operator = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.Gt: ">"}.get(
            type(node.ops[0]), "?"
        )
        if isinstance(right, ast.Constant):
            value = right.value
            literal = (
                "TRUE" if value is True else "FALSE" if value is False
                else "NULL" if value is None
                else f"'{value}'" if isinstance(value, str) else str(value)
            )  # fmt: skip
            return f"{left} {operator} {literal}"
    return ast.unparse(node)


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def load_sqlalchemy_source(*sources: tuple[str, str] | str) -> Schema:
    """The schema of model modules given as source text (or ``(filename, text)`` pairs)."""
    trees = []
    for source in sources:
        filename, text = ("<models>", source) if isinstance(source, str) else source
        try:
            trees.append(parse_python(text, filename))
        except SyntaxError as error:
            raise ModelSourceError(f"{filename}:{error.lineno}: {error.msg}") from None
    classes = {
        node.name: table
        for tree in trees
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for table in [_table_name(node)]
        if table is not None
    }
    tables: dict[str, _Draft] = {}
    modules = [_Module(tree, tables, classes) for tree in trees]
    for module in modules:
        module.load_classes()
        module.load_core_tables()
    for module in modules:
        module.load_module_indexes()
    return Schema(tables=tuple(_finish(d) for d in sorted(tables.values(), key=lambda d: d.name)),
                  source="sqlalchemy")  # fmt: skip


def _finish(draft: _Draft) -> Table:
    indexes = list(draft.indexes)
    if draft.primary:
        name = f"{draft.name}_pkey"
        indexes.insert(
            0,
            Index(name, draft.name, tuple(IndexKey(c, c) for c in draft.primary), True, True,
                  constraint=name),
        )  # fmt: skip
    return Table(
        name=draft.name,
        columns=tuple(draft.columns),
        indexes=tuple(indexes),
        foreign_keys=tuple(draft.foreign_keys),
    )


def read_model_sources(paths: Iterable[str | Path]) -> list[tuple[str, str]]:
    """``(path, text)`` per model file; :class:`ModelSourceError` names an unreadable one."""
    sources = []
    for path in paths:
        file = Path(path)
        try:
            sources.append((str(file), file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            raise ModelSourceError(f"cannot read {file}: {error}") from None
    return sources


def load_sqlalchemy_files(paths: Iterable[str | Path]) -> Schema:
    return load_sqlalchemy_source(*read_model_sources(paths))
