"""Budgets: how long a block (or a test) spends in the database, and exactly how many
statements it sends.

``assert_max_queries`` (``unit.py``) caps how many statements a block sends;
``assert_num_queries`` pins the number exactly (Django's ``assertNumQueries``: fewer fails too,
so a test notices when a query it relied on disappeared, e.g. a cache that stopped being
filled); ``assert_max_db_time`` caps how long they take, the sum of their durations as the
driver saw them. A failure names the statements that cost the most (grouped by fingerprint:
total time, executions, where from), which is where a fix starts::

    with assert_max_db_time(50):
        render_dashboard(session)

    AssertionError: expected at most 50 ms in the database, 73.2 ms in 12 queries; worst:
       61.0 ms  10x  SELECT * FROM renders WHERE renders.project_id = ?  (app/dash.py:14 in load)
       ...

The counts leave out a test framework's own statements (``counted``): the savepoints and
``SET CONSTRAINTS`` Django's ``TestCase`` sends around each test with no application frame in
their call chain (``capture/django.py``), which ``assertNumQueries`` does not see either; they
are in the unit's events, ignored (never judged), with the source ``django-harness``.

Wall-clock budgets are only as steady as the machine running them: give them room (a budget is
a tripwire for a regression of several times, not a benchmark).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from dbaudit.runtime.events import CallSite, QueryEvent
from dbaudit.runtime.unit import Unit, budget_block, ignore

P = ParamSpec("P")
R = TypeVar("R")

WORST_LISTED = 5
HARNESS_SOURCE = "django-harness"  # an event's source: a test harness' statement, not counted
LISTED_STATEMENTS = 50  # statements a count failure lists, in the order they ran


@dataclass(frozen=True, slots=True)
class StatementTime:
    """The time one statement shape (fingerprint) took in a unit, summed over executions."""

    sql: str
    total_ms: float
    executions: int
    site: CallSite | None  # where it ran first

    def __str__(self) -> str:
        where = f"  ({self.site})" if self.site is not None else ""
        return f"{self.total_ms:8.1f} ms  {self.executions:3d}x  {self.sql}{where}"


def worst_statements(
    events: Iterable[QueryEvent], limit: int = WORST_LISTED
) -> list[StatementTime]:
    """The ``limit`` statements with the most time in the database, most first (pure)."""
    totals: dict[str, list[float]] = {}
    first: dict[str, QueryEvent] = {}
    for event in events:
        digest = event.fingerprint.digest
        if digest not in totals:
            totals[digest] = [0.0, 0]
            first[digest] = event
        totals[digest][0] += event.duration
        totals[digest][1] += 1
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])[:limit]
    return [
        StatementTime(
            first[digest].fingerprint.text,
            round(seconds * 1000, 3),
            int(count),
            first[digest].call_site,
        )
        for digest, (seconds, count) in ranked
    ]


def over_budget_message(unit: Unit, budget_ms: float, label: str = "") -> str:
    """The failure text for a unit over its DB-time budget (worst statements listed)."""
    head = label or f"expected at most {budget_ms:g} ms in the database"
    lines = [f"{head}, {unit.db_time_ms:.1f} ms in {unit.query_count} queries; worst:"]
    lines += [f"  {statement}" for statement in worst_statements(unit.events)]
    return "\n".join(lines)


class DbTimeBudgetExceeded(AssertionError):
    def __init__(self, unit: Unit, budget_ms: float) -> None:
        self.unit = unit
        self.budget_ms = budget_ms
        super().__init__(over_budget_message(unit, budget_ms))


def check_budget_ms(value: object, what: str = "max_db_time") -> float:
    """``value`` as a budget in ms, or a ``ValueError`` saying what was wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} needs a positive number of milliseconds, got {value!r}")
    return float(value)


@contextmanager
def assert_max_db_time(
    budget_ms: float, name: str = "", *, threads: bool | None = None
) -> Iterator[Unit]:
    """Fail with the costliest statements when the block spends more than ``budget_ms``
    milliseconds in the database (queries inside ``ignore()`` count too). ``threads``: see
    ``unit.budget_block`` (the pytest fixture passes True)."""
    budget = check_budget_ms(budget_ms)
    with budget_block(name or f"assert_max_db_time({budget:g} ms)", threads) as unit:
        yield unit
    if unit.db_time_ms > budget:
        raise DbTimeBudgetExceeded(unit, budget)


def counted(unit: Unit) -> int:
    """The statements a query budget counts: every one the unit sent (``ignore()`` blocks
    too), but a test harness' own (see the module docstring)."""
    return unit.query_count - sum(1 for event in unit.events if event.source == HARNESS_SOURCE)


NOT_JUDGED = "__dbaudit_not_judged__"  # set on a function :func:`not_judged` wrapped


def not_judged(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` with the statements it sends inside a unit counted (budgets, totals) and
    never judged, as inside ``ignore()``: a migration tool's run (Django's ``migrate``,
    Alembic's ``MigrationContext.run_migrations``), which the pytest plugin wraps so a data
    migration's loop over rows is not an N+1 of the test that migrated. Outside a unit it
    costs one ``ContextVar`` read."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with ignore():
            return function(*args, **kwargs)

    setattr(run, NOT_JUDGED, True)
    return run


def statement_listing(unit: Unit, limit: int = LISTED_STATEMENTS) -> list[str]:
    """One line per statement the unit sent that a budget counts, in order, with where it came
    from (pure)."""
    lines = []
    events = [event for event in unit.events if event.source != HARNESS_SOURCE]
    for event in events[:limit]:
        site = f"  ({event.call_site})" if event.call_site is not None else ""
        lines.append(f"  {event.fingerprint.text}{site}")
    ran = counted(unit)
    if ran > limit:
        lines.append(f"  ... and {ran - limit} more")
    return lines


def count_mismatch_message(unit: Unit, expected: int, label: str = "") -> str:
    """The failure text for a unit that did not send exactly ``expected`` statements."""
    head = label or f"expected exactly {expected} queries"
    ran = counted(unit)
    lines = [f"{head}, {ran} ran" + (":" if ran else "")]
    return "\n".join(lines + statement_listing(unit))


class QueryCountMismatch(AssertionError):
    """A block (or a test) sent more or fewer statements than it said it would."""

    def __init__(self, unit: Unit, expected: int) -> None:
        self.unit = unit
        self.expected = expected
        super().__init__(count_mismatch_message(unit, expected))


def check_query_count(value: object, what: str = "num_queries") -> int:
    """``value`` as an exact number of statements, or a ``ValueError`` saying what was wrong."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} needs a non-negative integer, got {value!r}")
    return value


@contextmanager
def assert_num_queries(
    expected: int, name: str = "", *, threads: bool | None = None
) -> Iterator[Unit]:
    """Fail, listing every statement with its call site, unless the block sends exactly
    ``expected`` statements (more or fewer). Counted as the budgets count: statements that
    reached the driver, flushes included, an ``executemany`` as one, ``ignore()`` blocks too.
    ``threads``: see ``unit.budget_block`` (the pytest fixture passes True)."""
    count = check_query_count(expected, "assert_num_queries")
    with budget_block(name or f"assert_num_queries({count})", threads) as unit:
        yield unit
    if counted(unit) != count:
        raise QueryCountMismatch(unit, count)
