"""Find a PostgreSQL server to work against, and hand out throwaway databases on it.

Resolution order (DESIGN.md, "Databases"):

1. ``DBAUDIT_DATABASE_URL`` when set;
2. a server on 127.0.0.1:5432 (user ``postgres``, database ``test`` then ``postgres``);
3. an embedded server from the ``pgserver`` package in a temporary directory, stopped on exit.

``DBAUDIT_DATABASE=embedded`` skips the first two (CI's machine has a server on 5432, so the
embedded path would otherwise never be exercised); ``DBAUDIT_DATABASE=local`` or ``=env``
restricts resolution to that one source.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from sqlalchemy.engine import URL, make_url

from dbaudit.errors import DatabaseUnavailable, first_line

LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432
LOCAL_DATABASES = ("test", "postgres")
CONNECT_TIMEOUT_S = 3
TEMP_DATABASE_PREFIX = "dbaudit_tmp_"


@dataclass(frozen=True, slots=True)
class Attempt:
    source: str
    target: str
    error: str


@dataclass(slots=True)
class PostgresServer:
    """A reachable server. ``url`` is a libpq URL of its maintenance database."""

    url: str
    source: str  # "env" | "local" | "embedded"
    attempts: tuple[Attempt, ...] = ()
    _closer: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def url_for(self, database: str) -> str:
        return libpq_url(make_url(self.url).set(database=database))

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def libpq_url(url: URL) -> str:
    """A URL psycopg and asyncpg both accept (no SQLAlchemy driver suffix), password kept."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``: the only form that is ever printed."""
    try:
        parsed = make_url(url)
        if parsed.password == "":
            parsed = parsed._replace(password=None)  # URL.set() ignores None
        return parsed.render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


def sqlalchemy_url(url: str, driver: str = "asyncpg") -> str:
    """``postgresql+<driver>://...`` for SQLAlchemy; ``driver`` is asyncpg or psycopg."""
    with_driver = make_url(url).set(drivername=f"postgresql+{driver}")
    return with_driver.render_as_string(hide_password=False)


def _probe(url: str) -> None:
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
        conn.execute("SELECT 1")


def _try_env(attempts: list[Attempt]) -> PostgresServer | None:
    url = os.environ.get("DBAUDIT_DATABASE_URL")
    if not url:
        attempts.append(Attempt("env", "DBAUDIT_DATABASE_URL", "not set"))
        return None
    try:
        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise ValueError(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
        libpq = libpq_url(parsed)
        _probe(libpq)
    except Exception as error:
        attempts.append(Attempt("env", redact(url), first_line(error, limit=200)))
        return None
    return PostgresServer(url=libpq, source="env")


def _try_local(attempts: list[Attempt]) -> PostgresServer | None:
    for database in LOCAL_DATABASES:
        url = f"postgresql://postgres@{LOCAL_HOST}:{LOCAL_PORT}/{database}"
        try:
            _probe(url)
        except Exception as error:
            attempts.append(Attempt("local", url, first_line(error, limit=200)))
            continue
        return PostgresServer(url=url, source="local")
    return None


def _try_embedded(attempts: list[Attempt]) -> PostgresServer | None:
    try:
        from pgserver.postgres_server import get_server
    except ImportError:
        why = (
            f"not installed (no build of it for Python {sys.version_info[0]}.{sys.version_info[1]})"
        )
        if sys.version_info < (3, 13):
            why = "not installed (pip install pgserver)"
        attempts.append(Attempt("embedded", "pgserver", why))
        return None
    stack = contextlib.ExitStack()
    try:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="dbaudit-pg-"))
        # pgserver drops to a 'pgserver' system user when run as root; that user must be able
        # to reach the data directory.
        os.chmod(data_dir, 0o755)
        server = get_server(data_dir, cleanup_mode="stop")
        stack.callback(server.cleanup)
        url = server.get_uri("postgres")
        _probe(url)
    except Exception as error:
        stack.close()
        attempts.append(Attempt("embedded", "pgserver", first_line(error, limit=200)))
        return None
    return PostgresServer(url=url, source="embedded", _closer=stack)


_SOURCES = {"env": _try_env, "local": _try_local, "embedded": _try_embedded}


def resolve_server(prefer: str | None = None) -> PostgresServer:
    """The first server that answers, in the documented order.

    ``prefer`` (or ``DBAUDIT_DATABASE``) names one source to use alone: env, local or embedded.
    Raises :class:`DatabaseUnavailable` with one line naming every attempt.
    """
    choice = prefer or os.environ.get("DBAUDIT_DATABASE") or None
    if choice is not None and choice not in _SOURCES:
        raise DatabaseUnavailable(
            f"DBAUDIT_DATABASE={choice!r} is not one of: {', '.join(_SOURCES)}"
        )
    order = [choice] if choice else list(_SOURCES)
    attempts: list[Attempt] = []
    for source in order:
        server = _SOURCES[source](attempts)
        if server is not None:
            server.attempts = tuple(attempts)
            return server
    tried = "; ".join(
        f"{a.source} ({redact(a.target) if '://' in a.target else a.target}): {a.error}"
        for a in attempts
    )
    raise DatabaseUnavailable(f"no PostgreSQL server available; tried {tried}")


@contextlib.contextmanager
def temporary_database(server: PostgresServer, prefix: str = TEMP_DATABASE_PREFIX) -> Iterator[str]:
    """Create a fresh database on ``server``, yield its libpq URL, drop it afterwards."""
    name = f"{prefix}{secrets.token_hex(6)}"
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url_for(name)
    finally:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(prefer: str | None = None) -> Iterator[tuple[PostgresServer, str]]:
    """Resolve a server and a fresh database on it; clean both up on exit."""
    with resolve_server(prefer) as server, temporary_database(server) as url:
        yield server, url
