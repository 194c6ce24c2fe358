"""Fixtures shared by the runtime tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_databases(pg_url: str) -> None:
    """Django configured once per process (its settings are global): ``default`` an in-memory
    sqlite database, ``pg`` the test run's PostgreSQL database; no installed apps."""
    django = pytest.importorskip("django")
    from django.conf import settings
    from sqlalchemy.engine import make_url

    if settings.configured:
        return
    pg = make_url(pg_url)
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
