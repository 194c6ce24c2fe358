"""aiosql queries (SQL in .sql files, called as ``queries.<name>(conn, ...)``) in the model.

The fixture app ``tests/fixtures/aiosql_shop`` loads its queries with ``aiosql.from_path`` and
``from_str`` and calls them in loops, in sequence and in bulk; a line carrying
``# expect: DBAxxx`` must be flagged by that rule and no other line may be.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.frontends.python import parse_module
from dbaudit.frontends.python.aiosql import ModuleQueries, load_path, read_queries, static_path
from dbaudit.model import DbOp, ModuleModel

SHOP = Path(__file__).parents[2] / "fixtures" / "aiosql_shop"
_EXPECT = re.compile(r"#.*\bexpect:\s*([A-Z0-9, ]+)")


def expected() -> set[tuple[str, int, str]]:
    marks = set()
    for path in sorted(SHOP.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _EXPECT.search(line)
            if match:
                shown = path.relative_to(SHOP).as_posix()
                marks.update((shown, number, r.strip()) for r in match.group(1).split(","))
    return marks


def parse_in(root: Path, relative: str) -> ModuleModel:
    """The model of one file of ``root``, parsed from there as the audit does (paths relative
    to the working directory)."""
    with contextlib.chdir(root):
        return parse_module(relative, (root / relative).read_text())


def ops(module: ModuleModel, qualname: str) -> tuple[DbOp, ...]:
    function = module.function(qualname)
    assert function is not None, [f.qualname for f in module.functions]
    return function.db_ops


def test_the_fixture_app_is_flagged_on_exactly_the_expected_lines() -> None:
    with contextlib.chdir(SHOP):
        audit = run_static_audit(["."], AuditOptions(cwd=str(SHOP), use_cache=False, jobs=1))
    found = {(f.path, f.line, f.rule) for f in audit.findings}
    assert found == expected()
    assert {
        ("shop/services/orders.py", "DBA101"),
        ("shop/services/orders.py", "DBA105"),
        ("shop/services/orders.py", "DBA103"),
        ("shop/services/helpers.py", "DBA102"),
    } <= {(path, rule) for path, _, rule in found}
    optimized = {(p.path, p.line, p.function, p.kind) for p in audit.good_practices}
    assert ("shop/services/orders.py", 22, "place_order", "bulk write") in optimized


def test_dbaudit_audit_on_the_command_line_reads_the_sql_files() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dbaudit", "audit", ".", "--format", "json", "--no-cache"],
        cwd=SHOP,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    found = {(f["path"], f["line"], f["rule"]) for f in report["findings"]}
    assert found == expected()
    n_plus_one = next(f for f in report["findings"] if f["function"] == "customers_of")
    assert "customers" in n_plus_one["message"] and n_plus_one["severity"] == "high"


def test_an_imported_queries_object_gives_query_operations_with_their_sql() -> None:
    module = parse_in(SHOP, "shop/services/orders.py")
    (in_loop,) = ops(module, "customers_of")
    assert (in_loop.library, in_loop.kind, in_loop.tables) == ("asyncpg", "select", ("customers",))
    assert in_loop.api == "queries.get_customer_by_id" and in_loop.receiver == "conn"
    assert in_loop.loops == (0,) and in_loop.awaited and in_loop.result_shape == "row"
    # ``WHERE id = :customer_id`` called with ``customer_id=cid``: the key, bound to its value
    assert in_loop.single_key
    assert [(f.column, f.value) for f in in_loop.filters] == [("id", "cid")]
    assert in_loop.sql.startswith("SELECT id, name, email FROM customers WHERE id")
    create, bulk = ops(module, "place_order")
    # the CTE is no table, and the written table comes first
    assert (create.kind, create.tables, create.result_shape) == (
        "insert",
        ("orders", "customers"),
        "row",
    )
    assert (bulk.kind, bulk.tables, bulk.batched, bulk.loops) == (
        "insert",
        ("order_lines",),
        True,
        (),
    )
    (per_line,) = ops(module, "place_order_line_by_line")
    assert (per_line.kind, per_line.batched, per_line.loops) == ("insert", False, (0,))
    (report,) = ops(module, "daily_report")
    assert report.api == "queries.reports.daily_totals" and report.group_by and report.has_limit


def test_operators_give_the_result_shape_and_kind() -> None:
    catalog = read_queries(
        textwrap.dedent(
            """\
            -- name: all-users
            SELECT * FROM users;
            -- name: one-user^
            SELECT * FROM users WHERE id = :id;
            -- name: user-count$
            SELECT count(*) FROM users;
            -- name: rename-user!
            UPDATE users SET name = :name WHERE id = :id;
            -- name: drop-user!
            DELETE FROM users WHERE id = :id;
            -- name: add-user<!
            INSERT INTO users (name) VALUES (:name) RETURNING id;
            -- name: add-users*!
            INSERT INTO users (name) VALUES (:name);
            -- name: create-schema#
            CREATE TABLE users (id serial primary key, name text);
            CREATE INDEX ON users (name);
            -- name: notify(channel)!
            SELECT pg_notify(:channel, 'x');
            """
        ),
        "users.sql",
        library="asyncpg",
    )
    assert catalog.problems == ()
    shapes = {
        name: (q.operator, q.kind, q.result_shape, q.batched)
        for (_, name), q in catalog.queries.items()
    }
    assert shapes == {
        "all_users": ("", "select", "rows", False),
        "one_user": ("^", "select", "row", False),
        "user_count": ("$", "select", "scalar", False),
        "rename_user": ("!", "update", "", False),
        "drop_user": ("!", "delete", "", False),
        "add_user": ("<!", "insert", "row", False),
        "add_users": ("*!", "insert", "", True),
        "create_schema": ("#", "ddl", "", True),
        "notify": ("!", "raw", "", False),  # a write through a function call
    }
    assert catalog.find("", "all_users_cursor") is catalog.queries[("", "all_users")]
    assert catalog.find("", "one_user_cursor") is None  # only a plain select has a cursor form
    assert catalog.queries[("", "one_user")].line == 3


def test_calls_through_a_queries_object_bound_in_the_module() -> None:
    module = parse_module(
        "app.py",
        textwrap.dedent(
            '''
            import aiosql

            SQL = """
            -- name: get-user^
            SELECT * FROM users WHERE id = :user_id;
            -- name: list-users
            SELECT * FROM users LIMIT 10;
            """
            q = aiosql.from_str(SQL, "sqlite3")

            def sync_loop(conn, ids):
                for i in ids:
                    q.get_user(conn, user_id=i)

            async def cursor(conn):
                async with q.list_users_cursor(conn) as rows:
                    return rows

            def annotated(q: Store, conn):
                return q.get_user(conn, user_id=1)

            def unknown_method(conn):
                return q.nothing_by_that_name(conn)
            '''
        ),
    )
    (op,) = ops(module, "sync_loop")
    assert (op.library, op.kind, op.awaited, op.loops) == ("sqlite3", "select", False, (0,))
    assert op.filters[0].value == "i"
    (cursor,) = ops(module, "cursor")
    assert (cursor.kind, cursor.result_shape) == ("select", "rows")
    assert ops(module, "annotated") == ()  # a parameter of another type hides the module's q
    assert ops(module, "unknown_method") == ()


def test_a_queries_object_re_exported_by_a_package(tmp_path: Path) -> None:
    (tmp_path / "app" / "db" / "sql").mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db" / "sql" / "items.sql").write_text(
        "-- name: get-item^\nSELECT * FROM items WHERE id = :id;\n"
    )
    (tmp_path / "app" / "db" / "loader.py").write_text(
        "import os\nfrom aiosql import from_path as load\n"
        "SQL_DIR = os.path.join(os.path.dirname(__file__), 'sql')\n"
        "items = load(SQL_DIR, driver_adapter='psycopg2')\n"
    )
    (tmp_path / "app" / "db" / "__init__.py").write_text("from .loader import items as queries\n")
    (tmp_path / "app" / "views.py").write_text(
        "from app.db import queries\n"
        "import app.db.loader as loader\n\n"
        "def show(conn, ids):\n"
        "    return [queries.get_item(conn, id=i) for i in ids]\n\n"
        "def show_one(conn):\n"
        "    return loader.items.get_item(conn, id=1)\n"
    )
    views = parse_in(tmp_path, "app/views.py")
    (op,) = ops(views, "show")
    assert (op.library, op.tables, op.single_key, op.loops) == ("psycopg", ("items",), True, (0,))
    (one,) = ops(views, "show_one")
    assert (one.api, one.loops) == ("loader.items.get_item", ())


def test_a_relative_literal_path_is_looked_for_above_the_module(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "q.sql").write_text("-- name: touch!\nUPDATE t SET n = n + 1;\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "jobs.py").write_text(
        "import aiosql\nqueries = aiosql.from_path('sql/q.sql', 'asyncpg')\n\n"
        "async def run(conn, times):\n"
        "    for _ in range(times):\n"
        "        await queries.touch(conn)\n"
    )
    (op,) = ops(parse_in(tmp_path, "pkg/jobs.py"), "run")
    assert (op.kind, op.tables, op.awaited) == ("update", ("t",), True)


def test_a_relative_path_is_not_looked_for_above_the_projects_root(tmp_path: Path) -> None:
    # a folder of that name outside the project (/tmp/sql on a shared machine) is no part of it
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "q.sql").write_text("-- name: touch!\nUPDATE t SET n = n + 1;\n")
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / "pkg" / "jobs.py").write_text(
        "import aiosql\nqueries = aiosql.from_path('sql/q.sql', 'asyncpg')\n\n"
        "async def run(conn, times):\n"
        "    for _ in range(times):\n"
        "        await queries.touch(conn)\n"
    )
    module = parse_in(project, "pkg/jobs.py")
    assert ops(module, "run") == ()
    # inside the project, the nearest of the module's folders holding it still wins
    (project / "sql").mkdir()
    (project / "sql" / "q.sql").write_text("-- name: touch\nSELECT 1 FROM t;\n")
    (op,) = ops(parse_in(project, "pkg/jobs.py"), "run")
    assert op.kind == "select"


@pytest.mark.parametrize(
    ("expression", "expected_path"),
    [
        ('Path(__file__).parent / "sql"', "/app/db/sql"),
        ('pathlib.Path(__file__).resolve().parent.joinpath("sql", "a.sql")', "/app/db/sql/a.sql"),
        ("Path(__file__).parents[1] / 'sql'", "/app/sql"),
        ('Path(__file__).with_suffix(".sql")', "/app/db/queries.sql"),
        ('Path(__file__).with_name("q.sql")', "/app/db/q.sql"),
        ('os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")', "/app/db/sql"),
        ('str(BASE / "x.sql")', "/base/x.sql"),
        ('"queries.sql"', "queries.sql"),
        ("Path(__file__).parent / name", None),
        ("get_sql_dir()", None),
    ],
)
def test_static_paths(expression: str, expected_path: str | None) -> None:
    node = ast.parse(expression, mode="eval").body
    assert static_path(node, "/app/db/queries.py", {"BASE": "/base"}) == expected_path


def test_sql_files_aiosql_refuses_are_problems_told_once_and_the_rest_is_read() -> None:
    broken = SHOP / "shop" / "db" / "broken"
    with contextlib.chdir(SHOP):
        catalog = load_path(str(broken), "asyncpg")
        binding = ModuleQueries(
            ast.parse((SHOP / "shop/services/broken.py").read_text()), "shop/services/broken.py", []
        )
    assert list(catalog.queries) == [("", "fine_query")]
    assert catalog.problems == (
        "shop/db/broken/bad.sql:1: aiosql refuses the query name '1st-query'",
        "shop/db/broken/bad.sql:7: query no_sql_here has no SQL",
        "shop/db/broken/latin1.sql: not valid UTF-8 (byte 23)",
    )
    assert binding.problems == catalog.problems
    # a module that only imports the queries object does not tell them again
    importer = ModuleQueries(ast.parse(""), "shop/services/orders.py", [])
    assert importer.problems == ()


def test_unparsable_sql_and_missing_paths_are_problems_not_errors(tmp_path: Path) -> None:
    catalog = read_queries("-- name: odd^\nSELECT FROM WHERE ((;\n", "odd.sql")
    (problem,) = catalog.problems
    assert problem.startswith("odd.sql:1: query odd: cannot parse SQL")
    assert catalog.find("", "odd") is not None  # still a query, read by pattern
    # sqlglot's tokenizer raises its own error, not a ParseError, on this one
    tokens = read_queries("-- name: d!\nDELETE FROM t WHERE a IN ($1)$\n", "d.sql")
    assert tokens.problems[0].startswith("d.sql:1: query d: cannot parse SQL: Error tokenizing")
    assert tokens.queries[("", "d")].kind == "delete"
    (tmp_path / "m.py").write_text(
        "import aiosql\nq = aiosql.from_path('missing', 'asyncpg')\n"
        "def f(conn, ids):\n    for i in ids:\n        q.x(conn)\n"
    )
    module = parse_in(tmp_path, "m.py")
    assert ops(module, "f") == ()
    with contextlib.chdir(tmp_path):
        binding = ModuleQueries(ast.parse((tmp_path / "m.py").read_text()), "m.py", [])
    assert binding.problems == ("m.py: aiosql path missing not found",)


def test_sql_files_the_audit_could_not_read_are_listed_in_the_report() -> None:
    # the module whose queries object loads them is audited in part: its calls of the refused
    # or unreadable queries are not seen, and the report has to say so
    with contextlib.chdir(SHOP):
        audit = run_static_audit(["."], AuditOptions(cwd=str(SHOP), use_cache=False, jobs=1))
    reasons = {s.path: s.reason for s in audit.skipped if s.reason != "empty file"}
    assert reasons == {
        "shop/services/broken.py": "partly analyzed (aiosql: "
        "shop/db/broken/bad.sql:1: aiosql refuses the query name '1st-query'; "
        "shop/db/broken/bad.sql:7: query no_sql_here has no SQL; "
        "shop/db/broken/latin1.sql: not valid UTF-8 (byte 23))"
    }
    assert "shop/services/broken.py" in {f.path for f in audit.files}


def test_a_sql_file_outside_the_working_directory_is_named_by_its_absolute_path(
    tmp_path: Path,
) -> None:
    # as the audit names the files it reads: relative only under the working directory
    (tmp_path / "pyproject.toml").write_text("")  # the project's root: 'x' is not looked for above
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "q.sql").write_text("-- name: 1st\nSELECT 1;\n")
    (tmp_path / "m.py").write_text("import aiosql\nq = aiosql.from_path('sql', 'asyncpg')\n")
    with contextlib.chdir(SHOP):
        (problem,) = load_path(str(tmp_path / "sql")).problems
        binding = ModuleQueries(
            ast.parse("import aiosql\nq = aiosql.from_path('x', 'asyncpg')\n"),
            str(tmp_path / "m.py"),
            [],
        )
    assert (
        problem
        == f"{(tmp_path / 'sql' / 'q.sql').as_posix()}:1: aiosql refuses the query name '1st'"
    )
    assert binding.problems == (f"{(tmp_path / 'm.py').as_posix()}: aiosql path x not found",)
