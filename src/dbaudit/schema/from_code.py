"""The schema an audited tree declares: its ORM models and its SQL DDL files, as one ``Schema``.

For ``dbaudit audit`` without ``--db``: the indexing review then still lists what is already
indexed and which foreign keys have no index. Sources, in order of authority (a table declared
twice keeps its first declaration):

1. SQL DDL files (``*.sql`` holding ``CREATE TABLE``, under the audited paths, read in path
   order, the order migration tools number them): what the database is built from.
2. SQLAlchemy models, Django models and Drizzle schema files: the files the static audit found
   declaring models.

A file that cannot be read or parsed is one note; the others are still read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dbaudit.scan.discovery import DEFAULT_EXCLUDES
from dbaudit.schema.model import Schema, Table

# Folders of somebody else's files (the static audit's default excludes, less ``migrations``:
# for the schema, migrations are where the tables are declared).
SKIPPED_FOLDERS = frozenset(DEFAULT_EXCLUDES) - {"migrations"}
MAX_DDL_BYTES = 2 * 1024 * 1024  # a larger .sql file is a data dump, not a schema
_CREATE_TABLE = re.compile(rb"create\s+(?:unlogged\s+)?table", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CodeSchema:
    schema: Schema
    files: tuple[str, ...]  # the files the tables came from
    notes: tuple[str, ...] = ()  # files that could not be read, one line each


def ddl_files(roots: Iterable[str]) -> list[str]:
    """``*.sql`` files under ``roots`` (files or folders) that create tables, in path order."""
    found: list[str] = []
    for root in roots:
        if os.path.isfile(root):
            candidates = [root] if root.endswith(".sql") else []
        else:
            candidates = []
            for folder, folders, files in os.walk(root):
                folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS)
                candidates += [os.path.join(folder, f) for f in files if f.endswith(".sql")]
        found += [path for path in candidates if _creates_tables(path)]
    return sorted(dict.fromkeys(found))


def _creates_tables(path: str) -> bool:
    try:
        if os.path.getsize(path) > MAX_DDL_BYTES:
            return False
        with open(path, "rb") as handle:
            return _CREATE_TABLE.search(handle.read()) is not None
    except OSError:
        return False


def load(
    model_files: Sequence[tuple[str, str]], roots: Sequence[str], base: str = "."
) -> CodeSchema | None:
    """The tables declared by ``model_files`` ((library, path) pairs) and the DDL files under
    ``roots``; None when there are none. Relative paths are read from ``base``, and paths are
    shown relative to it."""
    from dbaudit.schema.ddl import DDLError, load_ddl
    from dbaudit.schema.django_models import load_django_source
    from dbaudit.schema.sqlalchemy_models import (
        ModelSourceError,
        load_sqlalchemy_source,
        read_model_sources,
    )

    notes: list[str] = []
    parts: list[tuple[Schema, list[str]]] = []
    texts: list[str] = []
    ddl_read: list[str] = []
    for found in ddl_files(os.path.join(base, root) for root in roots):
        path = _shown(found, base)
        try:
            text = Path(found).read_text(encoding="utf-8")
            load_ddl(text)  # alone first, so one bad file does not hide the others
        except (OSError, UnicodeDecodeError) as error:
            notes.append(f"{path}: cannot read: {error}")
            continue
        except DDLError as error:
            notes.append(f"{path}: {error}")
            continue
        texts.append(text)
        ddl_read.append(path)
    if texts:
        parts.append((load_ddl(*texts), ddl_read))
    loaders = {"sqlalchemy": load_sqlalchemy_source, "django": load_django_source}
    for library, loader in loaders.items():
        paths = [path for lib, path in model_files if lib == library]
        if not paths:
            continue
        try:
            sources = read_model_sources(os.path.join(base, path) for path in paths)
            shown = [(_shown(path, base), text) for path, text in sources]
            parts.append((loader(*shown), paths))
        except ModelSourceError as error:
            notes.append(str(error))
    drizzle = [path for lib, path in model_files if lib == "drizzle"]
    if drizzle:
        parts.append(_drizzle(drizzle, base, notes))
    tables: dict[str, Table] = {}
    files: list[str] = []
    for schema, paths in parts:
        notes.extend(schema.notes)
        if schema.tables:
            files.extend(_shown(path, base) for path in paths)
        for table in schema.tables:
            tables.setdefault(table.qualified_name, table)
    if not tables:
        return None
    source = parts[0][0].source if len(parts) == 1 else "ddl"
    merged = Schema(tables=tuple(tables.values()), source=source, notes=tuple(notes))
    return CodeSchema(merged, tuple(dict.fromkeys(files)), tuple(notes))


def _shown(path: str, base: str) -> str:
    """``path`` relative to ``base`` when it is inside it, ``/`` separated, as reports show it."""
    relative = os.path.relpath(os.path.join(base, path), base)
    shown = path if relative.startswith("..") else relative
    return shown.replace(os.sep, "/")


def _drizzle(paths: Sequence[str], base: str, notes: list[str]) -> tuple[Schema, list[str]]:
    from dbaudit.frontends.typescript.schema import schema_from_sources

    sources = []
    for path in paths:
        try:
            sources.append((path, Path(base, path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            notes.append(f"{path}: cannot read: {error}")
    return schema_from_sources(sources), list(paths)
