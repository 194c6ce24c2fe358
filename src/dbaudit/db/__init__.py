"""Database access shared by the demo, the benchmarks and the tests."""

from dbaudit.db.harness import (
    PostgresServer,
    redact,
    resolve_server,
    scratch_database,
    sqlalchemy_url,
    temporary_database,
)
from dbaudit.errors import DatabaseUnavailable

__all__ = [
    "DatabaseUnavailable",
    "PostgresServer",
    "redact",
    "resolve_server",
    "scratch_database",
    "sqlalchemy_url",
    "temporary_database",
]
