"""Shared fixtures: one real PostgreSQL server per test session, a fresh database per test run.

The server comes from ``dbaudit.db.resolve_server`` (``DBAUDIT_DATABASE_URL``, then
127.0.0.1:5432, then an embedded ``pgserver``). Never a mock.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from dbaudit.db import PostgresServer, resolve_server, temporary_database


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "embedded_server: needs pgserver, the embedded PostgreSQL (none for 3.13+)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if importlib.util.find_spec("pgserver") is not None:
        return
    skip = pytest.mark.skip(reason="pgserver, the embedded PostgreSQL, has no build here")
    for item in items:
        if item.get_closest_marker("embedded_server") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with resolve_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A database created for this test run and dropped at its end (libpq URL)."""
    with temporary_database(pg_server) as url:
        yield url


@pytest.fixture()
def fresh_pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A database of its own for one test, for tests that change the schema."""
    with temporary_database(pg_server) as url:
        yield url
