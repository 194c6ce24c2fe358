"""The pytest plugin's missing-index check (``--dbaudit-explain``), end to end against the real
PostgreSQL: pytest runs in a subprocess (pytester) on a throwaway project whose tests read tables
created here (names unique to this run, in a database of this run's own, dropped afterwards)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dbaudit.runtime.export import load

pytest_plugins = ["pytester"]

SUFFIX = secrets.token_hex(4)
ORDERS = f"orders_{SUFFIX}"
NOTES = f"notes_{SUFFIX}"

SCHEMA = f"""
CREATE TABLE {ORDERS} (id serial PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                       indexed_ref int NOT NULL);
CREATE INDEX ON {ORDERS} (indexed_ref);
CREATE TABLE {NOTES} (id serial PRIMARY KEY, body text NOT NULL);
INSERT INTO {ORDERS} (customer_id, status, indexed_ref)
    SELECT g % 7, CASE WHEN g % 2 = 0 THEN 'new' ELSE 'paid' END, g FROM generate_series(1, 40) g;
INSERT INTO {NOTES} (body) SELECT 'note ' || g FROM generate_series(1, 5) g;
"""

APP = """
import os

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

import dbaudit.runtime

URL = os.environ["DBAUDIT_EXPLAIN_TEST_URL"]  # libpq form
ORDERS = os.environ["DBAUDIT_EXPLAIN_TEST_ORDERS"]
NOTES = os.environ["DBAUDIT_EXPLAIN_TEST_NOTES"]
SA_URL = URL.replace("postgresql://", "postgresql+psycopg://", 1)
ASYNC_URL = URL.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture()
def engine():
    engine = create_engine(SA_URL)
    yield engine
    engine.dispose()


@pytest.fixture()
async def async_engine():
    engine = create_async_engine(ASYNC_URL)
    yield engine
    await engine.dispose()


@pytest.fixture()
def pg():
    connection = dbaudit.runtime.instrument(psycopg.connect(URL))
    yield connection
    connection.close()


def orders_of(conn, customer_id):
    sql = text(f"SELECT id, status FROM {ORDERS} WHERE customer_id = :c")
    return conn.execute(sql, {"c": customer_id}).all()


def delete_orders_of(conn, customer_id):
    conn.execute(text(f"DELETE FROM {ORDERS} WHERE customer_id = :c"), {"c": customer_id})
"""

TESTS = """
from sqlalchemy import text
from app import NOTES, ORDERS, delete_orders_of, orders_of


def test_filter_without_index(engine):
    with engine.connect() as conn:
        assert len(orders_of(conn, 3)) > 0


def test_filters_an_index_serves(engine):
    with engine.connect() as conn:
        conn.execute(text(f"SELECT id FROM {ORDERS} WHERE id = :i"), {"i": 4}).all()
        conn.execute(text(f"SELECT id FROM {ORDERS} WHERE indexed_ref = :r"), {"r": 9}).all()
        conn.execute(text(f"SELECT count(*) FROM {NOTES}")).all()  # no filter: nothing to index


def test_writes_an_index_serves_or_with_no_filter(engine):
    with engine.begin() as conn:
        update = f"UPDATE {ORDERS} SET status = :s WHERE indexed_ref = :r"
        conn.execute(text(update), {"s": "x", "r": 9})
        conn.execute(text(f"DELETE FROM {ORDERS} WHERE id = :i"), {"i": 4})
        conn.execute(text(f"UPDATE {NOTES} SET body = body"))  # every row: not planned
        copy = f"INSERT INTO {NOTES} (body) SELECT status FROM {ORDERS} WHERE customer_id = :c"
        conn.execute(text(copy), {"c": 1})  # not planned: a bulk copy reads in full
        conn.rollback()


async def test_async_engine(async_engine):
    async with async_engine.connect() as conn:
        sql = text(f"SELECT id FROM {ORDERS} WHERE status = :s AND customer_id = :c")
        rows = (await conn.execute(sql, {"s": "new", "c": 2})).all()
    assert rows


def test_psycopg_connection(pg):
    pg.execute(f"SELECT id FROM {NOTES} WHERE body = %s", ("note 3",)).fetchall()


def test_delete_filter_without_index(engine):
    with engine.begin() as conn:
        delete_orders_of(conn, 3)
        conn.rollback()


def test_update_filter_without_index(pg):
    pg.execute(f"UPDATE {NOTES} SET body = %s WHERE body = %s", ("new", "note 3"))
    pg.rollback()
"""


def _snapshot(url: str) -> dict[str, Any]:
    """The catalog of the public schema (tables, columns, indexes, constraints) and every row
    of the two tables: what the check must leave exactly as it was."""
    with psycopg.connect(url) as conn:
        return {
            "relations": conn.execute(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1"
            ).fetchall(),
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall(),
            "indexes": conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall(),
            "constraints": conn.execute(
                "SELECT conname, contype FROM pg_constraint c JOIN pg_namespace n "
                "ON n.oid = c.connamespace WHERE n.nspname = 'public' ORDER BY 1"
            ).fetchall(),
            "orders": conn.execute(f"SELECT * FROM {ORDERS} ORDER BY id").fetchall(),
            "notes": conn.execute(f"SELECT * FROM {NOTES} ORDER BY id").fetchall(),
            "prepared_xacts": conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchall(),
            "enable_seqscan": conn.execute("SHOW enable_seqscan").fetchall(),
        }


@pytest.fixture()
def database(pg_url: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SCHEMA)  # type: ignore[arg-type]
    try:
        yield pg_url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {ORDERS}, {NOTES}")  # type: ignore[arg-type]


@pytest.fixture()
def project(
    pytester: pytest.Pytester, database: str, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.setenv("DBAUDIT_EXPLAIN_TEST_URL", database)
    monkeypatch.setenv("DBAUDIT_EXPLAIN_TEST_ORDERS", ORDERS)
    monkeypatch.setenv("DBAUDIT_EXPLAIN_TEST_NOTES", NOTES)
    pytester.makepyfile(app=APP, conftest="from app import engine, async_engine, pg  # noqa\n")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "dbaudit_slow_query_ms = 60000\n"
    )
    return pytester


def test_a_filter_no_index_serves_fails_at_the_statements_call_site(
    project: pytest.Pytester, database: str
) -> None:
    project.makepyfile(test_app=TESTS)
    before = _snapshot(database)
    # several statements are sent from the test module itself: judged as the application's
    result = project.runpytest_subprocess(
        "--dbaudit-explain", "--dbaudit-judge-test-code", "-p", "no:cacheprovider"
    )
    after = _snapshot(database)
    assert after == before  # catalog, rows and settings: nothing changed
    result.assert_outcomes(passed=2, failed=5)
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA401 at app.py:40 (orders_of): missing index on {ORDERS}: no index "
            "can serve the filter on customer_id (*1 query)",
            f"*fix: CREATE INDEX {ORDERS}_customer_id_idx ON {ORDERS} (customer_id);",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA401 at test_app.py:31 (test_async_engine): missing index on {ORDERS}: "
            "no index can serve the filter on status, customer_id*",
        ]
    )
    result.stdout.fnmatch_lines(
        [f"*dbaudit DBA401 at test_app.py:36 (test_psycopg_connection): missing index on {NOTES}*"]
    )
    # a write finds its rows as a SELECT does: planned, never run (the snapshot above)
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA401 at app.py:44 (delete_orders_of): missing index on {ORDERS}: no "
            "index can serve the filter on customer_id (*1 query)",
            f"*fix: CREATE INDEX {ORDERS}_customer_id_idx ON {ORDERS} (customer_id);",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA401 at test_app.py:46 (test_update_filter_without_index): missing index "
            f"on {NOTES}: no index can serve the filter on body*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "FAILED test_app.py::test_filter_without_index*",
            "FAILED test_app.py::test_async_engine*",
            "FAILED test_app.py::test_psycopg_connection*",
            "FAILED test_app.py::test_delete_filter_without_index*",
            "FAILED test_app.py::test_update_filter_without_index*",
        ]
    )
    # 4 SELECTs, the two writes an index serves and the two it does not; not the UPDATE of
    # every row nor the INSERT ... SELECT
    result.stdout.fnmatch_lines(["missing-index check: 10 statements planned"])
    result.stdout.no_fnmatch_line("*note:*")
    result.stdout.no_fnmatch_line("*test_filters_an_index_serves*DBA401*")

    # by default a statement the test module sends itself is the test's: reported, not failing
    default = project.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    default.assert_outcomes(passed=5, failed=2)
    default.stdout.fnmatch_lines(
        [
            "FAILED test_app.py::test_filter_without_index*",
            "FAILED test_app.py::test_delete_filter_without_index*",
        ]
    )
    default.stdout.fnmatch_lines(
        [f"  DBA401 test_app.py:36 missing index on {NOTES}: * (in test code, not failing)"]
    )


def test_without_the_option_nothing_is_planned(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    result.stdout.no_fnmatch_line("*DBA401*")
    result.stdout.no_fnmatch_line("*missing-index check*")


def test_the_suggested_index_ends_a_delete_finding(project: pytest.Pytester, database: str) -> None:
    """The fix of a DELETE's finding, run as printed, is an index the planner then uses: the
    same DELETE is no longer a finding."""
    project.makepyfile(
        test_delete="""
from app import delete_orders_of


def test_delete(engine):
    with engine.begin() as conn:
        delete_orders_of(conn, 3)
        conn.rollback()
"""
    )
    before = _snapshot(database)
    found = project.runpytest_subprocess(
        "--dbaudit-explain", "--dbaudit-json", "ev.json", "-p", "no:cacheprovider"
    )
    assert _snapshot(database) == before
    found.assert_outcomes(failed=1)
    (unit,) = load(project.path / "ev.json")
    (finding,) = unit.findings
    assert finding.rule == "DBA401" and finding.code.startswith(f"DELETE FROM {ORDERS} WHERE")
    assert finding.fix is not None
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(finding.fix.code)  # type: ignore[arg-type]
    before = _snapshot(database)
    assert f"{ORDERS}_customer_id_idx" in [name for name, _ in before["indexes"]]
    fixed = project.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    assert _snapshot(database) == before
    fixed.assert_outcomes(passed=1)
    fixed.stdout.fnmatch_lines(["missing-index check: 1 statements planned"])
    fixed.stdout.no_fnmatch_line("*DBA401*")


def test_allowed_ignored_and_skipped_tests(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_allow="""
import pytest
from app import orders_of, NOTES


@pytest.mark.dbaudit(allow="DBA401")
def test_allowed(engine):
    with engine.connect() as conn:
        orders_of(conn, 1)


@pytest.mark.dbaudit(explain=False)
def test_not_planned(engine):
    with engine.connect() as conn:
        orders_of(conn, 1)


def test_ignored_table(pg):
    pg.execute(f"SELECT id FROM {NOTES} WHERE body = %s", ("x",)).fetchall()


@pytest.mark.dbaudit(explain_ignore_tables="orders_*")
def test_own_ignored_table(engine):
    with engine.connect() as conn:
        orders_of(conn, 2)
"""
    )
    project.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "dbaudit_slow_query_ms = 60000\ndbaudit_explain = true\n"
        "dbaudit_explain_ignore_tables =\n    notes_*\n"
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--dbaudit-json", "ev.json")
    result.assert_outcomes(passed=4)
    # the allowed finding is still reported, in the summary and the events file
    result.stdout.fnmatch_lines(
        ["*worst offenders:*", f"*DBA401 app.py:40 missing index on {ORDERS}*"]
    )
    result.stdout.fnmatch_lines(["missing-index check: 3 statements planned"])
    units = {unit.name: unit for unit in load(project.path / "ev.json")}
    assert [f.rule for f in units["test_allow.py::test_allowed"].findings] == ["DBA401"]
    assert units["test_allow.py::test_not_planned"].findings == ()
    assert units["test_allow.py::test_ignored_table"].findings == ()
    assert units["test_allow.py::test_own_ignored_table"].findings == ()
    allowed = units["test_allow.py::test_allowed"].findings[0]
    assert allowed.fix is not None
    assert allowed.fix.code == f"CREATE INDEX {ORDERS}_customer_id_idx ON {ORDERS} (customer_id);"
    assert "Filter: (customer_id = ?)" in allowed.problem
    assert f'op.create_index("{ORDERS}_customer_id_idx", "{ORDERS}", ["customer_id"])' in (
        allowed.problem
    )
    # the command line switches off what the ini file switched on
    off = project.runpytest_subprocess("-p", "no:cacheprovider", "--no-dbaudit-explain")
    off.assert_outcomes(passed=4)
    off.stdout.no_fnmatch_line("*missing-index check*")
    # values were kept for EXPLAIN only: the events file never has them
    document = json.loads((project.path / "ev.json").read_text())
    assert all("params" not in e for u in document["units"] for e in u["events"])


def test_a_failing_explain_is_a_note_once_and_never_fails_the_test(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_temp="""
def _temp_table_query(pg):
    # a temporary table exists on the test's connection only: the check's own connection
    # cannot plan a statement that reads it
    pg.execute("CREATE TEMP TABLE scratch (a int)")
    pg.execute("SELECT a FROM scratch WHERE a = %s", (1,)).fetchall()


def test_one(pg):
    _temp_table_query(pg)


def test_two(pg):
    _temp_table_query(pg)
"""
    )
    result = project.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "missing-index check: 0 statements planned",
            '  note: could not EXPLAIN a statement: UndefinedTable: relation "scratch" does not '
            "exist",
            "         first in test_temp.py::test_one",
        ]
    )
    assert result.stdout.str().count("note:") == 1


def test_the_target_fixture_names_the_database(project: pytest.Pytester) -> None:
    """An engine the test reaches without a fixture is found only through the fixture."""
    tests = """
from sqlalchemy import create_engine
from app import SA_URL, orders_of

ENGINE = create_engine(SA_URL)


def test_module_engine():
    with ENGINE.connect() as conn:
        orders_of(conn, 5)
"""
    project.makepyfile(test_module=tests)
    unseen = project.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    unseen.assert_outcomes(passed=1)
    unseen.stdout.fnmatch_lines(
        [
            "  note: sqlalchemy statements were not planned: no PostgreSQL or SQLite "
            "sqlalchemy engine*"
        ]
    )
    project.makeconftest(
        "import pytest\nfrom app import engine, async_engine, pg, SA_URL  # noqa\n\n\n"
        "@pytest.fixture()\ndef dbaudit_explain_target():\n    return SA_URL\n"
    )
    seen = project.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    seen.assert_outcomes(failed=1)
    seen.stdout.fnmatch_lines([f"*DBA401 at app.py:40 (orders_of): missing index on {ORDERS}*"])


def test_hypopg_says_whether_the_suggested_index_would_serve(
    pytester: pytest.Pytester, fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HypoPG installed in the database (dbaudit never installs it), each suggested index
    is tried as a hypothetical one in the rolled-back transaction: the finding says whether the
    planner would use it. The hypothetical indexes leave nothing behind."""
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION hypopg")
        conn.execute(SCHEMA)  # type: ignore[arg-type]
    monkeypatch.setenv("DBAUDIT_EXPLAIN_TEST_URL", fresh_pg_url)
    monkeypatch.setenv("DBAUDIT_EXPLAIN_TEST_ORDERS", ORDERS)
    monkeypatch.setenv("DBAUDIT_EXPLAIN_TEST_NOTES", NOTES)
    pytester.makepyfile(app=APP, conftest="from app import engine, async_engine, pg  # noqa\n")
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    pytester.makepyfile(
        test_hypo="""
from app import NOTES, orders_of


def test_plain_column(engine):
    with engine.connect() as conn:
        orders_of(conn, 3)


def test_expression(pg):
    # a LIKE with a leading wildcard: no B-tree index on body can serve it
    pg.execute(f"SELECT id FROM {NOTES} WHERE body LIKE %s", ("%3",)).fetchall()
"""
    )
    before = _snapshot(fresh_pg_url)
    result = pytester.runpytest_subprocess(
        "--dbaudit-explain",
        "--dbaudit-judge-test-code",  # test_expression's statement is in the test module
        "--dbaudit-json",
        "ev.json",
        "-p",
        "no:cacheprovider",
    )
    assert _snapshot(fresh_pg_url) == before
    result.assert_outcomes(failed=2)
    units = {unit.name: unit for unit in load(pytester.path / "ev.json")}
    (plain,) = units["test_hypo.py::test_plain_column"].findings
    assert f"HypoPG: the planner uses a hypothetical index on {ORDERS} (customer_id)" in (
        plain.problem
    )
    assert plain.fix is not None and "HypoPG shows the planner would use it" in plain.fix.summary
    (expression,) = units["test_hypo.py::test_expression"].findings
    assert f"HypoPG: a plain index on {NOTES} (body) would not be used" in expression.problem
    assert expression.confidence == "medium"
    with psycopg.connect(fresh_pg_url) as conn:  # nothing hypothetical left in a new session
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (0,)


def test_a_test_on_two_databases_plans_each_statement_on_its_own(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_two="""
import pytest
from sqlalchemy import create_engine, text
from app import orders_of


@pytest.fixture()
def lite():
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE things (id INTEGER PRIMARY KEY, kind TEXT)")
    return engine


def test_both(lite, engine):
    with engine.connect() as conn:
        orders_of(conn, 1)
    with lite.connect() as conn:
        conn.execute(text("SELECT id FROM things WHERE kind = :k"), {"k": "x"}).all()
"""
    )
    result = project.runpytest_subprocess(  # the sqlite statement is in the test module
        "--dbaudit-explain", "--dbaudit-judge-test-code", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*DBA401 at app.py:40 (orders_of): missing index on {ORDERS}*"])
    result.stdout.fnmatch_lines(["*DBA401 at test_two.py:*(test_both): missing index on things*"])
    result.stdout.fnmatch_lines(["missing-index check: 2 statements planned"])
    result.stdout.no_fnmatch_line("*note:*")


def test_psycopg2_and_asyncpg_connections(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_raw="""
import asyncpg
import psycopg2
import pytest

import dbaudit.runtime
from app import NOTES, ORDERS, URL


@pytest.fixture()
def pg2():
    connection = dbaudit.runtime.instrument(psycopg2.connect(URL))
    yield connection
    connection.close()


@pytest.fixture()
async def apg():
    connection = dbaudit.runtime.instrument(await asyncpg.connect(URL))
    yield connection
    await connection.close()


def test_psycopg2(pg2):
    cursor = pg2.cursor()
    cursor.execute(f"SELECT id FROM {NOTES} WHERE body = %s", ("x",))
    cursor.fetchall()


async def test_asyncpg(apg):
    await apg.fetch(f"SELECT id FROM {ORDERS} WHERE status = $1", "new")
"""
    )
    result = project.runpytest_subprocess(  # statements sent from the test module
        "--dbaudit-explain", "--dbaudit-judge-test-code", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [f"*DBA401 at test_raw.py:*(test_psycopg2): missing index on {NOTES}*"]
    )
    result.stdout.fnmatch_lines(
        [f"*DBA401 at test_raw.py:*(test_asyncpg): missing index on {ORDERS}: * on status *"]
    )
    result.stdout.fnmatch_lines(["missing-index check: 2 statements planned"])
    result.stdout.no_fnmatch_line("*note:*")
