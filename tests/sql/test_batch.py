"""suggest_batch on statements as the drivers' normalised texts hold them: only the outer
WHERE's top-level equality with a parameter can become the IN list."""

from __future__ import annotations

import doctest
import logging

import pytest
import sqlglot

from dbaudit.sql import batch
from dbaudit.sql.batch import suggest_batch, where_conditions


def test_doctests() -> None:
    result = doctest.testmod(batch)
    assert result.attempted >= 6 and result.failed == 0


def test_a_key_compared_with_a_subquery_is_not_batched_inside_the_subquery() -> None:
    # the old text partition put the IN list on u.name, the subquery's own condition
    text = "SELECT * FROM t WHERE t.owner = (SELECT id FROM u WHERE u.name = ?)"
    assert suggest_batch(text) == ""
    assert suggest_batch(text, frozenset({0})) == ""


def test_the_varying_equality_is_the_key_and_the_constant_ones_stay() -> None:
    text = "SELECT * FROM renders WHERE renders.tenant_id = ? AND renders.project_id = ?"
    assert suggest_batch(text) == ""  # two candidates, no values: no guess
    assert suggest_batch(text, frozenset({1})) == (
        "SELECT * FROM renders WHERE renders.tenant_id = ? AND renders.project_id IN (?)"
    )
    assert suggest_batch(text, frozenset({0})) == (
        "SELECT * FROM renders WHERE renders.tenant_id IN (?) AND renders.project_id = ?"
    )


@pytest.mark.parametrize(
    ("text", "varying", "expected"),
    [
        # Django: quoted names, the WHERE in parentheses, LIMIT 21 of a .get()
        (
            'SELECT "app_render"."id" FROM "app_render" WHERE ("app_render"."project_id" = ? '
            'AND "app_render"."tenant_id" = ?) LIMIT ?',
            frozenset({0}),
            'SELECT "app_render"."id" FROM "app_render" WHERE ("app_render"."project_id" IN (?) '
            'AND "app_render"."tenant_id" = ?) LIMIT ? -- per key: ROW_NUMBER() OVER '
            '(PARTITION BY "app_render"."project_id") <= the limit',
        ),
        # SQLAlchemy on psycopg 3 / asyncpg: typed parameters; the key's CAST goes
        (
            "SELECT r.id FROM r WHERE r.chain_id = CAST(? AS INT) ORDER BY r.position",
            None,
            "SELECT r.id FROM r WHERE r.chain_id IN (?) ORDER BY r.position",
        ),
        # the parameter on the left
        ("SELECT * FROM r WHERE ? = r.chain_id", None, "SELECT * FROM r WHERE r.chain_id IN (?)"),
        # MySQL's backquotes
        (
            "SELECT `r`.`id` FROM `r` WHERE `r`.`chain_id` = ?",
            None,
            "SELECT `r`.`id` FROM `r` WHERE `r`.`chain_id` IN (?)",
        ),
        # an array per statement already: one array for all
        (
            "SELECT * FROM r WHERE r.id = ANY(?)",
            None,
            "SELECT * FROM r WHERE r.id = ANY(?) -- every key in one array",
        ),
        # UPDATE: the key varies, the SET value is the same for every row
        (
            "UPDATE renders SET status = ? WHERE renders.id = ?",
            frozenset({1}),
            "UPDATE renders SET status = ? WHERE renders.id IN (?)",
        ),
    ],
)
def test_real_shapes(text: str, varying: frozenset[int] | None, expected: str) -> None:
    assert suggest_batch(text, varying) == expected


@pytest.mark.parametrize(
    ("text", "varying"),
    [
        # a SET value that changes per row: one UPDATE cannot write them all
        ("UPDATE renders SET status = ? WHERE renders.id = ?", frozenset({0, 1})),
        # OR: neither side is a condition every row meets
        ("SELECT * FROM t WHERE t.a = ? OR t.b = ?", frozenset({0})),
        # a parameter inside a function is no key
        ("SELECT * FROM t WHERE lower(t.email) = lower(?)", None),
        # the other parameter is in a subquery, unknown whether it changes
        ("SELECT * FROM t WHERE t.x = ? AND t.y IN (SELECT u.id FROM u WHERE u.k = ?)", None),
        # it does change: the loop varies the subquery too
        (
            "SELECT * FROM t WHERE t.x = ? AND t.y IN (SELECT u.id FROM u WHERE u.k = ?)",
            frozenset({0, 1}),
        ),
        # a varying LIMIT / OFFSET is paging, not a key
        ("SELECT * FROM t WHERE t.x = ? LIMIT ? OFFSET ?", frozenset({2})),
        # two varying keys: no single column (the pair is a composite key)
        ("SELECT * FROM t WHERE t.a = ? AND t.b = ?", frozenset({0, 1})),
        # nothing varies: the same query again is no batch
        ("SELECT * FROM t WHERE t.a = ?", frozenset()),
        ("SELECT * FROM t", None),
        ("not sql at all (", None),
    ],
)
def test_no_suggestion(text: str, varying: frozenset[int] | None) -> None:
    assert suggest_batch(text, varying) == ""


def test_a_statement_sqlglot_reads_as_a_command_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a runtime loop of a migration's statement, or DBA101 on one in the code: sqlglot's
    # "contains unsupported syntax" warning went to the user's stderr through the root logger
    extension = "CREATE EXTENSION IF NOT EXISTS pg_trgm"
    with caplog.at_level(logging.DEBUG, logger="sqlglot"):
        assert suggest_batch(extension) == ""
        assert where_conditions(extension) == 0
    assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlglot")] == []
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        sqlglot.parse(extension, read="postgres")  # the quiet block ended with dbaudit's parse
    assert any("unsupported syntax" in r.getMessage() for r in caplog.records)
