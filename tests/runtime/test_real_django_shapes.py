"""Shapes seen in a real Django application's test suite (realworld-django-ninja under
``pytest --dbaudit``), replayed with the statements Django sent, on sqlite3 and PostgreSQL.

``follow_profile``: ``profile.followers.filter(pk=me).exists()`` (no row), then
``profile.followers.add(me)`` (an INSERT into the join table), then the response schema's
``resolve_following`` runs the same ``exists()`` again (one row). The same statement with the
same parameters, but the write between them changed its answer: a re-read, not a DBA301
duplicate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dbaudit.runtime import instrument, profile

_EXISTS = (
    'SELECT 1 AS "a" FROM "accounts_user" INNER JOIN "accounts_user_followers" '
    'ON ("accounts_user"."id" = "accounts_user_followers"."to_user_id") '
    'WHERE ("accounts_user_followers"."from_user_id" = {p} AND "accounts_user"."id" = {p}) '
    "LIMIT 1"
)
_FOLLOW = 'INSERT INTO "accounts_user_followers" ("from_user_id", "to_user_id") VALUES ({p}, {p})'
_UNFOLLOW = (
    'DELETE FROM "accounts_user_followers" WHERE "from_user_id" = {p} AND "to_user_id" = {p}'
)
_SESSION = 'INSERT INTO "jwt_session" ("user_id") VALUES ({p})'


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    if request.param == "sqlite":
        connection: Any = instrument(sqlite3.connect(":memory:"))
        placeholder = "?"
    else:
        connection = instrument(psycopg.connect(request.getfixturevalue("fresh_pg_url")))
        placeholder = "%s"
    cursor = connection.cursor()
    for ddl in (
        'CREATE TABLE "accounts_user" ("id" integer PRIMARY KEY)',
        'CREATE TABLE "accounts_user_followers" ("from_user_id" integer, "to_user_id" integer)',
        'CREATE TABLE "jwt_session" ("user_id" integer)',
        'INSERT INTO "accounts_user" ("id") VALUES (1), (2)',
    ):
        cursor.execute(ddl)
    connection.commit()
    yield connection, placeholder
    connection.close()


def _run(db: tuple[Any, str], *statements: str) -> list[str]:
    connection, placeholder = db
    cursor = connection.cursor()
    with profile() as unit:
        for statement in statements:
            cursor.execute(statement.format(p=placeholder), (2, 1)[: statement.count("{p}")])
            if statement.startswith("SELECT"):
                cursor.fetchall()
    return [f.rule for f in unit.findings]


def test_the_same_exists_around_a_write_to_its_table_is_no_duplicate(db: tuple[Any, str]) -> None:
    assert _run(db, _EXISTS, _FOLLOW, _EXISTS) == []
    assert _run(db, _EXISTS, _UNFOLLOW, _EXISTS) == []


def test_a_write_to_another_table_between_them_leaves_a_duplicate(db: tuple[Any, str]) -> None:
    assert _run(db, _EXISTS, _SESSION, _EXISTS) == ["DBA301"]


def test_reads_again_after_the_write_are_still_duplicates(db: tuple[Any, str]) -> None:
    # the check before the write is no duplicate; the two after it are
    assert _run(db, _EXISTS, _FOLLOW, _EXISTS, _EXISTS) == ["DBA301"]
    assert _run(db, _EXISTS, _EXISTS, _UNFOLLOW, _EXISTS) == ["DBA301"]


def test_a_row_by_row_insert_fix_repeats_the_whole_row_and_keeps_what_follows(
    db: tuple[Any, str],
) -> None:
    # TagViewSet.setUp: article.tags.add(Tag.objects.create(name=...)) for three names; Django
    # writes the join row with ON CONFLICT DO NOTHING, which the one-statement fix must keep
    connection, placeholder = db
    cursor = connection.cursor()
    insert = (
        'INSERT INTO "accounts_user_followers" ("from_user_id", "to_user_id") '
        f"VALUES ({placeholder}, {placeholder}) ON CONFLICT DO NOTHING"
    )
    with profile() as unit:
        for user in (1, 2, 3):
            cursor.execute(insert, (user, 2))
    [finding] = unit.findings
    assert finding.rule == "DBA103"
    assert finding.fix.code.startswith(
        'INSERT INTO "accounts_user_followers" ("from_user_id", "to_user_id") '
        "VALUES (?, ?), (?, ?), ... ON CONFLICT DO NOTHING -- "
    )
