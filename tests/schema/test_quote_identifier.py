"""Names dbaudit writes into DDL it suggests are quoted exactly when PostgreSQL needs it."""

from __future__ import annotations

import psycopg
import pytest

from dbaudit.schema.model import quote_identifier

# reserved (select, user), type/function-name (join, left, like, verbose), upper case, spaces
NEEDS_QUOTES = ["select", "user", "join", "left", "like", "verbose", "createdAt", "a b"]
# unreserved and column-name keywords are plain names to PostgreSQL
STAYS_BARE = ["name", "key", "value", "type", "status", "int", "position"]


@pytest.mark.parametrize("name", NEEDS_QUOTES)
def test_names_the_grammar_refuses_bare_are_quoted(name: str) -> None:
    assert quote_identifier(name) == '"' + name + '"'


@pytest.mark.parametrize("name", STAYS_BARE)
def test_plain_names_stay_bare(name: str) -> None:
    assert quote_identifier(name) == name


def test_every_name_is_valid_ddl_on_postgresql(pg_url: str) -> None:
    columns = NEEDS_QUOTES + STAYS_BARE
    with psycopg.connect(pg_url) as conn:  # one transaction, rolled back: nothing is left
        table = quote_identifier("Quoted Names")
        conn.execute(
            f"CREATE TABLE {table} ({', '.join(f'{quote_identifier(c)} int' for c in columns)})"
        )
        for column in columns:
            conn.execute(f"CREATE INDEX ON {table} ({quote_identifier(column)})")
        indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'Quoted Names'"
        ).fetchone()
        assert indexes == (len(columns),)
        conn.rollback()
