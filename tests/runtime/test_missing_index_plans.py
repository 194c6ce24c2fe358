"""runtime/plans.py's pure parts: reading plans, choosing statements, finding targets."""

from __future__ import annotations

import doctest
import sqlite3

import pytest
from sqlalchemy import create_engine

import dbaudit.runtime.plans as plans
from dbaudit.runtime import instrument, profile
from dbaudit.runtime.plans import (
    SeqScanFilter,
    alembic_call,
    filter_columns,
    filter_shape,
    filtered_seq_scans,
    find_targets,
    finding,
    statements_to_explain,
)


def test_doctests() -> None:
    assert doctest.testmod(plans).failed == 0


def test_nested_plans_and_catalogs() -> None:
    plan = [
        {
            "Plan": {
                "Node Type": "Hash Join",
                "Plans": [
                    {"Node Type": "Seq Scan", "Relation Name": "a", "Filter": "(x > 3)"},
                    {"Node Type": "Seq Scan", "Relation Name": "b"},  # no filter: nothing
                    {
                        "Node Type": "Seq Scan",
                        "Relation Name": "pg_class",
                        "Schema": "pg_catalog",
                        "Filter": "(relkind = 'r'::\"char\")",
                    },
                    {"Node Type": "Index Scan", "Relation Name": "c", "Filter": "(y = 1)"},
                ],
            }
        }
    ]
    assert [(s.table, s.columns) for s in filtered_seq_scans(plan)] == [("a", ("x",))]


@pytest.mark.parametrize(
    ("text", "shape", "columns"),
    [
        ("(customer_id = 42)", "(customer_id = ?)", ("customer_id",)),
        ("((a = $1) OR (b IS NULL))", "((a = ?) OR (b IS NULL))", ("a", "b")),
        (
            "((t.created_at > '2024-01-01 00:00:00'::timestamp without time zone) "
            "AND (t.v = ANY ('{1,2}'::integer[])))",
            "((t.created_at > ?) AND (t.v = ANY (?)))",
            ("created_at", "v"),
        ),
        ("(lower((email)::text) ~~ 'a%'::text)", "(lower((email)) ~~ ?)", ("email",)),
    ],
)
def test_filters_lose_their_values_and_keep_their_columns(
    text: str, shape: str, columns: tuple[str, ...]
) -> None:
    assert filter_shape(text) == shape
    assert filter_columns(text) == columns
    assert "2024" not in filter_shape(text) and "42" not in filter_shape(text)


def test_each_select_update_and_delete_once_other_writes_and_ignored_never() -> None:
    connection = instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    with profile(keep_params=True) as unit:
        for key in range(3):
            connection.execute("SELECT v FROM t WHERE id = ?", (key,)).fetchall()
        connection.execute("UPDATE t SET v = 1 WHERE id = ?", (1,))
        connection.execute("DELETE FROM t WHERE v = ?", (5,))
        connection.execute("DELETE FROM t WHERE v = ?", (6,))
        # its only WHERE is in a subquery, which runs for every row it writes
        connection.execute("UPDATE t SET v = (SELECT max(u.id) FROM t AS u WHERE u.v = t.v)")
        connection.execute("UPDATE t SET v = 0")  # every row: read in full by design
        connection.execute("DELETE FROM t")
        connection.execute("INSERT INTO t (v) SELECT v FROM t WHERE v = ?", (1,))
        connection.executemany("DELETE FROM t WHERE v = ?", [(1,), (2,)])
        connection.execute("SELECT count(*) FROM t").fetchall()
        from dbaudit.runtime import ignore

        with ignore():
            connection.execute("SELECT v FROM t WHERE v = ?", (2,)).fetchall()
            connection.execute("DELETE FROM t WHERE id = ?", (2,))
    chosen = statements_to_explain(unit.events, ignore_sql=("select count(*)*",))
    assert [(e.fingerprint.text, len(runs)) for e, runs in chosen] == [
        ("SELECT v FROM t WHERE id = ?", 3),
        ("UPDATE t SET v = ? WHERE id = ?", 1),
        ("DELETE FROM t WHERE v = ?", 2),
        ("UPDATE t SET v = (SELECT MAX(u.id) FROM t AS u WHERE u.v = t.v)", 1),
    ]
    assert chosen[2][0].params == (5,)
    assert chosen[0][0].params == (0,)  # the first execution, with its kept values
    with profile() as plain:  # values not kept: nothing can be planned
        connection.execute("SELECT v FROM t WHERE id = ?", (1,)).fetchall()
    assert statements_to_explain(plain.events) == []


def test_a_string_of_several_statements_is_never_planned(pg_url: str) -> None:
    # psycopg2 sends a string with no parameters bound by the server as one simple query: after
    # "EXPLAIN <the first>", a COMMIT in it would end the read-only transaction and the
    # statements after it would run for real, on the user's database
    import psycopg2

    owner = psycopg2.connect(pg_url)
    owner.autocommit = True
    owner.cursor().execute(
        "CREATE TABLE several (id int, v int); "
        "INSERT INTO several SELECT g, g FROM generate_series(1, 10) AS g"
    )
    connection = instrument(psycopg2.connect(pg_url))
    try:
        with profile(keep_params=True) as unit:
            connection.cursor().execute(
                "UPDATE several SET v = 0 WHERE v = %s; COMMIT; DELETE FROM several WHERE id > %s",
                (1, 5),
            )
            connection.cursor().execute("SELECT v FROM several WHERE id = %s; SELECT 1", (1,))
        connection.rollback()
        owner.cursor().execute(
            "TRUNCATE several; INSERT INTO several SELECT g, g FROM generate_series(1, 10) AS g"
        )
        assert statements_to_explain(unit.events) == []
        plans.check_unit(unit, find_targets([connection]))
        cursor = owner.cursor()
        cursor.execute("SELECT count(*), sum(v) FROM several")
        assert cursor.fetchone() == (10, 55)
    finally:
        connection.close()
        owner.cursor().execute("DROP TABLE several")
        owner.close()


def test_targets_come_from_postgresql_engines_urls_and_connections() -> None:
    sqlite_engine = create_engine("sqlite://")
    pg_engine = create_engine("postgresql+psycopg://postgres:secret@127.0.0.1:5432/test")
    targets = find_targets(
        [sqlite_engine, pg_engine, "postgresql+asyncpg://u@h/db", 42, [pg_engine], None]
    )
    assert [(t.source, t.is_async) for t in targets] == [
        ("sqlalchemy-sqlite", False),  # planned on the engine itself: memory cannot be reopened
        ("sqlalchemy", False),
        ("sqlalchemy", True),
        ("psycopg", False),  # a URL string also serves statements captured from raw drivers
        ("psycopg2", False),
        ("asyncpg", False),
    ]
    assert targets[0].url is sqlite_engine
    assert [t.url.drivername for t in targets[1:3]] == ["postgresql+psycopg", "postgresql+asyncpg"]
    assert targets[5].connect_kwargs == (("dsn", "postgresql://u@h/db"),)
    assert "secret" not in repr(targets[1])
    raw = sqlite3.connect(":memory:")
    assert [t.source for t in find_targets([raw, instrument(raw)])] == ["sqlite3", "sqlite3"]
    mysql = find_targets(["mysql+pymysql://root@127.0.0.1/test", "postgres_user", "x"])
    assert [t.source for t in mysql] == ["sqlalchemy-mysql"]


def test_a_value_that_raises_is_passed_over() -> None:
    class Treacherous:
        @property
        def _connection(self) -> None:
            raise RuntimeError("not a connection")

    assert find_targets([Treacherous(), "postgresql://u@h/db"])[0].source == "sqlalchemy"


def test_a_session_of_a_library_built_on_sqlalchemy_is_a_target() -> None:
    """SQLModel's Session subclasses SQLAlchemy's in a module of its own: the class, not its
    module, says what it is."""
    from sqlalchemy.orm import Session

    foreign = type("Session", (Session,), {"__module__": "sqlmodel.orm.session"})
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with foreign(engine) as session:
        targets = find_targets([session])
    assert [(t.source, t.url.drivername) for t in targets] == [("sqlalchemy", "postgresql+psycopg")]


def test_a_sqlalchemy_url_object_is_a_target() -> None:
    """``make_url(...)`` is a NamedTuple: it is read as one database, not walked as a tuple."""
    from sqlalchemy.engine import make_url

    url = make_url("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    targets = find_targets([url])
    assert [(t.source, t.url.drivername) for t in targets] == [("sqlalchemy", "postgresql+psycopg")]


def test_the_suggested_index_is_named_as_the_index_advisor_names_it() -> None:
    """One convention across the product: PostgreSQL's own ``<table>_<columns>_idx``, in the
    DDL (which SQLite and MySQL cannot take without a name) and in the Alembic line."""
    from dbaudit.indexes.candidates import Candidate
    from dbaudit.schema.model import IndexKey

    connection = instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, owner_id INTEGER, title TEXT)")
    with profile(keep_params=True) as unit:
        connection.execute("SELECT id FROM item WHERE owner_id = ? AND title = ?", (1, "a"))
    scan = SeqScanFilter("item", ("owner_id", "title"), "", "sqlite")
    advised = Candidate("item", tuple(IndexKey(c, c) for c in scan.columns)).name()
    assert advised == "item_owner_id_title_idx"
    fix = finding(scan, unit.events[0], unit.events, unit).fix
    assert fix is not None and fix.code == f"CREATE INDEX {advised} ON item (owner_id, title);"
    assert alembic_call(scan) == f'op.create_index("{advised}", "item", ["owner_id", "title"])'
    connection.execute(fix.code)  # valid SQLite, as it is on PostgreSQL and MySQL
