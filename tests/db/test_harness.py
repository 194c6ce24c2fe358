"""The database harness against real servers: local, embedded, and the failure message."""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote

import psycopg
import pytest

from dbaudit.db import (
    DatabaseUnavailable,
    PostgresServer,
    redact,
    resolve_server,
    sqlalchemy_url,
    temporary_database,
)


def _database_exists(server: PostgresServer, name: str) -> bool:
    with psycopg.connect(server.url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def test_temporary_database_is_created_and_dropped(pg_server: PostgresServer) -> None:
    with temporary_database(pg_server) as url:
        name = url.rsplit("/", 1)[1].split("?")[0]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
        assert _database_exists(pg_server, name)
    assert not _database_exists(pg_server, name)


def test_temporary_database_is_dropped_with_open_connections(pg_server: PostgresServer) -> None:
    with temporary_database(pg_server) as url:
        name = url.rsplit("/", 1)[1].split("?")[0]
        leaked = psycopg.connect(url)
    assert not _database_exists(pg_server, name)
    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")
    leaked.close()


@pytest.mark.embedded_server
def test_embedded_server_is_used_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAUDIT_DATABASE", "embedded")
    with resolve_server() as server:
        assert server.source == "embedded"
        with temporary_database(server) as url, psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version_num").fetchone()
            assert version is not None and int(version[0]) >= 150000
        socket_dir = unquote(server.url.split("host=")[-1])
        assert os.path.isdir(socket_dir)
    assert not os.path.exists(socket_dir)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)


def test_embedded_server_not_installed_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # as on Python 3.13+, where pgserver has no build and is not installed with dbaudit
    monkeypatch.setitem(sys.modules, "pgserver", None)
    monkeypatch.setitem(sys.modules, "pgserver.postgres_server", None)
    with pytest.raises(DatabaseUnavailable) as raised:
        resolve_server("embedded")
    message = str(raised.value)
    assert message.startswith("no PostgreSQL server available; tried embedded (pgserver): ")
    assert "not installed" in message
    assert "\n" not in message


def test_env_url_wins_and_failure_names_every_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAUDIT_DATABASE_URL", "postgresql://alice:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseUnavailable) as raised:
        resolve_server("env")
    message = str(raised.value)
    assert "env (postgresql://alice:***@127.0.0.1:1/nowhere)" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_env_url_is_used_when_reachable(
    monkeypatch: pytest.MonkeyPatch, pg_server: PostgresServer
) -> None:
    monkeypatch.setenv("DBAUDIT_DATABASE_URL", pg_server.url)
    with resolve_server() as server:
        assert server.source == "env"


def test_unknown_choice_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAUDIT_DATABASE", "oracle")
    with pytest.raises(DatabaseUnavailable, match="DBAUDIT_DATABASE='oracle' is not one of"):
        resolve_server()


def test_non_postgres_env_url_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAUDIT_DATABASE_URL", "mysql://root@127.0.0.1/test")
    with pytest.raises(DatabaseUnavailable, match="not a PostgreSQL URL"):
        resolve_server("env")


def test_redact_and_driver_urls() -> None:
    assert redact("postgresql://u:pw@h:5/d") == "postgresql://u:***@h:5/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"
    assert (
        redact("postgresql://postgres:@/db?host=/tmp/x")
        == "postgresql://postgres@/db?host=%2Ftmp%2Fx"
    )
    assert redact("not a url") == "<unparsable database URL>"
    assert sqlalchemy_url("postgresql://u:pw@h:5/d") == "postgresql+asyncpg://u:pw@h:5/d"
    assert sqlalchemy_url("postgresql://u@h/d", "psycopg") == "postgresql+psycopg://u@h/d"
