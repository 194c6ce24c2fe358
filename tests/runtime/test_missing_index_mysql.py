"""The missing-index check on MariaDB/MySQL (``--dbaudit-explain``), end to end with pytester
against the MariaDB on 127.0.0.1:3306 (skipped when there is none)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from dbaudit.runtime.plans import mysql_full_scans

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
"""
    )
    before = _rows(table)
    result = pytester.runpytest_subprocess("--dbaudit-explain", "-p", "no:cacheprovider")
    table.commit()  # a fresh snapshot for the comparison (REPEATABLE READ)
    assert _rows(table) == before
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA401 at test_my.py:7 (test_engine): missing index on {TABLE}: no index "
            "can serve the filter on customer_id (a full table scan in the plan, no index "
            "possible; 1 query)",
            f"*fix: CREATE INDEX {TABLE}_customer_id_idx ON {TABLE} (customer_id);",
        ]
    )
    result.stdout.fnmatch_lines([f"*DBA401 at test_my.py:13 (test_pymysql): *{TABLE}*"])
    result.stdout.fnmatch_lines(["missing-index check: 3 statements planned"])
    result.stdout.no_fnmatch_line("*note:*")
    result.stdout.no_fnmatch_line("*filter on status*")


def test_a_possible_key_or_no_where_is_not_reported() -> None:
    sql = "SELECT id FROM t WHERE status = %s"
    rows = [{"table": "t", "type": "ALL", "possible_keys": "ix_status", "extra": "Using where"}]
    assert mysql_full_scans(rows, sql) == []  # a small table read in full, an index exists
    rows = [{"table": "t", "type": "ALL", "possible_keys": None, "extra": ""}]
    assert mysql_full_scans(rows, "SELECT id FROM t") == []
