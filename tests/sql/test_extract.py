"""extract: tables, filters with operators, joins, sort keys and LIMIT from one statement."""

from __future__ import annotations

import doctest

import pytest

import dbaudit.sql.extract as extract_module
from dbaudit.sql.extract import ColumnRef, ExtractError, Filter, Join, SortKey, extract


def test_doctests() -> None:
    assert doctest.testmod(extract_module).failed == 0


def test_equality_then_sort_with_direction_and_limit() -> None:
    shape = extract(
        "SELECT r.* FROM renders r WHERE r.user_id = $1 AND r.status = $2 "
        "ORDER BY r.created_at DESC LIMIT 20"
    )
    assert shape.kind == "select"
    assert shape.tables == ("renders",)
    assert shape.filters == (
        Filter("renders", "user_id", "=", "parameter"),
        Filter("renders", "status", "=", "parameter"),
    )
    assert shape.sort_keys == (SortKey("renders", "created_at", descending=True),)
    assert (shape.limit, shape.has_limit) == (20, True)


def test_join_resolves_aliases_and_separates_tables() -> None:
    shape = extract(
        "SELECT p.name FROM projects p JOIN renders r ON r.project_id = p.id "
        "WHERE p.user_id = $1 AND p.is_public = true"
    )
    assert shape.joins == (Join(ColumnRef("renders", "project_id"), ColumnRef("projects", "id")),)
    assert shape.filters_on("projects") == (
        Filter("projects", "user_id", "=", "parameter"),
        Filter("projects", "is_public", "=", "constant", "TRUE"),
    )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("deleted_at IS NULL", Filter("t", "deleted_at", "IS NULL", "constant")),
        ("deleted_at IS NOT NULL", Filter("t", "deleted_at", "IS NOT NULL", "constant")),
        ("NOT is_deleted", Filter("t", "is_deleted", "=", "constant", "FALSE")),
        ("is_public", Filter("t", "is_public", "=", "constant", "TRUE")),
        ("status IN ('a', 'b')", Filter("t", "status", "IN", "constant", "('a', 'b')")),
        ("id = ANY($1)", Filter("t", "id", "IN", "parameter")),
        ("5 < amount", Filter("t", "amount", ">", "constant", "5")),
        ("created_at BETWEEN $1 AND $2", Filter("t", "created_at", "BETWEEN", "parameter")),
        ("name LIKE $1", Filter("t", "name", "LIKE", "parameter")),
        ("created_at > now() - interval '1 day'", Filter("t", "created_at", ">", "expression")),
        ("status = 'done'", Filter("t", "status", "=", "constant", "'done'")),
    ],
)
def test_filter_operators(where: str, expected: Filter) -> None:
    assert extract(f"SELECT * FROM t WHERE {where}").filters == (expected,)


def test_or_and_negations_give_no_index_key() -> None:
    shape = extract("SELECT * FROM t WHERE a = 1 OR b = 2 AND NOT (c = 3) AND d NOT IN (1)")
    assert shape.filters == ()


def test_unqualified_columns_resolve_in_their_own_scope_or_through_a_schema() -> None:
    nested = extract("SELECT id FROM users WHERE id IN (SELECT user_id FROM renders WHERE s = 1)")
    assert Filter("users", "id", "IN", "subquery") in nested.filters
    assert Filter("renders", "s", "=", "constant", "1") in nested.filters
    joined = "SELECT * FROM a JOIN b ON a.id = b.a_id WHERE flag = 1"
    assert extract(joined).filters[0].table is None
    assert extract(joined, schema={"a": ("id",), "b": ("a_id", "flag")}).filters[0].table == "b"


def test_writes() -> None:
    update = extract("UPDATE renders SET status = $1, updated_at = now() WHERE id = ANY($2)")
    assert (update.kind, update.target_table, update.set_columns) == (
        "update",
        "renders",
        ("status", "updated_at"),
    )
    assert update.is_write
    insert = extract("INSERT INTO renders (user_id) VALUES ($1)")
    assert (insert.kind, insert.target_table) == ("insert", "renders")
    delete = extract("DELETE FROM renders r WHERE r.chain_id = $1")
    assert delete.filters == (Filter("renders", "chain_id", "=", "parameter"),)


def test_sort_keys_stop_at_an_expression_and_keep_explicit_nulls() -> None:
    shape = extract("SELECT * FROM t ORDER BY a, b DESC NULLS LAST, lower(c), d LIMIT $1")
    assert shape.sort_keys == (SortKey("t", "a"), SortKey("t", "b", True, False))
    assert (shape.limit, shape.has_limit) == (None, True)


def test_cte_names_are_not_tables() -> None:
    shape = extract("WITH x AS (SELECT * FROM renders WHERE user_id = $1) SELECT * FROM x")
    assert shape.tables == ("renders",)


def test_bad_sql_is_one_line() -> None:
    with pytest.raises(ExtractError) as error:
        extract("SELEC * FROM")
    assert "\n" not in str(error.value)
    with pytest.raises(ExtractError, match="one statement"):
        extract("SELECT 1; SELECT 2")


def test_text_sqlglot_cannot_even_tokenize_is_an_extract_error() -> None:
    # Django's cache backend builds "DELETE FROM %s WHERE %s IN (%s)" with %-formatting: read
    # statically, placeholders stand where names go and sqlglot's tokenizer gives up
    with pytest.raises(ExtractError) as error:
        extract("DELETE FROM $1 WHERE $2 IN ($3)$")
    assert "\n" not in str(error.value)
