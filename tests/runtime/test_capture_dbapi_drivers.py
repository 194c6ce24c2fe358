"""The DB-API proxy on the drivers it names but sqlite3 does not exercise: psycopg2 against
PostgreSQL and PyMySQL against the MariaDB on 127.0.0.1:3306. Events carry fingerprints, rows
and call sites; a loop is an N+1 and its batched version is clean, as on sqlite3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pymysql
import pytest

from dbaudit.runtime import DetectConfig, instrument, profile
from dbaudit.runtime.capture.dbapi import ProfiledConnection

ROWS = 12
LOOPED = 5
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}

# A loaded machine can make any one statement "slow" (DBA302): these tests are about other rules.
QUIET = DetectConfig(slow_query_ms=60_000)


def group_of(connection: Any, table: str, key: int) -> int:
    cursor = connection.cursor()
    cursor.execute(f"SELECT grp FROM {table} WHERE id = %s", (key,))
    value: int = cursor.fetchone()[0]
    return value


def groups_in_a_loop(connection: Any, table: str) -> list[int]:
    return [group_of(connection, table, key) for key in range(LOOPED)]


def groups_batched(connection: Any, table: str) -> list[int]:
    cursor = connection.cursor()
    cursor.execute(f"SELECT grp FROM {table} WHERE id IN %s ORDER BY id", (tuple(range(LOOPED)),))
    return [row[0] for row in cursor.fetchall()]


def fill(connection: Any, table: str) -> None:
    cursor = connection.cursor()
    cursor.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, grp INT)")
    cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, i % 3) for i in range(ROWS)])
    connection.commit()


@pytest.fixture()
def psycopg2_connection(pg_url: str) -> Iterator[tuple[Any, str]]:
    raw = psycopg2.connect(pg_url)
    table = f"rt_pg2_{uuid.uuid4().hex[:8]}"
    fill(raw, table)
    yield instrument(raw), table
    raw.rollback()
    with raw.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    raw.commit()
    raw.close()


@pytest.fixture()
def pymysql_connection() -> Iterator[tuple[Any, str]]:
    try:
        raw = pymysql.connect(**MARIADB)
    except pymysql.err.OperationalError as error:
        pytest.skip(f"no MariaDB/MySQL on 127.0.0.1:3306: {error}")
    table = f"rt_mysql_{uuid.uuid4().hex[:8]}"
    fill(raw, table)
    yield instrument(raw), table
    raw.rollback()
    with raw.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    raw.commit()
    raw.close()


@pytest.fixture(params=["psycopg2", "pymysql"])
def driver(request: pytest.FixtureRequest) -> tuple[Any, str]:
    connection: tuple[Any, str] = request.getfixturevalue(f"{request.param}_connection")
    return connection


def test_proxy_and_source(driver: tuple[Any, str]) -> None:
    connection, _ = driver
    assert isinstance(connection, ProfiledConnection)
    assert instrument(connection) is connection
    assert connection.wrapped.__class__.__module__.split(".")[0] in ("psycopg2", "pymysql")


def test_loop_is_an_n_plus_one_with_fingerprint_rows_and_call_site(
    driver: tuple[Any, str],
) -> None:
    connection, table = driver
    with profile("loop", config=QUIET) as unit:
        assert groups_in_a_loop(connection, table) == [k % 3 for k in range(LOOPED)]
    assert unit.query_count == LOOPED
    source = type(connection.wrapped).__module__.split(".")[0]
    assert {e.source for e in unit.events} == {source}
    first = unit.events[0]
    assert first.fingerprint.text == f"SELECT grp FROM {table} WHERE id = ?"
    assert first.fingerprint.kind == "select"
    assert first.rows == 1
    assert first.call_site is not None
    assert first.call_site.function == "group_of"
    assert first.call_site.path.endswith("test_capture_dbapi_drivers.py")
    assert len({e.param_hashes for e in unit.events}) == LOOPED
    [finding] = unit.findings
    assert finding.rule == "DBA101"
    assert finding.evidence is not None and finding.evidence.queries == LOOPED
    assert finding.function.startswith("groups_in_a_loop")  # the loop, not the helper
    assert finding.fix is not None
    assert finding.fix.code == f"SELECT grp FROM {table} WHERE id IN (?)"


def test_batched_is_clean(driver: tuple[Any, str]) -> None:
    connection, table = driver
    with profile("batched", config=QUIET) as unit:
        assert groups_batched(connection, table) == [k % 3 for k in range(LOOPED)]
    assert unit.query_count == 1
    assert unit.events[0].rows == LOOPED
    assert unit.findings == []


def test_row_by_row_writes_and_executemany(driver: tuple[Any, str]) -> None:
    connection, table = driver
    with profile("writes", config=QUIET) as unit:
        cursor = connection.cursor()
        for key in range(ROWS):
            cursor.execute(f"UPDATE {table} SET grp = %s WHERE id = %s", (7, key))
        cursor.executemany(
            f"INSERT INTO {table} VALUES (%s, %s)", [(100 + i, 0) for i in range(ROWS)]
        )
    connection.rollback()
    assert unit.query_count == ROWS + 1
    assert unit.events[0].rows == 1 and unit.events[0].fingerprint.kind == "update"
    assert unit.events[-1].many
    [finding] = unit.findings
    assert finding.rule == "DBA103" and finding.evidence is not None
    assert finding.evidence.queries == ROWS  # the executemany is one statement, not flagged


def test_failed_statement_is_recorded_and_raised(driver: tuple[Any, str]) -> None:
    connection, _ = driver
    with profile(config=QUIET) as unit:
        cursor = connection.cursor()
        with pytest.raises(Exception, match="rt_missing_table"):
            cursor.execute("SELECT * FROM rt_missing_table")
    connection.rollback()
    [event] = unit.events
    assert event.error is not None and event.fingerprint.text == "SELECT * FROM rt_missing_table"
