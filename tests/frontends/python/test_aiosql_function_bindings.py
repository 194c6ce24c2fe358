"""aiosql queries objects loaded inside functions: an app factory's local ``queries`` that its
routes use, and a ``get_queries()`` that returns one, bound by whoever calls it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.frontends.python import parse_module
from dbaudit.frontends.python.parser import parse
from dbaudit.model import DbOp, ModuleModel

ITEMS = "-- name: get-item^\nSELECT * FROM items WHERE id = :id;\n"


def parse_in(root: Path, relative: str) -> ModuleModel:
    with contextlib.chdir(root):
        return parse_module(relative, (root / relative).read_text())


def ops(module: ModuleModel, qualname: str) -> tuple[DbOp, ...]:
    function = module.function(qualname)
    assert function is not None, [f.qualname for f in module.functions]
    return function.db_ops


def project(root: Path, module: str) -> None:
    (root / "sql").mkdir()
    (root / "sql" / "items.sql").write_text(ITEMS)
    (root / "app.py").write_text(module)


def test_a_queries_object_bound_in_an_app_factory_is_read_in_its_routes(tmp_path: Path) -> None:
    project(
        tmp_path,
        "from pathlib import Path\n"
        "import aiosql\n\n"
        "def create_app():\n"
        "    queries = aiosql.from_path(Path(__file__).parent / 'sql', 'psycopg2')\n\n"
        "    def show(conn, ids):\n"
        "        return [queries.get_item(conn, id=i) for i in ids]\n\n"
        "    return show\n\n"
        "def other(conn, queries):\n"
        "    return queries.append(conn)\n",
    )
    module = parse_in(tmp_path, "app.py")
    (op,) = ops(module, "create_app.<locals>.show")
    assert (op.library, op.tables, op.single_key, op.loops) == ("psycopg", ("items",), True, (0,))
    assert ops(module, "other") == ()  # a name the catalog has no such method for


def test_a_function_returning_a_queries_object_binds_its_callers_names(tmp_path: Path) -> None:
    project(
        tmp_path,
        "import functools\n"
        "import aiosql\n\n"
        "@functools.lru_cache\n"
        "def get_queries():\n"
        "    return aiosql.from_path('sql/items.sql', 'asyncpg')\n\n"
        "async def show(conn, ids):\n"
        "    queries = get_queries()\n"
        "    for i in ids:\n"
        "        await queries.get_item(conn, id=i)\n",
    )
    module = parse_in(tmp_path, "app.py")
    (op,) = ops(module, "show")
    assert (op.library, op.kind, op.awaited, op.loops) == ("asyncpg", "select", True, (0,))
    with contextlib.chdir(tmp_path):
        outcome = parse("app.py", (tmp_path / "app.py").read_text())
    # the scan cache rebuilds the module when the .sql file it loads changes
    assert outcome.inputs == (str(tmp_path / "sql" / "items.sql"),)
