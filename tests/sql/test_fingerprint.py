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


def test_literals_are_carried_hashed_and_never_compared() -> None:
    """Literal values tell two texts of one shape apart (the runtime detectors compare them as
    parameters), in the text's order with bound parameters as None; ``==`` ignores them."""
    first = fingerprint("SELECT * FROM t WHERE a = %s ORDER BY id LIMIT 100 OFFSET 200")
    second = fingerprint("SELECT * FROM t WHERE a = %s ORDER BY id LIMIT 100 OFFSET 300")
    assert first == second and hash(first) == hash(second)
    assert first.values == (None, 100, 200) and second.values == (None, 100, 300)
    assert first.literals != second.literals != ""
    assert "200" not in first.literals
    listed = fingerprint("SELECT * FROM t WHERE s = 'x' AND id IN (1, -2, 3)", "sqlite")
    assert listed.values == (hash("x"), 1, -2, 3)  # lists before they are collapsed
    respelled = fingerprint("select * from t where s='x' and id in (1,-2,3)", "sqlite")
    assert respelled.literals == listed.literals
    bound = fingerprint("SELECT * FROM t WHERE id IN ($1, $2)")
    assert (bound.values, bound.literals) == ((), "")  # no literal: nothing to carry
    broken = fingerprint("SELECT * FROM t WHERE id = 7 AND <<<broken ?")
    assert not broken.parsed and broken.values == (7, None) and broken.literals


def test_literals_hash_cannot_be_guessed_back() -> None:
    """``literals`` (written to events files) is keyed by a secret of the process: equal for
    equal values within a process, and trying values in another process finds nothing."""
    import subprocess

    sql = "SELECT * FROM t WHERE id = 5"
    code = f"from dbaudit.sql import fingerprint; print(fingerprint({sql!r}).literals)"
    elsewhere = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    here = fingerprint(sql).literals
    assert here == fingerprint("select * from t where id=5").literals
    assert len(elsewhere) == len(here) == 16 and elsewhere != here


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


@pytest.mark.parametrize(
    ("sql", "text"),
    [
        ('SAVEPOINT "s140_x1"', "SAVEPOINT ?"),
        ("savepoint s140_x2", "SAVEPOINT ?"),
        ('RELEASE SAVEPOINT "s140_x1"', "RELEASE SAVEPOINT ?"),
        ("RELEASE `sp1`", "RELEASE SAVEPOINT ?"),
        ('ROLLBACK TO SAVEPOINT "s140_x1"', "ROLLBACK TO SAVEPOINT ?"),
        ('ROLLBACK TO "s140_x1"', "ROLLBACK TO SAVEPOINT ?"),
        ("SET CONSTRAINTS ALL IMMEDIATE", "SET CONSTRAINTS ALL IMMEDIATE"),
        ("set constraints all  deferred;", "SET CONSTRAINTS ALL DEFERRED"),
    ],
)
def test_transaction_control_text_and_savepoint_names_collapsed(sql: str, text: str) -> None:
    """Django's TestCase sends these around every test: ``SAVEPOINT "x"`` was rendered as
    ``SAVEPOINT AS "x"``, and each savepoint name made a text of its own."""
    fp = fingerprint(sql, "postgres")
    assert (fp.text, fp.kind, fp.tables) == (text, "other", ())
    assert fp == fingerprint(sql.replace("140", "9"), "sqlite")


def test_transaction_control_is_read_without_sqlglot(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("sqlglot parsed a savepoint")

    monkeypatch.setattr(sys.modules["dbaudit.sql.fingerprint"].sqlglot, "parse", parse)
    assert fingerprint('SAVEPOINT "s1_x77"').text == "SAVEPOINT ?"
    assert fingerprint("ROLLBACK TO SAVEPOINT s1_x78").text == "ROLLBACK TO SAVEPOINT ?"


def test_sqlglot_warnings_do_not_leak_from_dbaudit_parses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """sqlglot logs a WARNING for a statement it reads as a bare command (SET CONSTRAINTS was
    one): it showed in the captured log of the first test that sent one."""
    import logging

    import sqlglot

    with caplog.at_level(logging.DEBUG):
        fingerprint("SET CONSTRAINTS some_fk, other_fk IMMEDIATE")
        fingerprint("ALTER SYSTEM SET work_mem TO '64MB'")  # a Command for sqlglot
        assert not [r for r in caplog.records if r.name.startswith("sqlglot")]
        sqlglot.parse("ALTER SYSTEM SET work_mem TO '128MB'", read="postgres")
    # sqlglot's own callers still get its warnings
    assert [r for r in caplog.records if r.name == "sqlglot"]
