"""The Python frontend: ``parse_module(path, source)`` and the cheap pre-check."""

from dbaudit.frontends.python.parser import ParseError, might_touch_database, parse_module

__all__ = ["ParseError", "might_touch_database", "parse_module"]
