"""dbaudit: find database performance problems in code, in live PostgreSQL and at runtime."""

__version__ = "0.1.0"
