"""Which parameters of a repeated statement changed from one execution to the next: the loop's
key among them, for :func:`dbaudit.sql.batch.suggest_batch`.

Positions are those of the normalised text's ``?`` (literals included: the normaliser turns
``status = 'done'`` into ``status = ?`` too), computed from each event's parameter hashes and
its fingerprint's literal hashes. Parameter values are never read, only their hashes compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from dbaudit.runtime.events import QueryEvent

# drivers whose parameters reach the event in the order of their placeholders in the text:
# SQLAlchemy's compiled parameters (a dict for pyformat drivers, built in the order its
# compiler wrote the binds), Django's lists, asyncpg's positional ``$n``. A raw DB-API
# driver's dict (``%(name)s``, ``:name``) is in the order its caller wrote the dict.
_TEXT_ORDER = frozenset({"sqlalchemy", "django", "asyncpg"})
_TEXT = attrgetter("fingerprint.text")
_LITERALS = attrgetter("fingerprint.values")
_MANY = attrgetter("many")
_SOURCE = attrgetter("source")
_PARAMETERS = attrgetter("param_hashes")


def varying_parameters(events: Sequence[QueryEvent]) -> frozenset[int] | None:
    """The positions (0-based, in the normalised text's ``?`` order) whose values were not the
    same in every one of ``events`` (executions of one statement text); None when that cannot
    be told: fewer than two events, an executemany, parameters whose order may not be the
    text's, or values that do not map one to one on the text's ``?`` (a collapsed IN list)."""
    if len(events) < 2:
        return None
    if len(set(map(_TEXT, events))) != 1 or any(map(_MANY, events)):
        return None
    width = events[0].fingerprint.text.count("?")
    if not any(map(_LITERALS, events)) and set(map(_SOURCE, events)) <= _TEXT_ORDER:
        # the usual loop: bound parameters only, from a driver that keeps their order; one
        # C-speed pass per position (this runs for every N+1 finding, over all its events)
        parameters = list(map(_PARAMETERS, events))
        if set(map(len, parameters)) != {width}:
            return None
        return frozenset(
            i for i, column in enumerate(zip(*parameters, strict=True)) if len(set(column)) > 1
        )
    columns: list[set[int | None]] = [set() for _ in range(width)]
    for event in events:
        values = _values_in_text_order(event)
        if values is None or len(values) != width:
            return None
        for column, value in zip(columns, values, strict=True):
            column.add(value)
    return frozenset(i for i, column in enumerate(columns) if len(column) > 1)


def _values_in_text_order(event: QueryEvent) -> list[int | None] | None:
    """Hashes of the values behind the text's ``?``: the fingerprint's literal hashes, with
    each bound parameter's (``None`` among them) taken from ``param_hashes`` in order."""
    if event.many:
        return None
    if event.source not in _TEXT_ORDER and not isinstance(event.params, list | tuple):
        return None  # unknown order (params not kept) or a mapping: never guess a key
    literals = event.fingerprint.values
    parameters = list(event.param_hashes)
    if not literals:
        return list(parameters)
    if sum(value is None for value in literals) != len(parameters):
        return None
    bound = iter(parameters)
    return [next(bound) if value is None else value for value in literals]
