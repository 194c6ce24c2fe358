"""Fingerprints: literals and placeholders go, lists collapse, unparsable SQL is still handled."""

from __future__ import annotations

import doctest
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbaudit.sql import fingerprint, normalize

# (title, input, expected normalised text)
CASES = [
    (
        "string and number literals",
        "SELECT a FROM t WHERE b = 'x' AND c = 3",
        "SELECT a FROM t WHERE b = ? AND c = ?",
    ),
    (
        "numbered placeholders",
        "SELECT a FROM t WHERE b = $1 AND c = $2",
        "SELECT a FROM t WHERE b = ? AND c = ?",
    ),
    (
        "pyformat placeholders",
        "SELECT a FROM t WHERE b = %s AND c = %(c)s",
        "SELECT a FROM t WHERE b = ? AND c = ?",
    ),
    ("named placeholders", "SELECT a FROM t WHERE b = :b", "SELECT a FROM t WHERE b = ?"),
    (
        "IN list collapsed",
        "SELECT a FROM t WHERE id IN ($1, $2, $3)",
        "SELECT a FROM t WHERE id IN (?)",
    ),
    (
        "IN subquery kept",
        "SELECT a FROM t WHERE id IN (SELECT b FROM u WHERE c = 1)",
        "SELECT a FROM t WHERE id IN (SELECT b FROM u WHERE c = ?)",
    ),
    (
        "multi-row VALUES collapsed",
        "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
        "INSERT INTO t (a, b) VALUES (?, ?)",
    ),
    (
        "cast kept",
        "UPDATE t SET s = $1 WHERE id = ANY($2::int[])",
        "UPDATE t SET s = ? WHERE id = ANY(CAST(? AS INT[]))",
    ),
    ("whitespace and case", "select   a\n from t\twhere b=1", "SELECT a FROM t WHERE b = ?"),
    ("NULL kept", "SELECT a FROM t WHERE b IS NULL", "SELECT a FROM t WHERE b IS NULL"),
    (
        "unparsable falls back",
        "SELEC a FROM t WHERE b IN (1, 2) AND c = 'x'",
        "SELEC a FROM t WHERE b IN (?) AND c = ?",
    ),
]


@pytest.mark.parametrize(("title", "sql", "expected"), CASES, ids=[c[0] for c in CASES])
def test_normalize(title: str, sql: str, expected: str) -> None:
    assert normalize(sql) == expected


def test_same_shape_same_digest_different_shape_different_digest() -> None:
    a = fingerprint("SELECT * FROM renders WHERE chain_id = $1")
    b = fingerprint("SELECT * FROM renders WHERE chain_id = 42")
    c = fingerprint("SELECT * FROM renders WHERE project_id = $1")
    assert a.digest == b.digest
    assert a.digest != c.digest
    assert len(a.digest) == 16


def test_kind_and_tables() -> None:
    assert fingerprint("DELETE FROM renders WHERE id = 1").kind == "delete"
    assert fingerprint("UPDATE renders SET s = 1").kind == "update"
    assert fingerprint("INSERT INTO renders (id) VALUES (1)").kind == "insert"
    assert fingerprint("BEGIN").kind == "other"
    cte = fingerprint(
        "WITH x AS (SELECT id FROM users) SELECT * FROM x JOIN renders r ON r.u = x.id"
    )
    assert cte.kind == "select"
    assert set(cte.tables) == {"users", "renders"}


def test_unparsable_is_marked_and_keeps_its_kind() -> None:
    fp = fingerprint("UPDATE t SET s = 1 WHERE <<<broken")
    assert not fp.parsed
    assert fp.kind == "update"


def test_literal_values_never_survive() -> None:
    fp = fingerprint("SELECT * FROM users WHERE email = 'alice@example.com' AND pin = 4242")
    assert "alice" not in fp.text
    assert "4242" not in fp.text


def test_cached_by_text() -> None:
    sql = "SELECT * FROM cache_probe WHERE id = $1"
    assert fingerprint(sql) is fingerprint(sql)


@given(st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=30))
def test_in_list_length_never_changes_the_fingerprint(ids: list[int]) -> None:
    listed = ", ".join(str(i) for i in ids)
    assert (
        fingerprint(f"SELECT * FROM t WHERE id IN ({listed})").text
        == "SELECT * FROM t WHERE id IN (?)"
    )


def test_doctests() -> None:
    result = doctest.testmod(sys.modules["dbaudit.sql.fingerprint"])
    assert result.attempted >= 3
    assert result.failed == 0
