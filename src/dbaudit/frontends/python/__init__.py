"""The Python frontend: ``parse_module(path, source)`` (``parse`` adds the notes the report
lists for the file) and the cheap pre-check."""

from dbaudit.frontends.python.parser import (
    ParseError,
    ParseOutcome,
    might_touch_database,
    parse,
    parse_module,
)

__all__ = ["ParseError", "ParseOutcome", "might_touch_database", "parse", "parse_module"]
