"""Database access shared by the demo, the benchmarks and the tests."""

from dbaudit.db.harness import (
    DatabaseUnavailable,
    PostgresServer,
    redact,
    resolve_server,
    scratch_database,
    sqlalchemy_url,
    temporary_database,
)

__all__ = [
    "DatabaseUnavailable",
    "PostgresServer",
    "redact",
    "resolve_server",
    "scratch_database",
    "sqlalchemy_url",
    "temporary_database",
]
