"""The missing-index check on MariaDB/MySQL (``--dbaudit-explain``), end to end with pytester
against the MariaDB on 127.0.0.1:3306 (skipped when there is none)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from dbaudit.runtime.explain import CannotExplain
from dbaudit.runtime.export import load
from dbaudit.runtime.plans import mysql_full_scans, reading_select

pytest_plugins = ["pytester"]

MARIADB: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": "root",
    "password": "",
    "database": "test",
}
TABLE = f"orders_{secrets.token_hex(4)}"


def _rows(connection: Any) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TABLE} ORDER BY id")
        rows = cursor.fetchall()
        cursor.execute(f"SHOW CREATE TABLE {TABLE}")
        return rows, cursor.fetchall()


@pytest.fixture()
def table() -> Iterator[Any]:
    try:
        connection = pymysql.connect(**MARIADB)
    except pymysql.err.OperationalError as error:
        pytest.skip(f"no MariaDB/MySQL on 127.0.0.1:3306: {error}")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {TABLE} (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT, "
            "status VARCHAR(10), KEY ix_status (status))"
        )
        cursor.execute(f"INSERT INTO {TABLE} (customer_id, status) VALUES (1, 'a'), (2, 'b')")
    connection.commit()
    try:
        yield connection
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        connection.close()


def test_mariadb_engine_and_pymysql_connection(
    pytester: pytest.Pytester, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBAUDIT_MYSQL_TABLE", TABLE)
    pytester.makeconftest(
        """
import os

import pymysql
import pytest
from sqlalchemy import create_engine, text

import dbaudit.runtime

TABLE = os.environ["DBAUDIT_MYSQL_TABLE"]


@pytest.fixture()
def engine():
    engine = create_engine("mysql+pymysql://root@127.0.0.1:3306/test")
    yield engine
    engine.dispose()


@pytest.fixture()
def my():
    connection = dbaudit.runtime.instrument(
        pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test")
    )
    yield connection
    connection.close()
"""
    )
    pytester.makepyfile(
        test_my="""
from sqlalchemy import text
from conftest import TABLE


def test_engine(engine):
    with engine.connect() as conn:
        conn.execute(text(f"SELECT id FROM {TABLE} WHERE customer_id = :c"), {"c": 1}).all()
        conn.execute(text(f"SELECT id FROM {TABLE} WHERE status = :s"), {"s": "a"}).all()


def test_pymysql(my):
    with my.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {TABLE} o WHERE o.customer_id = %s", (2,))
        cursor.fetchall()


def test_engine_delete(engine):
    with engine.connect() as conn:  # closed without a commit: rolled back
        conn.execute(text(f"DELETE FROM {TABLE} WHERE customer_id = :c"), {"c": 1})
        conn.execute(text(f"DELETE FROM {TABLE} WHERE status = :s"), {"s": "b"})


def test_pymysql_update(my):
    with my.cursor() as cursor:
        # the SET's value comes before the WHERE's, positionally
        cursor.execute(f"UPDATE {TABLE} SET status = %s WHERE customer_id = %s", ("c", 2))
        cursor.execute(f"UPDATE {TABLE} SET customer_id = customer_id")  # every row
    my.rollback()
"""
    )
    before = _rows(table)
    result = pytester.runpytest_subprocess(
        "--dbaudit-explain",
        "--dbaudit-judge-test-code",  # the statements are sent from the test modules
        "--dbaudit-json",
        "ev.json",
        "-p",
        "no:cacheprovider",
    )
    table.commit()  # a fresh snapshot for the comparison (REPEATABLE READ)
    assert _rows(table) == before
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA401 at test_my.py:7 (test_engine): missing index on {TABLE}: no index "
            "can serve the filter on customer_id (a full table scan in the plan, no index "
            "possible; 1 query)",
            f"*fix: CREATE INDEX {TABLE}_customer_id_idx ON {TABLE} (customer_id);",
        ]
    )
    result.stdout.fnmatch_lines([f"*DBA401 at test_my.py:13 (test_pymysql): *{TABLE}*"])
    # planned as the SELECT of the rows they write, in the READ ONLY transaction
    result.stdout.fnmatch_lines(
        [
            f"*DBA401 at test_my.py:19 (test_engine_delete): missing index on {TABLE}: no index "
            "can serve the filter on customer_id*",
            f"*DBA401 at test_my.py:26 (test_pymysql_update): missing index on {TABLE}: no index "
            "can serve the filter on customer_id*",
        ]
    )
    # 3 SELECTs, 2 DELETEs and the UPDATE with a WHERE
    result.stdout.fnmatch_lines(["missing-index check: 6 statements planned"])
    result.stdout.no_fnmatch_line("*note:*")
    result.stdout.no_fnmatch_line("*filter on status*")
    fixes = {f.fix.code for u in load(pytester.path / "ev.json") for f in u.findings if f.fix}
    assert fixes == {f"CREATE INDEX {TABLE}_customer_id_idx ON {TABLE} (customer_id);"}
    with table.cursor() as cursor:
        cursor.execute(fixes.pop())  # the DDL as printed is valid MariaDB
    before = _rows(table)
    fixed = pytester.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    table.commit()
    assert _rows(table) == before
    fixed.assert_outcomes(passed=4)
    fixed.stdout.fnmatch_lines(["missing-index check: 6 statements planned"])
    fixed.stdout.no_fnmatch_line("*DBA401*")


def test_a_possible_key_or_no_where_is_not_reported() -> None:
    sql = "SELECT id FROM t WHERE status = %s"
    rows = [{"table": "t", "type": "ALL", "possible_keys": "ix_status", "extra": "Using where"}]
    assert mysql_full_scans(rows, sql) == []  # a small table read in full, an index exists
    rows = [{"table": "t", "type": "ALL", "possible_keys": None, "extra": ""}]
    assert mysql_full_scans(rows, "SELECT id FROM t") == []


@pytest.mark.parametrize(
    ("write", "select"),
    [
        (
            "UPDATE t SET a = 'x', b = b + 1 WHERE c = 3 ORDER BY id LIMIT 10",
            "SELECT 1 FROM t WHERE c = 3 ORDER BY id LIMIT 10",
        ),
        (
            "UPDATE t JOIN u ON u.id = t.u_id SET t.a = u.a WHERE u.k = 'k'",
            "SELECT 1 FROM t JOIN u ON u.id = t.u_id WHERE u.k = 'k'",
        ),
        (
            "UPDATE t, u SET t.a = u.a WHERE t.u_id = u.id AND u.k = 1",
            "SELECT 1 FROM t, u WHERE t.u_id = u.id AND u.k = 1",
        ),
        (
            "DELETE t FROM t JOIN u ON u.id = t.u_id WHERE u.k = 1",
            "SELECT 1 FROM t JOIN u ON u.id = t.u_id WHERE u.k = 1",
        ),
        (
            "DELETE FROM t USING t JOIN u ON u.id = t.u_id WHERE u.k = 1",
            "SELECT 1 FROM t JOIN u ON u.id = t.u_id WHERE u.k = 1",
        ),
        (
            "WITH old AS (SELECT id FROM u WHERE k = 1) DELETE FROM t WHERE u_id IN "
            "(SELECT id FROM old)",
            "WITH old AS (SELECT id FROM u WHERE k = 1) SELECT 1 FROM t WHERE u_id IN "
            "(SELECT id FROM old)",
        ),
    ],
)
def test_a_write_is_planned_as_the_select_of_its_rows(write: str, select: str) -> None:
    assert reading_select(write, "mysql") == select


def test_a_write_sqlglot_cannot_read_is_refused_without_its_values() -> None:
    with pytest.raises(CannotExplain) as refused:
        reading_select("DELETE LOW_PRIORITY QUICK IGNORE FROM t WHERE secret = 'hunter2'", "mysql")
    assert "hunter2" not in str(refused.value)
