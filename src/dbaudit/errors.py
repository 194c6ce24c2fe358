"""Errors a user can cause, shared by every stage; free of heavy imports so the CLI starts fast."""

from __future__ import annotations


class UsageError(Exception):
    """Bad arguments or input the user can fix; printed as one line, exit 2."""


class DatabaseUnavailable(RuntimeError):
    """No PostgreSQL server could be had; the message names every source tried and why it failed."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first non-blank line of an error's message (drivers add hints and context below it),
    cut to ``limit`` characters: what a one-line error shows."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:limit]
