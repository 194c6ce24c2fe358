"""A database with a renders-shaped table, HypoPG availability, and a catalog snapshot."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from dbaudit.db import PostgresServer, temporary_database

ADVISOR_DDL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE NOT NULL);
CREATE TABLE renders (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id),
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    is_public boolean NOT NULL DEFAULT false,
    chain_id bigint
);
CREATE TABLE tiny (id int PRIMARY KEY, code text);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 1000) g;
INSERT INTO renders
SELECT g, 1 + g % 20, (ARRAY['done', 'failed', 'queued', 'running'])[1 + g % 4],
       timestamptz '2026-01-01' - (g || ' seconds')::interval,
       CASE WHEN g % 10 = 0 THEN timestamptz '2026-01-01' END, g % 7 = 0, g / 50
FROM generate_series(1, 60000) g;
INSERT INTO tiny SELECT g, 'c' || g FROM generate_series(1, 20) g;
ANALYZE;
"""

# Catalogs an advisor run could change if it leaked anything: relations, indexes, extensions,
# functions, constraints, schemas, types, columns, dependencies, per-database settings.
CATALOG_SNAPSHOT_SQL = (
    "SELECT oid::bigint, relname, relkind, relnamespace::bigint FROM pg_class ORDER BY oid",
    "SELECT indexrelid::bigint, indrelid::bigint, indisvalid FROM pg_index ORDER BY indexrelid",
    "SELECT extname, extversion FROM pg_extension ORDER BY extname",
    "SELECT oid::bigint, proname FROM pg_proc ORDER BY oid",
    "SELECT oid::bigint, conname FROM pg_constraint ORDER BY oid",
    "SELECT oid::bigint, nspname FROM pg_namespace ORDER BY oid",
    "SELECT oid::bigint, typname FROM pg_type ORDER BY oid",
    "SELECT attrelid::bigint, attnum, attname FROM pg_attribute ORDER BY 1, 2",
    "SELECT count(*) FROM pg_depend",
    "SELECT setdatabase::bigint, setrole::bigint, setconfig::text FROM pg_db_role_setting "
    "ORDER BY 1, 2",
)


def catalog_snapshot(url: str) -> tuple[list[tuple[object, ...]], ...]:
    with psycopg.connect(url, autocommit=True) as conn:
        return tuple(conn.execute(query).fetchall() for query in CATALOG_SNAPSHOT_SQL)


@pytest.fixture(scope="session")
def advisor_url(pg_server: PostgresServer) -> Iterator[str]:
    """A database the advisor tests share and must never change."""
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(ADVISOR_DDL)
        yield url


@pytest.fixture(scope="session")
def advisor_ddl() -> str:
    """The advisor database's schema and data, for a test that needs a database of its own."""
    return ADVISOR_DDL


@pytest.fixture(scope="session")
def hypopg(pg_server: PostgresServer) -> None:
    """Skip when HypoPG is not installed on the server, fail instead under
    DBAUDIT_REQUIRE_HYPOPG=1 (CI installs it)."""
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'").fetchone()
    if row is None:
        reason = (
            "HypoPG is not installed on this PostgreSQL server (apt install postgresql-NN-hypopg)"
        )
        if os.environ.get("DBAUDIT_REQUIRE_HYPOPG") == "1":
            pytest.fail(f"DBAUDIT_REQUIRE_HYPOPG=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def snapshot() -> object:
    """``snapshot(url)``: the catalog rows that must be equal before and after a run."""
    return catalog_snapshot
