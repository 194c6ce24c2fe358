"""The live catalog loader against a real PostgreSQL with every kind of index."""

from __future__ import annotations

import psycopg
import pytest

from dbaudit.db import DatabaseUnavailable
from dbaudit.schema.live import connect, load_schema, load_schema_from_url

DDL = """
CREATE SCHEMA billing;
CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text);
CREATE TABLE renders (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id),
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    prompt text
);
CREATE INDEX renders_user_created ON renders (user_id, created_at DESC);
CREATE INDEX renders_live ON renders (status) WHERE deleted_at IS NULL;
CREATE INDEX renders_lower_prompt ON renders (lower(prompt));
CREATE INDEX renders_nulls ON renders (created_at NULLS FIRST) INCLUDE (status);
CREATE TABLE billing.invoices (id int PRIMARY KEY, user_id bigint REFERENCES users(id));
INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 50) g;
INSERT INTO renders (user_id, status) SELECT 1 + g % 50, 'done' FROM generate_series(1, 500) g;
ANALYZE;
"""


@pytest.fixture()
def schema_url(fresh_pg_url: str) -> str:
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute(DDL)
    return fresh_pg_url


def test_tables_columns_and_estimates(schema_url: str) -> None:
    schema = load_schema_from_url(schema_url)
    assert [t.qualified_name for t in schema.tables] == ["billing.invoices", "renders", "users"]
    renders = schema.table("renders")
    assert renders is not None
    assert [c.name for c in renders.columns][:3] == ["id", "user_id", "status"]
    assert renders.column("deleted_at") is not None and renders.column("deleted_at").nullable
    assert renders.column("status") is not None and not renders.column("status").nullable
    assert renders.row_estimate == 500
    assert renders.size_bytes and renders.size_bytes > 0
    assert renders.usage is not None
    assert renders.usage.n_tup_ins == 500
    assert schema.server_version and schema.server_version >= 130000


def test_index_kinds(schema_url: str) -> None:
    renders = load_schema_from_url(schema_url).table("renders")
    assert renders is not None
    by_name = {i.name: i for i in renders.indexes}
    pk = by_name["renders_pkey"]
    assert pk.primary and pk.unique and pk.constraint == "renders_pkey"
    composite = by_name["renders_user_created"]
    assert composite.columns == ("user_id", "created_at")
    assert [k.descending for k in composite.keys] == [False, True]
    assert composite.keys[1].render() == "created_at DESC"
    assert composite.constraint is None
    partial = by_name["renders_live"]
    assert partial.predicate == "deleted_at IS NULL"
    expression = by_name["renders_lower_prompt"]
    assert expression.columns == (None,)
    assert expression.keys[0].expression == "lower(prompt)"
    nulls = by_name["renders_nulls"]
    assert nulls.keys[0].nulls_first is True
    assert nulls.keys[0].render() == "created_at NULLS FIRST"
    assert nulls.include == ("status",)
    assert all(i.valid and i.size_bytes for i in renders.indexes)


def test_unique_constraint_and_foreign_keys(schema_url: str) -> None:
    schema = load_schema_from_url(schema_url)
    users = schema.table("users")
    assert users is not None
    email = next(i for i in users.indexes if i.columns == ("email",))
    assert email.unique and email.constraint == "users_email_key"
    renders = schema.table("renders")
    assert renders is not None
    (fk,) = renders.foreign_keys
    assert (fk.columns, fk.referenced_table, fk.referenced_columns) == (
        ("user_id",),
        "users",
        ("id",),
    )
    invoices = schema.table("billing.invoices")
    assert invoices is not None and invoices.foreign_keys[0].table == "billing.invoices"


def test_empty_database(fresh_pg_url: str) -> None:
    assert load_schema_from_url(fresh_pg_url).tables == ()


def test_unreachable_and_wrong_password_are_one_line() -> None:
    with pytest.raises(DatabaseUnavailable) as refused:
        connect("postgresql://postgres:s3cret@127.0.0.1:1/test")
    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message and "127.0.0.1" in message


def test_loader_is_read_only(schema_url: str) -> None:
    with connect(schema_url) as conn:
        load_schema(conn)
        # The loader's transaction is over: the connection is idle, nothing left open.
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
