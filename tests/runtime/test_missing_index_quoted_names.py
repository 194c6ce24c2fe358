"""The missing-index check's CREATE INDEX on tables and columns whose names need quotes
(Prisma's and Drizzle's ``"UserProfile"``.``"createdAt"``, a column named ``key`` or
``index``): the suggested DDL runs as written on the database that planned the statement."""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any

import pymysql
import pytest

from dbaudit.findings import Finding
from dbaudit.runtime import instrument, profile
from dbaudit.runtime.plans import check_unit, find_targets

MARIADB: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": "root",
    "password": "",
    "database": "test",
}


def only_finding(connection: Any, sql: str, params: tuple[Any, ...]) -> Finding:
    with profile(keep_params=True) as unit:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        cursor.fetchall()
    outcome = check_unit(unit, find_targets([connection]))
    assert outcome.notes == []
    (found,) = outcome.findings
    assert found.fix is not None
    return found


def test_postgresql_ddl_quotes_a_mixed_case_table_and_column(pg_url: str) -> None:
    import psycopg2

    owner = psycopg2.connect(pg_url)
    owner.autocommit = True
    owner.cursor().execute(
        'CREATE TABLE "UserProfile" (id int PRIMARY KEY, "createdAt" timestamptz, kind text); '
        "INSERT INTO \"UserProfile\" SELECT g, now(), 'a' FROM generate_series(1, 50) AS g"
    )
    connection = instrument(psycopg2.connect(pg_url))
    try:
        found = only_finding(
            connection,
            'SELECT id FROM "UserProfile" WHERE "createdAt" > %s AND kind = %s',
            ("2024-01-01", "a"),
        )
        assert found.fix is not None
        assert found.fix.code == (
            'CREATE INDEX "UserProfile_createdAt_kind_idx" ON "UserProfile" ("createdAt", kind);'
        )
        owner.autocommit = False
        cursor = owner.cursor()
        try:
            cursor.execute(found.fix.code)  # run as suggested: the names resolve
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(
                'EXPLAIN SELECT id FROM "UserProfile" WHERE "createdAt" > %s AND kind = %s',
                ("2024-01-01", "a"),
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "UserProfile_createdAt_kind_idx" in plan and "Seq Scan" not in plan
        finally:
            owner.rollback()
        owner.autocommit = True
        cursor = owner.cursor()
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'UserProfile'")
        assert cursor.fetchone() == (1,)  # the primary key only: the DDL was rolled back
    finally:
        connection.close()
        owner.autocommit = True
        owner.cursor().execute('DROP TABLE "UserProfile"')
        owner.close()


def test_sqlite_ddl_quotes_a_keyword_column_and_keeps_plain_names_bare() -> None:
    connection = instrument(sqlite3.connect(":memory:", isolation_level=None))
    connection.execute('CREATE TABLE "UserProfile" (id INTEGER PRIMARY KEY, "index" INTEGER)')
    connection.execute('CREATE TABLE orders (id INTEGER PRIMARY KEY, "values" TEXT, status TEXT)')
    profile_fix = only_finding(connection, 'SELECT id FROM "UserProfile" WHERE "index" = ?', (3,))
    orders_fix = only_finding(connection, "SELECT id FROM orders WHERE status = ?", ("new",))
    assert profile_fix.fix is not None and orders_fix.fix is not None
    assert profile_fix.fix.code == (
        'CREATE INDEX "UserProfile_index_idx" ON "UserProfile" ("index");'
    )
    assert orders_fix.fix.code == "CREATE INDEX orders_status_idx ON orders (status);"
    connection.execute("BEGIN")
    try:
        for ddl in (profile_fix.fix.code, orders_fix.fix.code):
            connection.execute(ddl)
        plan = connection.execute(
            'EXPLAIN QUERY PLAN SELECT id FROM "UserProfile" WHERE "index" = ?', (3,)
        ).fetchall()
        assert "UserProfile_index_idx" in str(plan)
    finally:
        connection.execute("ROLLBACK")
    indexes = connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    assert indexes.fetchall() == []


def test_mariadb_ddl_quotes_a_reserved_column_with_backticks() -> None:
    try:
        owner = pymysql.connect(**MARIADB, autocommit=True)
    except pymysql.err.OperationalError as error:
        pytest.skip(f"no MariaDB/MySQL on 127.0.0.1:3306: {error}")
    table = f"UserProfile_{secrets.token_hex(4)}"
    with owner.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, `key` VARCHAR(20))")
        cursor.execute(f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")
    connection = instrument(pymysql.connect(**MARIADB))
    try:
        found = only_finding(connection, f"SELECT id FROM {table} WHERE `key` = %s", ("a",))
        assert found.fix is not None
        assert found.fix.code == f"CREATE INDEX {table}_key_idx ON {table} (`key`);"
        connection.rollback()  # its read's metadata lock would hold the DDL back
        with owner.cursor() as cursor:
            cursor.execute("SET SESSION lock_wait_timeout = 10")
            # MariaDB commits DDL at once: the table is a throwaway, dropped below
            cursor.execute(found.fix.code)
            cursor.execute(f"SHOW INDEX FROM {table} WHERE Key_name = '{table}_key_idx'")
            assert len(cursor.fetchall()) == 1
    finally:
        connection.close()
        with owner.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        owner.close()
