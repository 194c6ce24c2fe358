"""Load the schema model from Django model source, statically (``ast``; nothing is imported).

Understood: ``models.Model`` subclasses (and subclasses of abstract models, whose fields they
inherit), the implicit ``id`` primary key, fields with ``primary_key``, ``null``, ``unique``,
``db_index``, ``db_column``; ``ForeignKey``/``OneToOneField`` (column ``<name>_id``, indexed unless
``db_index=False``, unique for one-to-one) and ``ManyToManyField`` (its join table);
``Meta.db_table``, ``Meta.app_label``, ``Meta.indexes`` (``models.Index(fields=["-created_at"],
condition=Q(...))``), ``Meta.constraints`` (``UniqueConstraint``), ``unique_together`` and
``index_together``. The table name defaults to ``<app label>_<model name>``, the app label being
the folder that holds ``models.py`` (or the ``models/`` package).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dbaudit.frontends.python.newer_syntax import parse_python
from dbaudit.schema.model import Column, ForeignKey, Index, IndexKey, Schema, Table
from dbaudit.schema.sqlalchemy_models import ModelSourceError, read_model_sources

_RELATIONS = frozenset({"ForeignKey", "OneToOneField"})


def _callee(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _const(node: ast.expr | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _strings(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _index_name(table: str, columns: Iterable[str], suffix: str) -> str:
    # Django names indexes <table>_<column>_<hash>_<suffix>; a stable stand-in is enough here.
    joined = "_".join(columns)
    digest = hashlib.md5(f"{table}:{joined}".encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{table[:20]}_{joined[:20]}_{digest}_{suffix}"


@dataclass(slots=True)
class _Model:
    name: str
    node: ast.ClassDef
    app_label: str
    bases: list[str]
    meta: dict[str, ast.expr] = field(default_factory=dict)

    @property
    def abstract(self) -> bool:
        return _const(self.meta.get("abstract")) is True

    @property
    def table(self) -> str:
        explicit = _const(self.meta.get("db_table"))
        if isinstance(explicit, str):
            return explicit
        label = _const(self.meta.get("app_label"))
        return f"{label if isinstance(label, str) else self.app_label}_{self.name.lower()}"


def _collect(tree: ast.Module, app_label: str) -> list[_Model]:
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        model = _Model(node.name, node, app_label, [_callee(b) for b in node.bases])
        for statement in node.body:
            if isinstance(statement, ast.ClassDef) and statement.name == "Meta":
                for item in statement.body:
                    if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
                        model.meta[item.targets[0].id] = item.value
        found.append(model)
    return found


def _q_to_sql(node: ast.expr, column_of: dict[str, str] | None = None) -> str:
    """``Q(is_public=True) & Q(deleted_at__isnull=True)`` as a SQL predicate."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd):
        return f"{_q_to_sql(node.left, column_of)} AND {_q_to_sql(node.right, column_of)}"
    if isinstance(node, ast.Call) and _callee(node) == "Q":
        parts = []
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            name, _, lookup = keyword.arg.partition("__")
            name = (column_of or {}).get(name, name)
            value = _const(keyword.value)
            if lookup == "isnull":
                parts.append(f"{name} IS NULL" if value else f"{name} IS NOT NULL")
            elif lookup in ("", "exact"):
                if value is True or value is False:
                    parts.append(f"{name} = {str(value).upper()}")
                elif isinstance(value, str):
                    parts.append(f"{name} = '{value}'")
                else:
                    parts.append(f"{name} = {ast.unparse(keyword.value)}")
            else:
                operator = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}.get(lookup, lookup)
                parts.append(f"{name} {operator} {ast.unparse(keyword.value)}")
        return " AND ".join(parts)
    return ast.unparse(node)


class _Builder:
    def __init__(self, models: list[_Model]) -> None:
        self.models = {m.name: m for m in models}
        self.tables: list[Table] = []
        # model class -> (table, field name -> column): how code names map to the database's
        self.names: dict[str, tuple[str, dict[str, str]]] = {}

    def is_model(self, model: _Model, seen: frozenset[str] = frozenset()) -> bool:
        for base in model.bases:
            if base == "Model":
                return True
            parent = self.models.get(base)
            if parent is not None and base not in seen and self.is_model(parent, seen | {base}):
                return True
        return False

    def field_calls(self, model: _Model) -> list[tuple[str, ast.Call]]:
        inherited: list[tuple[str, ast.Call]] = []
        for base in model.bases:
            parent = self.models.get(base)
            if parent is not None and parent.abstract:
                inherited.extend(self.field_calls(parent))
        own: list[tuple[str, ast.Call]] = []
        for statement in model.node.body:
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and isinstance(statement.value, ast.Call)
            ):
                kind = _callee(statement.value)
                if kind.endswith("Field") or kind in _RELATIONS:
                    own.append((statement.targets[0].id, statement.value))
        names = {name for name, _ in own}
        return [item for item in inherited if item[0] not in names] + own

    def target_table(self, node: ast.expr, model: _Model) -> str:
        text = _const(node)
        name = text.split(".")[-1] if isinstance(text, str) else _callee(node)
        if name == "self":
            return model.table
        target = self.models.get(name)
        return target.table if target is not None else name.lower()

    def build(self, model: _Model) -> None:
        table = model.table
        columns: list[Column] = []
        indexes: list[Index] = []
        foreign_keys: list[ForeignKey] = []
        column_of: dict[str, str] = {}
        fields = self.field_calls(model)
        if not any(_const(_kw(call, "primary_key")) is True for _, call in fields):
            columns.append(Column("id", "BigAutoField", False))
            indexes.append(Index(f"{table}_pkey", table, (IndexKey("id", "id"),), True, True,
                                 constraint=f"{table}_pkey"))  # fmt: skip
            column_of["id"] = column_of["pk"] = "id"
        for name, call in fields:
            kind = _callee(call)
            db_column = _const(_kw(call, "db_column"))
            if kind == "ManyToManyField":
                self.many_to_many(model, name, call)
                continue
            relation = kind in _RELATIONS
            column = db_column if isinstance(db_column, str) else f"{name}_id" if relation else name
            column_of[name] = column
            primary = _const(_kw(call, "primary_key")) is True
            columns.append(Column(column, kind, _const(_kw(call, "null")) is True and not primary))
            key = (IndexKey(column, column),)
            unique = _const(_kw(call, "unique")) is True or kind == "OneToOneField"
            if primary:
                indexes.append(Index(f"{table}_pkey", table, key, True, True,
                                     constraint=f"{table}_pkey"))  # fmt: skip
                column_of["pk"] = column
            elif unique:
                name_ = f"{table}_{column}_key"
                indexes.append(Index(name_, table, key, True, constraint=name_))
            elif _const(_kw(call, "db_index")) is True or (
                relation and _const(_kw(call, "db_index")) is not False
            ):
                indexes.append(Index(_index_name(table, [column], "idx"), table, key))
            if relation:
                target = call.args[0] if call.args else _kw(call, "to")
                if target is not None:
                    foreign_keys.append(
                        ForeignKey(
                            f"{table}_{column}_fk",
                            table,
                            (column,),
                            self.target_table(target, model),
                            ("id",),
                        )
                    )
        self.names[model.name] = (table, dict(column_of))
        indexes.extend(self.meta_indexes(model, table, column_of))
        self.tables.append(Table(table, columns=tuple(columns), indexes=tuple(indexes),
                                 foreign_keys=tuple(foreign_keys)))  # fmt: skip

    def meta_indexes(self, model: _Model, table: str, column_of: dict[str, str]) -> list[Index]:
        result: list[Index] = []

        def keys(names: Iterable[str]) -> tuple[IndexKey, ...]:
            out = []
            for name in names:
                descending = name.startswith("-")
                column = column_of.get(name.lstrip("-"), name.lstrip("-"))
                out.append(IndexKey(column, column, descending))
            return tuple(out)

        def where(condition: ast.expr | None) -> str | None:
            return _q_to_sql(condition, column_of) if condition is not None else None

        for item in getattr(model.meta.get("indexes"), "elts", []):
            if isinstance(item, ast.Call) and _callee(item) == "Index":
                fields = _strings(_kw(item, "fields"))
                condition = _kw(item, "condition")
                name = _const(_kw(item, "name"))
                result.append(
                    Index(
                        name if isinstance(name, str) else _index_name(table, fields, "idx"),
                        table,
                        keys(fields),
                        predicate=where(condition),
                    )
                )
        for item in getattr(model.meta.get("constraints"), "elts", []):
            if isinstance(item, ast.Call) and _callee(item) == "UniqueConstraint":
                fields = _strings(_kw(item, "fields"))
                condition = _kw(item, "condition")
                name = _const(_kw(item, "name"))
                label = name if isinstance(name, str) else _index_name(table, fields, "uniq")
                result.append(
                    Index(label, table, keys(fields), True,
                          predicate=where(condition),
                          constraint=None if condition is not None else label)
                )  # fmt: skip
        for option, unique in (("unique_together", True), ("index_together", False)):
            value = model.meta.get(option)
            groups = (
                [_strings(value)]
                if _strings(value)
                else [_strings(e) for e in getattr(value, "elts", [])]
            )
            for group in groups:
                if group:
                    suffix = "uniq" if unique else "idx"
                    result.append(Index(_index_name(table, group, suffix), table, keys(group),
                                        unique))  # fmt: skip
        return result

    def many_to_many(self, model: _Model, name: str, call: ast.Call) -> None:
        target = call.args[0] if call.args else _kw(call, "to")
        if target is None or _kw(call, "through") is not None:
            return  # an explicit through model is a model of its own
        other = self.target_table(target, model)
        table = f"{model.table}_{name}"
        left = f"{model.name.lower()}_id"
        right_name = _const(target) if isinstance(_const(target), str) else _callee(target)
        right = f"{str(right_name).split('.')[-1].lower()}_id"
        if right == left:
            right = f"to_{right}"
        self.tables.append(
            Table(
                table,
                columns=(Column("id", "BigAutoField", False), Column(left, "ForeignKey", False),
                         Column(right, "ForeignKey", False)),
                indexes=(
                    Index(f"{table}_pkey", table, (IndexKey("id", "id"),), True, True,
                          constraint=f"{table}_pkey"),
                    Index(f"{table}_{left}_{right}_uniq", table,
                          (IndexKey(left, left), IndexKey(right, right)), True),
                    Index(_index_name(table, [left], "idx"), table, (IndexKey(left, left),)),
                    Index(_index_name(table, [right], "idx"), table, (IndexKey(right, right),)),
                ),
                foreign_keys=(
                    ForeignKey(f"{table}_{left}_fk", table, (left,), model.table, ("id",)),
                    ForeignKey(f"{table}_{right}_fk", table, (right,), other, ("id",)),
                ),
            )
        )  # fmt: skip


def _app_label(path: Path) -> str:
    folder = path.parent
    if folder.name == "models":
        folder = folder.parent
    return folder.name or "app"


def load_django_source(*sources: tuple[str, str]) -> Schema:
    """The schema of Django model modules given as ``(path, text)`` pairs."""
    builder = _build(sources)
    return Schema(tables=tuple(sorted(builder.tables, key=lambda t: t.name)), source="django")


def load_django_names(*sources: tuple[str, str]) -> dict[str, tuple[str, dict[str, str]]]:
    """Per model class: its table (``db_table`` or ``<app>_<model>``) and the column each field
    is stored in (``db_column``, ``<field>_id`` for a foreign key, ``pk``), so that a query
    written with the ORM's names can be written with the database's."""
    return _build(sources).names


def _build(sources: tuple[tuple[str, str], ...]) -> _Builder:
    models: list[_Model] = []
    for filename, text in sources:
        try:
            tree = parse_python(text, filename)
        except SyntaxError as error:
            raise ModelSourceError(f"{filename}:{error.lineno}: {error.msg}") from None
        models.extend(_collect(tree, _app_label(Path(filename))))
    builder = _Builder(models)
    for model in models:
        if builder.is_model(model) and not model.abstract:
            builder.build(model)
    return builder


def load_django_files(paths: Iterable[str | Path]) -> Schema:
    return load_django_source(*read_model_sources(paths))
