"""Shared fixtures: one real PostgreSQL server per test session, a fresh database per test run.

The server comes from ``dbaudit.db.resolve_server`` (``DBAUDIT_DATABASE_URL``, then
127.0.0.1:5432, then an embedded ``pgserver``). Never a mock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbaudit.db import PostgresServer, resolve_server, temporary_database


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
