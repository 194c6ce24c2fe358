"""SQLAlchemy models read statically agree with what SQLAlchemy creates in a live database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import dbaudit.reference.render_platform.schema as reference_schema
from dbaudit.db import sqlalchemy_url
from dbaudit.schema.live import load_schema_from_url
from dbaudit.schema.model import Schema
from dbaudit.schema.sqlalchemy_models import (
    ModelSourceError,
    load_sqlalchemy_files,
    load_sqlalchemy_source,
)


def _shape(schema: Schema) -> dict[str, object]:
    return {
        table.name: (
            sorted(c.name for c in table.columns),
            sorted(
                (
                    tuple((k.column or k.expression, k.descending) for k in i.keys),
                    i.unique,
                    i.primary,
                    i.predicate,
                )
                for i in table.indexes
            ),
            sorted(
                (f.columns, f.referenced_table, f.referenced_columns) for f in table.foreign_keys
            ),
            sorted(c.name for c in table.columns if not c.nullable),
        )
        for table in schema.tables
    }


def test_reference_models_match_the_live_catalog(fresh_pg_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def create() -> None:
        engine = create_async_engine(sqlalchemy_url(fresh_pg_url, "asyncpg"))
        try:
            await reference_schema.create_schema(engine, "optimized")
        finally:
            await engine.dispose()

    asyncio.run(create())
    static = load_sqlalchemy_files([Path(reference_schema.__file__)])
    assert static.source == "sqlalchemy"
    assert _shape(static) == _shape(load_schema_from_url(fresh_pg_url))


def test_core_tables_and_column_options() -> None:
    schema = load_sqlalchemy_source(
        """
from sqlalchemy import *
metadata = MetaData()
accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(200), nullable=False, unique=True),
    Column("org_id", ForeignKey("orgs.id"), index=True),
    Index("ix_accounts_lower_email", text("lower(email)"), unique=True),
    UniqueConstraint("org_id", "email", name="uq_org_email"),
)

class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_account"),
        Index("ix_live", "account_id", postgresql_where=deleted_at.is_(None)),
        {"schema": None},
    )
    account_id = Column(Integer, primary_key=True)
    role = Column("role_name", String, primary_key=True)
    deleted_at = Column(DateTime)
"""
    )
    accounts = schema.table("accounts")
    assert accounts is not None
    assert [(c.name, c.type, c.nullable) for c in accounts.columns] == [
        ("id", "Integer", False),
        ("email", "String", False),
        ("org_id", "", True),
    ]
    names = {i.name: i for i in accounts.indexes}
    assert names["accounts_pkey"].primary
    assert names["accounts_email_key"].unique and names["accounts_email_key"].constraint
    assert names["ix_accounts_org_id"].columns == ("org_id",)
    assert names["ix_accounts_lower_email"].keys[0].expression == "lower(email)"
    assert names["uq_org_email"].columns == ("org_id", "email")
    assert accounts.foreign_keys[0].referenced_table == "orgs"
    memberships = schema.table("memberships")
    assert memberships is not None
    assert memberships.indexes[0].columns == ("account_id", "role_name")  # composite PK
    live = next(i for i in memberships.indexes if i.name == "ix_live")
    assert live.predicate == "deleted_at IS NULL"
    assert memberships.foreign_keys[0].name == "fk_account"


def test_syntax_error_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match=r"models.py:1: "):
        load_sqlalchemy_source(("models.py", "class (:"))
    with pytest.raises(ModelSourceError, match="cannot read"):
        load_sqlalchemy_files([tmp_path / "missing.py"])


def test_models_written_for_a_newer_python_load() -> None:
    # polar's models/account.py (Python 3.14): PEP 695 aliases and a PEP 758 except list
    # made the whole static schema review fail on 3.11 ("invalid syntax"): 3 tables of ~100
    schema = load_sqlalchemy_source(
        (
            "account.py",
            """
type FeeBasisPoints = int
type Fees[T] = tuple[T, FeeBasisPoints]

class Account(Base):
    __tablename__ = "accounts"
    id = Column(Integer, primary_key=True)
    fee = Column(Integer, index=True)

    def parsed(self, value: str) -> int:
        try:
            return int(value)
        except ValueError, TypeError:
            return 0
""",
        )
    )
    accounts = schema.table("accounts")
    assert accounts is not None
    assert [c.name for c in accounts.columns] == ["id", "fee"]
