"""SQL DDL loader: the same model a live catalog gives, from text."""

from __future__ import annotations

import doctest

import pytest

import dbaudit.schema.ddl as ddl_module
from dbaudit.schema.ddl import DDLError, load_ddl, load_ddl_files
from dbaudit.schema.model import IndexKey

DDL = """
CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text);
CREATE TABLE billing.invoices (id int, user_id bigint, CONSTRAINT inv_pk PRIMARY KEY (id));
CREATE TABLE renders (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id),
    project_id bigint,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    prompt text,
    CONSTRAINT renders_project_fk FOREIGN KEY (project_id) REFERENCES projects (id)
);
CREATE INDEX CONCURRENTLY renders_user_created ON renders (user_id, created_at DESC);
CREATE UNIQUE INDEX renders_live ON public.renders USING btree (status) INCLUDE (id)
    WHERE deleted_at IS NULL;
CREATE INDEX renders_prompt ON renders (lower(prompt), created_at NULLS FIRST);
CREATE INDEX renders_gone ON renders (prompt);
DROP INDEX renders_gone;
ALTER TABLE ONLY billing.invoices
    ADD CONSTRAINT invoices_user_fk FOREIGN KEY (user_id) REFERENCES users(id);
"""


def test_doctest() -> None:
    assert doctest.testmod(ddl_module).failed == 0


def test_tables_columns_constraints() -> None:
    schema = load_ddl(DDL)
    assert schema.source == "ddl"
    assert [t.qualified_name for t in schema.tables] == ["billing.invoices", "renders", "users"]
    users = schema.table("users")
    assert users is not None
    assert [(c.name, c.type, c.nullable) for c in users.columns] == [
        ("id", "bigserial", False),
        ("email", "text", False),
        ("name", "text", True),
    ]
    assert {(i.name, i.columns, i.unique, i.primary) for i in users.indexes} == {
        ("users_pkey", ("id",), True, True),
        ("users_email_key", ("email",), True, False),
    }
    invoices = schema.table("billing.invoices")
    assert invoices is not None
    assert invoices.indexes[0].name == "inv_pk" and invoices.column("id").nullable is False  # type: ignore[union-attr]
    assert invoices.foreign_keys[0].referenced_table == "users"


def test_indexes_with_direction_partial_expression_and_drop() -> None:
    renders = load_ddl(DDL).table("renders")
    assert renders is not None
    by_name = {i.name: i for i in renders.indexes}
    assert "renders_gone" not in by_name
    assert by_name["renders_user_created"].keys == (
        IndexKey("user_id", "user_id"),
        IndexKey("created_at", "created_at", descending=True),
    )
    live = by_name["renders_live"]
    assert live.unique and live.predicate == "deleted_at IS NULL" and live.include == ("id",)
    prompt = by_name["renders_prompt"]
    assert prompt.keys[0] == IndexKey("lower(prompt)", None)
    assert prompt.keys[1].nulls_first is True
    assert [(f.columns, f.referenced_table) for f in renders.foreign_keys] == [
        (("user_id",), "users"),
        (("project_id",), "projects"),
    ]


def test_files_in_order_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "001.sql"
    first.write_text("CREATE TABLE a (id int PRIMARY KEY, b int);")
    second = tmp_path / "002.sql"
    second.write_text("CREATE INDEX a_b ON a (b);")
    table = load_ddl_files([first, second]).table("a")
    assert table is not None and [i.name for i in table.indexes] == ["a_pkey", "a_b"]
    with pytest.raises(DDLError, match="cannot parse DDL"):
        load_ddl("CREATE TABLE (")
    with pytest.raises(DDLError, match="cannot read"):
        load_ddl_files([tmp_path / "missing.sql"])
