"""What the capture adapters emit: one ``QueryEvent`` per statement sent to the database.

``QueryEvent`` is a ``NamedTuple`` rather than a frozen dataclass on purpose: it is built on the
hot path of every profiled query, and a named tuple is immutable, compact and about four times
cheaper to construct than a frozen slotted dataclass (whose ``__init__`` goes through
``object.__setattr__`` once per field).

Literal values are never kept: ``param_hashes`` holds ``hash()`` of each parameter value (enough
to tell "same parameters" and "this value came from that result" apart within one process) and
``params`` (and ``statement``, the SQL as sent) stay ``None`` unless the unit was asked to keep
values (``keep_params=True``) or the query was slow enough to be worth an ``EXPLAIN`` later
(``dbaudit.runtime.explain``); they live in memory only and are written to an events file only
when the unit asked to keep values.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dbaudit.sql import Fingerprint


@dataclass(frozen=True, slots=True)
class CallSite:
    """One frame of application code (library and dbaudit frames are skipped)."""

    path: str
    line: int
    function: str
    # The source span (line, end line, column, end column; columns in UTF-8 bytes, as ``ast``
    # gives them) of the instruction the frame was running, when the interpreter keeps it: on a
    # line holding a comprehension it tells the first iterable (evaluated once) from the element
    # (once per item), which the line alone cannot (runtime/loops.py). Not part of equality: the
    # chain is the same call site whichever instruction of the line called.
    position: tuple[int, int, int, int] | None = field(default=None, compare=False, repr=False)
    # The detectors group events by whole stacks (tuples of CallSites) and hash them per unit:
    # computed once here, not as a new tuple of the three fields at every hash.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.path, self.line, self.function)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(
        self,
    ) -> tuple[type[CallSite], tuple[str, int, str, tuple[int, int, int, int] | None]]:
        # rebuilt, not restored: a string's hash differs from one process to the next
        return CallSite, (self.path, self.line, self.function, self.position)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}"


class Results(list[Any]):
    """The rows a query returned, hashed only if a detector asks (most are never asked).

    A ``list`` subclass, so keeping the rows is one C-speed pointer copy (``Results(rows)``)
    on the query's path; hashing every value there was the sequential detector's largest cost.
    Held in memory for the unit's lifetime only, never written anywhere.
    """

    __slots__ = ("_hashes",)

    def hashes(self) -> frozenset[int]:
        try:
            return self._hashes
        except AttributeError:
            self._hashes: frozenset[int] = hash_values_of_rows(self)
            return self._hashes

    def __contains__(self, value_hash: object) -> bool:
        """Membership of a value's ``hash()`` (what detectors compare), not of a row."""
        return value_hash in self.hashes()


def hash_values_of_rows(rows: Any) -> frozenset[int]:
    """``hash()`` of every value in ``rows``."""
    try:
        return frozenset(map(hash, itertools.chain.from_iterable(rows)))  # all at C speed
    except TypeError:  # a list or dict value (arrays, JSON): skip just those
        hashes: set[int] = set()
        for row in rows:
            for value in row:
                with contextlib.suppress(TypeError):
                    hashes.add(hash(value))
        return frozenset(hashes)


def result_hashes(results: frozenset[int] | Results | None) -> frozenset[int] | None:
    return results.hashes() if isinstance(results, Results) else results


class QueryEvent(NamedTuple):
    seq: int  # position within its unit, from 0
    fingerprint: Fingerprint
    started: float  # time.perf_counter() when the statement was sent
    duration: float  # seconds
    rows: int | None  # rows returned or affected when the driver says so
    stack: tuple[CallSite, ...]  # application frames, innermost first; empty if none found
    thread_id: int
    task_id: int | None  # id() of the asyncio task awaiting it; None outside one, or blocking
    param_hashes: tuple[int, ...]  # hash() of each parameter value, in order
    result_hashes: frozenset[int] | Results | None  # result values, when the adapter saw them
    ignored: bool  # issued inside ``dbaudit.ignore()``: counted, never judged
    source: str  # "sqlalchemy", "sqlite3", "psycopg", "asyncpg", "dbapi", "django"
    many: bool  # executemany: one round trip carrying many parameter sets
    error: str | None  # exception class name when the statement failed
    params: Any  # the raw parameters, only when kept (see module docstring)
    statement: str | None = None  # the SQL as sent, kept with ``params`` (for EXPLAIN)
    # the ORM relationship this statement lazy-loaded ("Project.renders"), when the ORM said so
    relationship: str | None = None
    # the HTTP request inside its unit that sent it (a process-wide number, see
    # ``unit.request_started``), None outside any: a test's unit judges repetition per request
    request: int | None = None

    @property
    def call_site(self) -> CallSite | None:
        return self.stack[0] if self.stack else None

    @property
    def params_key(self) -> int | None:
        """Equal for two executions with the same parameter values (None for executemany)."""
        return None if self.many else hash(self.param_hashes)

    @property
    def ended(self) -> float:
        return self.started + self.duration
