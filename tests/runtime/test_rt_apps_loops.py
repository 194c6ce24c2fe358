"""A call inside a loop's ``return`` (or ``raise``) ends the function: the loop around it is a
retry, not the loop of an N+1, which is the caller's.

The shape of mealie's ``RepositoryRecipes.create``: ``for i in range(1, 11): try: return
super().create(document) except IntegrityError: rename and retry``, called once per recipe by
an importer's loop; every per-recipe statement was an N+1 "at" the retry loop's return line.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

from dbaudit.runtime import instrument, profile
from dbaudit.runtime.events import CallSite
from dbaudit.runtime.loops import loop_frame, loop_headers

REPOSITORY = """\
import sqlite3


def create(db, name):
    for attempt in range(1, 11):
        try:
            return insert_and_read(db, name if attempt == 1 else f"{name} ({attempt})")
        except sqlite3.IntegrityError:
            continue
    raise ValueError(name)


def insert_and_read(db, name):
    db.execute("INSERT INTO dishes (name) VALUES (?)", (name,))
    return db.execute("SELECT id FROM dishes WHERE name = ?", (name,)).fetchone()[0]


def import_all(db, names):
    created = []
    for name in names:
        created.append(create(db, name))
    return created


def first_usable(db, names):
    for name in names:
        if name:
            return [insert_and_read(db, part) for part in name.split()]
    return []
"""


def lines(snippet: str) -> int:
    return next(n for n, line in enumerate(REPOSITORY.splitlines(), 1) if snippet in line)


def load(tmp_path: Path) -> ModuleType:
    path = tmp_path / "rt_apps_repository.py"
    path.write_text(REPOSITORY)
    spec = importlib.util.spec_from_file_location("rt_apps_repository", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_n_plus_one_is_at_the_callers_loop_not_the_retry(tmp_path: Path) -> None:
    repository = load(tmp_path)
    db = instrument(sqlite3.connect(":memory:"))
    db.execute("CREATE TABLE dishes (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
    with profile("import") as unit:
        repository.import_all(db, ["soup", "stew", "pie", "tart"])
    located = sorted((f.rule, f.function, f.line) for f in unit.findings)
    caller = lines("created.append(create(db, name))")
    assert located == [("DBA101", "import_all", caller), ("DBA103", "import_all", caller)]


def test_a_return_line_in_a_loop_is_no_loop_line(tmp_path: Path) -> None:
    path = tmp_path / "rt_apps_repository.py"
    path.write_text(REPOSITORY)
    headers = loop_headers(str(path))
    retry = lines("return insert_and_read(db, name if attempt")
    assert retry not in headers
    assert headers[lines("created.append(create(db, name))")] == lines("for name in names:")
    # a comprehension inside a return still runs once per item
    per_part = lines("return [insert_and_read(db, part)")
    assert headers[per_part] == per_part


def test_with_instruction_spans(tmp_path: Path) -> None:
    path = tmp_path / "rt_apps_repository.py"
    path.write_text(REPOSITORY)
    retry = lines("return insert_and_read(db, name if attempt")
    column = REPOSITORY.splitlines()[retry - 1].index("insert_and_read")
    in_return = CallSite(str(path), retry, "create", (retry, retry, column, column + 40))
    helper = CallSite(str(path), lines('db.execute("SELECT'), "insert_and_read")
    assert loop_frame((helper, in_return)) is None
    per_part = lines("return [insert_and_read(db, part)")
    text = REPOSITORY.splitlines()[per_part - 1]
    start = text.index("insert_and_read")
    end = start + len("insert_and_read(db, part)")
    element = CallSite(str(path), per_part, "first_usable", (per_part, per_part, start, end))
    assert loop_frame((helper, element)) == (1, per_part)
