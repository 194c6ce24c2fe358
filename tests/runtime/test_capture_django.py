"""Django capture through ``connection.execute_wrapper``: sqlite and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402


@pytest.fixture(scope="module")
def connections(pg_url: str) -> Any:
    from sqlalchemy.engine import make_url

    pg = make_url(pg_url)
    if not settings.configured:
        settings.configure(
            DATABASES={
                "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
                "pg": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": pg.database,
                    "USER": pg.username or "",
                    "PASSWORD": pg.password or "",
                    "HOST": pg.host or pg.query.get("host", ""),
                    "PORT": str(pg.port or ""),
                },
            },
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()
    from django.db import connections as django_connections

    from dbaudit.runtime.capture.django import instrument_all

    instrument_all()
    yield django_connections
    django_connections.close_all()


def author_of(connection: Any, post_id: int) -> Any:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s + 1", [post_id])
        return cursor.fetchone()


@pytest.mark.parametrize("alias", ["default", "pg"])
def test_django_loop_is_an_n_plus_one(connections: Any, alias: str) -> None:
    from dbaudit.runtime import profile

    connection = connections[alias]
    with profile() as unit:
        values = [author_of(connection, i) for i in range(4)]
    assert values == [(i + 1,) for i in range(4)]
    assert unit.query_count == 4
    assert {e.source for e in unit.events} == {"django"}
    assert [f.rule for f in unit.findings] == ["DBA101"]


def test_django_nothing_outside_a_unit_and_errors_still_raise(connections: Any) -> None:
    from django.db import DatabaseError

    from dbaudit.runtime import profile

    connection = connections["default"]
    author_of(connection, 1)  # no unit: no event, no error
    with profile() as unit, pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert [e.error for e in unit.events] == ["OperationalError"]
