"""dbaudit: find database performance problems in code, in live PostgreSQL and at runtime."""

from typing import Any

__version__ = "0.1.0"

# ``dbaudit.profile()`` and friends, imported on first use so ``import dbaudit`` stays cheap.
_RUNTIME_EXPORTS = frozenset({"profile", "ignore", "instrument", "assert_max_queries"})


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_EXPORTS:
        import dbaudit.runtime

        return getattr(dbaudit.runtime, name)
    raise AttributeError(f"module 'dbaudit' has no attribute {name!r}")
