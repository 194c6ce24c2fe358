"""Health checks on a real database built with each problem and a look-alike that is fine."""

from __future__ import annotations

import psycopg
import pytest

from dbaudit.indexes.checks import (
    duplicate_indexes,
    foreign_keys_without_index,
    invalid_indexes,
    run_checks,
    seq_scan_heavy_tables,
    unused_indexes,
)

DDL = """
CREATE TABLE users (id bigserial PRIMARY KEY, email text UNIQUE, name text);
CREATE TABLE projects (id bigserial PRIMARY KEY, user_id bigint REFERENCES users(id), title text);
CREATE TABLE renders (
    id bigserial PRIMARY KEY,
    project_id bigint REFERENCES projects(id),
    user_id bigint REFERENCES users(id),
    status text,
    created_at timestamptz DEFAULT now()
);
-- renders.user_id is indexed as the leading column of a composite: that FK is served.
CREATE INDEX renders_user_created ON renders (user_id, created_at DESC);
CREATE INDEX renders_user ON renders (user_id);                      -- prefix of the one above
CREATE INDEX renders_user_created_again ON renders (user_id, created_at DESC);  -- exact copy
CREATE INDEX renders_user_created_asc ON renders (user_id, created_at);  -- other order: fine
CREATE INDEX renders_status_open ON renders (status) WHERE status <> 'done';
CREATE INDEX renders_status ON renders (status);  -- not redundant: the partial one differs
CREATE UNIQUE INDEX users_email_again ON users (email);  -- unique copy of a constraint index
CREATE TABLE big (id int PRIMARY KEY, v int);
INSERT INTO big SELECT g, g % 100 FROM generate_series(1, 12000) g;
INSERT INTO users (email) VALUES ('a'), ('b');
INSERT INTO renders (status) VALUES ('x'), ('x');
ANALYZE;
"""


@pytest.fixture()
def conn(fresh_pg_url: str) -> psycopg.Connection:  # type: ignore[type-arg]
    with psycopg.connect(fresh_pg_url, autocommit=True) as setup:
        setup.execute(DDL)
    with psycopg.connect(fresh_pg_url, autocommit=True) as connection:
        yield connection


def test_foreign_key_without_index(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    findings = foreign_keys_without_index(conn)
    assert [f.message for f in findings] == [
        "foreign key projects_user_id_fkey projects(user_id) -> users has no index",
        "foreign key renders_project_id_fkey renders(project_id) -> projects has no index",
    ]
    assert findings[0].rule == "DBA402" and findings[0].source == "live"
    assert findings[1].fix is not None
    assert findings[1].fix.code == (
        "CREATE INDEX CONCURRENTLY renders_project_id_idx ON renders (project_id);"
    )


def test_duplicate_and_prefix_redundant(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    messages = sorted(f.message.split(" (")[0] for f in duplicate_indexes(conn))
    assert messages == [
        "index renders_user on renders is a prefix of renders_user_created",
        "index renders_user_created_again on renders is duplicate of renders_user_created",
        "index users_email_again on users is duplicate of users_email_key",
    ]


def test_unused_skips_constraint_and_unique_indexes(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    unused = {f.message.split(" ")[1] for f in unused_indexes(conn)}
    assert "renders_user" in unused and "renders_status_open" in unused
    assert not unused & {"renders_pkey", "users_email_key", "users_email_again"}
    assert all("kB" in f.message or "bytes" in f.message for f in unused_indexes(conn))
    conn.execute("SELECT * FROM renders WHERE status <> 'done' AND status = 'x'")
    conn.execute("SET enable_seqscan = off")
    conn.execute("SELECT * FROM renders WHERE status = 'x'")
    conn.execute("SELECT pg_stat_force_next_flush()")
    with psycopg.connect(conn.info.dsn, autocommit=True) as other:  # a fresh stats snapshot
        after = {f.message.split(" ")[1] for f in unused_indexes(other)}
    assert "renders_status" not in after or "renders_status_open" not in after


def test_invalid_index(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    assert invalid_indexes(conn) == []
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY renders_status_unique ON renders (status)")
    (finding,) = invalid_indexes(conn)
    assert finding.rule == "DBA405"
    assert finding.message.startswith("index renders_status_unique on renders is invalid")
    assert finding.fix is not None and "CREATE UNIQUE INDEX CONCURRENTLY" in finding.fix.code


def test_seq_scan_heavy(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    assert seq_scan_heavy_tables(conn) == []
    for _ in range(12):
        conn.execute("SELECT count(*) FROM big WHERE v = 7")
    conn.execute("SELECT pg_stat_force_next_flush()")
    with psycopg.connect(conn.info.dsn, autocommit=True) as other:
        (finding,) = seq_scan_heavy_tables(other)
    assert finding.rule == "DBA406"
    assert finding.message.startswith("table big (12000 rows) was read by 1")
    assert "sequential scans and 0 index scans" in finding.message
    assert seq_scan_heavy_tables(conn, min_rows=1_000_000) == []


def test_run_checks_collects_every_check(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    findings, errors = run_checks(conn)
    assert errors == []
    assert {f.rule for f in findings} == {"DBA402", "DBA403", "DBA404"}


def test_checks_run_in_a_read_only_session(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    # A check that tried to write would fail here and show up in ``errors``.
    conn.execute("SET default_transaction_read_only = on")
    findings, errors = run_checks(conn)
    assert errors == [] and findings
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
