"""Errors a user can cause, shared by every stage; free of heavy imports so the CLI starts fast."""

from __future__ import annotations


class UsageError(Exception):
    """Bad arguments or input the user can fix; printed as one line, exit 2."""


class DatabaseUnavailable(RuntimeError):
    """No PostgreSQL server could be had; the message names every source tried and why it failed."""
