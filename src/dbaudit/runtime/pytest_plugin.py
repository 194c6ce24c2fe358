"""pytest plugin: each test is a unit of work; N+1s fail (or warn), budgets are enforced.

Loaded through the ``pytest11`` entry point, this module only adds options, markers and the
budget fixtures. The plugin object that profiles tests (:class:`DbauditPlugin`) is registered
only when asked for, with ``--dbaudit`` (or ``dbaudit = true`` in the ini file, or a baseline
or events file option), or in budget-only mode when a collected test carries
``@pytest.mark.max_queries``, ``num_queries`` or ``max_db_time``, so a test run that does not
use dbaudit pays nothing.

With ``--dbaudit-explain`` (or ``dbaudit_explain = true``) each test's distinct SELECTs are
planned once at its end with sequential scans switched off, on a connection of the plugin's own
in a read-only transaction that is rolled back (``runtime/plans.py``); a table still read by a
filtered Seq Scan is a DBA401 finding at the statement's call site. The database comes from the
``dbaudit_explain_target`` fixture when the project defines one, otherwise from the test's own
fixture values (a PostgreSQL SQLAlchemy engine, connection or session, or a psycopg connection).

Every SQLAlchemy engine (and the ORM's lazy-load labels) is profiled automatically, and so is
every Django connection once Django's settings are configured (pytest-django, a conftest's
``django.setup()``, or ``DJANGO_SETTINGS_MODULE``): looked at when the plugin starts and again
before each test until then, through ``sys.modules`` (a run that never imported Django does not
import it). For sqlite3, psycopg, psycopg2, PyMySQL and asyncpg connections created by the
application, pass them through ``dbaudit.runtime.instrument`` in a fixture; a run that profiled
tests and recorded no statement at all says so in its summary. Django's ``TestCase`` harness
statements (its savepoints around each test) are not counted: see ``capture/django.py``. The
requests of Starlette and FastAPI apps (a test client's, a live server's) are marked the same
way once Starlette is imported (``middleware.instrument_starlette``), so each request a test
sends is judged apart, never a test's loop of requests as the view's N+1. Migration runs
(Django's ``migrate``, Alembic's ``MigrationContext.run_migrations``, hooked once Alembic is
imported, inside a test too: ``_AfterImport``) are counted, never judged: a data migration's
loop is no N+1 of the test that migrated.

A finding located in test code (``finding.path``: a collected test module, a conftest.py, or a
file named by ``python_files``) is the test's own data setup, not the application's: it is
reported (summary, events file, SARIF, baseline) and fails no test, unless
``--dbaudit-judge-test-code`` (``dbaudit_judge_test_code = true``). Budgets count everything.

Under pytest-xdist (``-n``) every worker judges its own tests; at the end each worker sends its
per-test records to the controller (``workeroutput``) and writes its events to a part file, and
the controller prints one summary, merges the parts into the one ``--dbaudit-json`` file and
writes the one baseline. Docs: docs/runtime.md.

Threads: the unit of a test (and the ``dbaudit_unit`` and budget fixtures' units) is opened with
``profile(threads=True)``: while it is open it also takes the statements of every thread with
no unit in its own context (a ``threading.Thread`` or executor worker the test started, an app's
server thread under a test client, one a fixture started), each at its own call site. One test
runs at a time in a process (xdist workers are processes), so those are the test's; the unit
closes at the end of the test's call, and a thread's statement after that is in no unit. (A
thread that a test leaves running and that queries while a later test runs is counted in that
test: nothing tells it from a server thread the tests share.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported lazily: a run without dbaudit must not pay for sqlglot & co.
    from dbaudit.findings import Finding
    from dbaudit.runtime.baseline import Entry, RecordedTest
    from dbaudit.runtime.detect import DetectConfig
    from dbaudit.runtime.unit import Unit

PLUGIN_NAME = "dbaudit-runtime"
SUMMARY_LINES = 10
WORKER_OUTPUT_KEY = "dbaudit"  # xdist: what a worker sends the controller
BUDGET_MARKERS = ("max_queries", "num_queries", "max_db_time")
# N+1 (lazy loads included), row-by-row writes, and a missing index (only with --dbaudit-explain)
DEFAULT_FAIL_ON = ["DBA101", "DBA103", "DBA401"]
EXPLAIN_TARGET_FIXTURE = "dbaudit_explain_target"
BUDGET_FIXTURES = frozenset(
    ("assert_max_queries", "assert_num_queries", "assert_max_db_time", "dbaudit_unit")
)
RULE_ID = re.compile(r"^[A-Z]{3}\d{3}$")  # in a marker's allow=: a rule, else a pattern
# Statements a migration tool sends for itself, never the application's data access: counted
# (budgets), never judged, whatever dbaudit_ignore_sql says. Alembic updates its version row once
# per revision step and, in SQLite batch mode, reads sqlite_master for every table it copies; a
# suite that migrates its test database got DBA103 "row-by-row writes" at the line that ran
# the migrations, and N+1s at each revision's op.add_column, with nothing there to batch.
TOOL_SQL = (
    "update alembic_version set *",
    "insert into alembic_version *",
    "delete from alembic_version *",
    "select alembic_version.version_num from alembic_version*",
    "* from sqlite_master *",
    "* from sqlite_master",
)


class DbauditWarning(UserWarning):
    """A query problem found in a test run with ``--dbaudit-mode=warn``."""


@dataclass(frozen=True, slots=True)
class Settings:
    enabled: bool  # full mode: detectors judge every test, summary printed
    mode: str  # "fail" | "warn"
    fail_on: tuple[str, ...]
    json_path: str | None
    detect: DetectConfig
    baseline_path: str | None = None
    baseline_update: bool = False
    explain: bool = False  # the missing-index check (runtime/plans.py)
    explain_ignore_tables: tuple[str, ...] = ()
    sarif_path: str | None = None
    max_queries: int | None = None  # every test's budget, unless a marker sets its own
    judge_test_code: bool = False  # a finding located in test code fails the test too
    test_file_patterns: tuple[str, ...] = ()  # python_files: what pytest collects as tests


@dataclass(frozen=True, slots=True)
class TestRecord:
    """What the session summary, the baseline and the xdist controller need of one test."""

    nodeid: str
    queries: int
    db_time_ms: float
    findings: tuple[Finding, ...]
    sql: dict[str, str] = field(default_factory=dict)  # fingerprint digest -> normalised SQL
    # per finding: why its location is test code ("" when it is not); the xdist controller
    # collects no tests, so a worker sends what it decided
    test_code: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        from dbaudit.runtime.export import finding_to_dict

        return {
            "nodeid": self.nodeid,
            "queries": self.queries,
            "db_time_ms": self.db_time_ms,
            "findings": [finding_to_dict(f) for f in self.findings],
            "sql": self.sql,
            "test_code": list(self.test_code),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        from dbaudit.runtime.export import finding_from_dict

        return cls(
            str(data["nodeid"]),
            int(data["queries"]),
            float(data["db_time_ms"]),
            tuple(finding_from_dict(f) for f in data["findings"]),
            dict(data.get("sql", {})),
            tuple(str(reason) for reason in data.get("test_code", ())),
        )

    def test_code_reason(self, index: int) -> str:
        return self.test_code[index] if index < len(self.test_code) else ""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbaudit", "database query profiling (dbaudit)")
    group.addoption(
        "--dbaudit",
        action="store_true",
        default=None,
        help="profile the queries of each test; fail tests with N+1 queries",
    )
    group.addoption(
        "--dbaudit-mode",
        choices=("fail", "warn"),
        default=None,
        help="fail (default) or warn on the rules in dbaudit_fail_on",
    )
    group.addoption("--dbaudit-json", metavar="FILE", help="write all query events and findings")
    group.addoption(
        "--dbaudit-sarif",
        metavar="FILE",
        help="write the run's findings as SARIF 2.1.0 (GitHub code scanning; implies --dbaudit)",
    )
    group.addoption(
        "--dbaudit-threshold",
        type=int,
        default=None,
        metavar="N",
        help="queries from one call site that make an N+1 (default 3; 2 for ORM lazy loads)",
    )
    group.addoption(
        "--dbaudit-baseline",
        metavar="FILE",
        help="fail only on findings and query counts that are new or worse than in FILE",
    )
    group.addoption(
        "--dbaudit-baseline-update",
        action="store_true",
        default=False,
        help="record this run's findings and query counts in the baseline file (never fails)",
    )
    group.addoption(
        "--dbaudit-explain",
        action="store_true",
        default=None,
        help="plan each test's SELECTs with sequential scans off (PostgreSQL, read-only, "
        "rolled back); a filter no index can serve is a DBA401 finding (implies --dbaudit)",
    )
    group.addoption(
        "--dbaudit-judge-test-code",
        action="store_true",
        default=None,
        help="fail tests on findings located in test code too (test modules, conftest.py); "
        "by default those are reported, not failing",
    )
    group.addoption(
        "--no-dbaudit-explain",
        dest="dbaudit_explain",
        action="store_const",
        const=False,
        help="no missing-index check in this run, whatever dbaudit_explain says",
    )
    parser.addini("dbaudit", "profile every test, like --dbaudit", type="bool", default=False)
    parser.addini("dbaudit_mode", "fail or warn", default="fail")
    parser.addini(
        "dbaudit_fail_on", "rule IDs that fail a test", type="args", default=DEFAULT_FAIL_ON
    )
    parser.addini("dbaudit_n_plus_one_threshold", "N+1 threshold", default="3")
    parser.addini("dbaudit_slow_query_ms", "slow query threshold in ms", default="100")
    parser.addini(
        "dbaudit_lazy_load_threshold",
        "ORM lazy loads of one relationship or column that make an N+1 (default 2)",
        default="",
    )
    parser.addini(
        "dbaudit_max_events",
        "statements kept per test for the detectors and the events file (default 10000; "
        "the rest are counted)",
        default="",
    )
    parser.addini("dbaudit_allow", "fnmatch patterns of accepted findings", type="linelist")
    parser.addini(
        "dbaudit_ignore_sql",
        "fnmatch patterns of statements counted but never judged (Alembic's own statements "
        "never are)",
        type="linelist",
    )
    parser.addini("dbaudit_baseline", "baseline file, like --dbaudit-baseline", default="")
    parser.addini(
        "dbaudit_max_queries",
        "the query budget of every test (a max_queries or num_queries marker sets its own)",
        default="",
    )
    parser.addini("dbaudit_explain", "the missing-index check, like --dbaudit-explain", type="bool")
    parser.addini(
        "dbaudit_judge_test_code",
        "findings located in test code fail tests too, like --dbaudit-judge-test-code",
        type="bool",
        default=False,
    )
    parser.addini(
        "dbaudit_explain_ignore_tables",
        "tables (fnmatch patterns) the missing-index check never reports",
        type="linelist",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "max_queries(n): fail the test when it runs more than n database queries"
    )
    config.addinivalue_line(
        "markers",
        "num_queries(n): fail the test unless it runs exactly n database queries",
    )
    config.addinivalue_line(
        "markers",
        "max_db_time(ms): fail the test when its queries take more than ms milliseconds in all",
    )
    config.addinivalue_line(
        "markers",
        "dbaudit(allow=(rules...), threshold=n, explain=True, explain_ignore_tables=(...)): "
        "rules that do not fail this test (still reported), its own N+1 threshold, whether the "
        "missing-index check runs and the tables it leaves out",
    )
    settings = _settings(config)
    if settings.enabled or settings.json_path or settings.max_queries is not None:
        config.pluginmanager.register(DbauditPlugin(settings, config), PLUGIN_NAME)
    if settings.explain:
        config.pluginmanager.register(ExplainTarget(), f"{PLUGIN_NAME}-explain-target")


@pytest.hookimpl(trylast=True)  # the tests that will run: after -k, -m and others deselect
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    if any(item.get_closest_marker(name) for item in items for name in BUDGET_MARKERS):
        config.pluginmanager.register(DbauditPlugin(_settings(config), config), PLUGIN_NAME)
        return
    if any(name in BUDGET_FIXTURES for item in items for name in _fixture_names(item)):
        # hooked before any fixture runs: instrument() with no engine hooks an engine at its
        # next connection checkout, so one a fixture checked out before the budget fixture
        # was set up would go unseen until it returned to the pool
        _instrument(config)


NO_STATEMENTS_HINT = (
    "dbaudit: no statement was recorded. Profiled automatically: SQLAlchemy engines and "
    "Django's connections; for other drivers (sqlite3, psycopg, psycopg2, PyMySQL, asyncpg), "
    "pass the application's connection to dbaudit.runtime.instrument(...) in a fixture "
    "(docs/runtime.md)"
)
_django_instrumented = False


def _instrument_django() -> bool:
    """Hook Django's connections (``capture/django.py``'s ``instrument_all``) once Django is
    imported and its settings are configured or named by ``DJANGO_SETTINGS_MODULE``; True once
    done. Never imports Django itself: a run that does not use it pays one dict lookup."""
    global _django_instrumented
    if _django_instrumented:
        return True
    conf = sys.modules.get("django.conf")
    if conf is None:
        return False
    settings = getattr(conf, "settings", None)
    if settings is None:  # django.conf still being imported
        return False
    if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
        return False
    try:
        from dbaudit.runtime.capture.django import instrument_all

        instrument_all()
    except Exception as error:  # settings that do not load: the tests will say so themselves
        warnings.warn(
            f"dbaudit: Django's connections are not profiled: {type(error).__name__}: {error}",
            stacklevel=1,
        )
    _django_instrumented = True  # tried once: a settings error is not repeated per test
    return True


_starlette_instrumented = False


def _instrument_starlette() -> bool:
    """Mark the requests of Starlette and FastAPI apps (``middleware.instrument_starlette``) once
    Starlette is imported; True once done. A test's loop of requests through a test client runs
    each in the client's server threads, behind the frames the call-site walk reads: marked,
    each request is judged apart, as Django's are."""
    global _starlette_instrumented
    if _starlette_instrumented:
        return True
    if "starlette.applications" not in sys.modules:
        return False
    from dbaudit.runtime.middleware import instrument_starlette

    _starlette_instrumented = instrument_starlette()
    return _starlette_instrumented


_alembic_instrumented = False
ALEMBIC_MIGRATION = "alembic.runtime.migration"


def _instrument_alembic() -> bool:
    """Alembic's migration runs (``MigrationContext.run_migrations``, which every ``command``
    ends in and which runs each revision's ``upgrade()``/``downgrade()``) counted, never judged,
    once Alembic is imported; True once done. A test that migrates (pytest-alembic's, a
    backup restore, an app whose startup upgrades the database) ran a revision's loop over
    rows as the test's N+1. Never imports Alembic itself."""
    global _alembic_instrumented
    if _alembic_instrumented:
        return True
    context = getattr(sys.modules.get(ALEMBIC_MIGRATION), "MigrationContext", None)
    if context is None:
        return False
    from dbaudit.runtime.budgets import NOT_JUDGED, not_judged
    from dbaudit.runtime.capture import put_back

    run = context.__dict__.get("run_migrations")
    if run is not None and not getattr(run, NOT_JUDGED, False):
        context.run_migrations = wrapped = not_judged(run)
        _undo.append(partial(put_back, context, "run_migrations", wrapped, run))
    _alembic_instrumented = True
    return True


# what _uninstrument undoes, besides Starlette's hook (middleware.uninstrument_starlette)
_undo: list[Callable[[], None]] = []


def _uninstrument() -> None:
    """Take off the hooks ``_instrument`` put on libraries' classes and signals (the end of the
    last run that used them). Engines and Django's connections keep theirs, which cost one
    ``ContextVar`` read outside a unit and mark or judge nothing there."""
    global _starlette_instrumented, _alembic_instrumented, _django_instrumented
    if _starlette_instrumented:
        from dbaudit.runtime.middleware import uninstrument_starlette

        uninstrument_starlette()
        _starlette_instrumented = False
    if _django_instrumented:
        from dbaudit.runtime.capture.django import uninstrument_all

        uninstrument_all()
        _django_instrumented = False
    while _undo:
        _undo.pop()()
    _alembic_instrumented = False


def pytest_unconfigure(config: pytest.Config) -> None:
    if id(config) in _hooked_by:
        _hooked_by.discard(id(config))
        if not _hooked_by:
            _uninstrument()


# the runs (pytest configs, by id) that hooked libraries through _instrument: the hooks put on a
# library's classes (Starlette's __call__, Alembic's run_migrations) are taken off when the last
# of them ends (pytest_unconfigure), so no code the process runs after it carries them
_hooked_by: set[int] = set()


def _instrument(config: pytest.Config) -> None:
    """Every SQLAlchemy engine, Django's connections when Django is in use, the requests of
    Starlette apps when Starlette is, and Alembic's migration runs when Alembic is."""
    from dbaudit.runtime import instrument

    _hooked_by.add(id(config))
    instrument()
    _instrument_django()
    _instrument_starlette()
    _instrument_alembic()


class _AfterImport:
    """A ``sys.meta_path`` entry that calls ``then()`` right after the module ``name`` is first
    imported (executed), wherever: a test's body that imports Alembic to migrate is in its unit
    already, after the plugin's check before the test. It finds nothing itself: for ``name``
    only it asks the other finders and wraps the loader's ``exec_module``; every other import
    costs one string comparison. Removed at the end of the run (``unwatch``)."""

    def __init__(self, name: str, then: Callable[[], object]) -> None:
        self.name = name
        self.then = then
        self.busy = False  # finding the spec through the other finders, which ask this one

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.busy:
            return None
        import importlib.util

        self.busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        except Exception:  # the import goes on as if this finder were not there
            return None
        finally:
            self.busy = False
        loader: Any = getattr(spec, "loader", None)
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return None
        then = self.then

        def exec_then(module: Any) -> None:
            exec_module(module)
            try:
                then()
            except Exception as failure:  # the import succeeded: it must not fail now
                from dbaudit.runtime.unit import _note_failure

                _note_failure(failure)

        try:
            loader.exec_module = exec_then  # this module's loader only
        except (AttributeError, TypeError):  # a loader that takes no attribute: left alone
            return None
        # once. The import system is iterating sys.meta_path: removing an entry would skip
        # the next finder, harmless only because it stops at the spec returned here
        self.unwatch()
        return spec

    def watch(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def unwatch(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def _fixture_names(item: pytest.Item) -> list[str]:
    names: list[str] = getattr(item, "fixturenames", [])
    return names


@pytest.fixture()
def assert_max_queries(
    pytestconfig: pytest.Config,
) -> Callable[[int], AbstractContextManager[Unit]]:
    """``with assert_max_queries(3): ...`` fails listing the queries when more than 3 run
    (in the test's thread or in a thread with no unit of its own: see the module docstring)."""
    from dbaudit.runtime.unit import assert_max_queries as budget

    _instrument(pytestconfig)  # SQLAlchemy and Django; others through instrument()
    return partial(budget, threads=True)


@pytest.fixture()
def dbaudit_unit(pytestconfig: pytest.Config) -> Generator[Unit, None, None]:
    """The test as a unit of its own, to read while it runs or after: ``dbaudit_unit.query_count``,
    ``.events`` (statements, call sites, durations), ``.db_time_ms``, ``.findings``. Opened
    when the fixture is set up, so it also sees the queries of fixtures set up after it, and
    those of threads with no unit of their own (see the module docstring)."""
    from dbaudit.runtime.unit import profile

    _instrument(pytestconfig)
    with profile("dbaudit_unit", threads=True) as unit:
        yield unit


@pytest.fixture()
def assert_num_queries(
    pytestconfig: pytest.Config,
) -> Callable[[int], AbstractContextManager[Unit]]:
    """``with assert_num_queries(2): ...`` fails listing the queries unless exactly 2 run."""
    from dbaudit.runtime.budgets import assert_num_queries as budget

    _instrument(pytestconfig)
    return partial(budget, threads=True)


@pytest.fixture()
def assert_max_db_time(
    pytestconfig: pytest.Config,
) -> Callable[[float], AbstractContextManager[Unit]]:
    """``with assert_max_db_time(50): ...`` fails naming the costliest statements when the
    block spends more than 50 ms in the database."""
    from dbaudit.runtime.budgets import assert_max_db_time as budget

    _instrument(pytestconfig)
    return partial(budget, threads=True)


def _settings(config: pytest.Config) -> Settings:
    from dbaudit.runtime.detect import DetectConfig

    baseline_path = config.getoption("dbaudit_baseline") or str(config.getini("dbaudit_baseline"))
    baseline_update = bool(config.getoption("dbaudit_baseline_update"))
    if baseline_update and not baseline_path:
        raise pytest.UsageError(
            "dbaudit: --dbaudit-baseline-update needs a file: --dbaudit-baseline FILE "
            "(or dbaudit_baseline in the ini file)"
        )
    explain_option = config.getoption("dbaudit_explain")  # None, or True/False from a flag
    explain = bool(config.getini("dbaudit_explain") if explain_option is None else explain_option)
    sarif_path = config.getoption("dbaudit_sarif")
    enabled = bool(
        config.getoption("dbaudit")
        or config.getini("dbaudit")
        or baseline_path
        or explain
        or sarif_path
    )
    max_queries = str(config.getini("dbaudit_max_queries")).strip()
    try:
        budget = _count(int(max_queries), "dbaudit_max_queries") if max_queries else None
    except ValueError:
        raise pytest.UsageError(
            f"dbaudit_max_queries needs a non-negative integer, got {max_queries!r}"
        ) from None
    mode = config.getoption("dbaudit_mode") or str(config.getini("dbaudit_mode"))
    if mode not in ("fail", "warn"):
        raise pytest.UsageError(f"dbaudit_mode must be 'fail' or 'warn', got {mode!r}")
    explicit = config.getoption("dbaudit_threshold")
    threshold = explicit or config.getini("dbaudit_n_plus_one_threshold")
    try:
        # an explicit threshold is the user's word for every kind of N+1, ORM lazy loads too
        lazy_ini = str(config.getini("dbaudit_lazy_load_threshold")).strip()
        lazy = {"lazy_load_threshold": int(explicit or lazy_ini)} if explicit or lazy_ini else {}
        max_events = str(config.getini("dbaudit_max_events")).strip()
        if max_events:
            lazy["max_events"] = int(max_events)
        detect = DetectConfig(
            n_plus_one_threshold=int(threshold),
            **lazy,
            slow_query_ms=float(config.getini("dbaudit_slow_query_ms")),
            allow=tuple(config.getini("dbaudit_allow")),
            ignore_sql=(*config.getini("dbaudit_ignore_sql"), *TOOL_SQL),
        )
    except ValueError as error:
        raise pytest.UsageError(f"dbaudit: {error}") from None
    json_path = config.getoption("dbaudit_json")
    judge_test_code = config.getoption("dbaudit_judge_test_code")
    return Settings(
        enabled=enabled,
        mode=mode,
        fail_on=tuple(config.getini("dbaudit_fail_on")),
        json_path=str(Path(json_path).resolve()) if json_path else None,
        detect=detect,
        baseline_path=str(Path(baseline_path).resolve()) if baseline_path else None,
        baseline_update=baseline_update,
        explain=explain,
        explain_ignore_tables=tuple(config.getini("dbaudit_explain_ignore_tables")),
        sarif_path=str(Path(sarif_path).resolve()) if sarif_path else None,
        max_queries=budget,
        judge_test_code=bool(judge_test_code or config.getini("dbaudit_judge_test_code")),
        test_file_patterns=tuple(config.getini("python_files")),
    )


def _count(value: int, what: str) -> int:
    from dbaudit.runtime.budgets import check_query_count

    return check_query_count(value, what)


class ExplainTarget:
    """Registered with ``--dbaudit-explain`` only: an autouse ``dbaudit_explain_target`` fixture
    (None: look among the test's fixtures) that a project overrides in its conftest.py to say
    which database to plan on."""

    @pytest.fixture(autouse=True, name=EXPLAIN_TARGET_FIXTURE)
    def dbaudit_explain_target(self) -> Any:
        return None


# eq=False: hashed by identity, as pytest 8 keeps every registered plugin object in a set
# (FixtureManager._holderobjseen) when it looks for fixtures in it; a dataclass's __eq__
# leaves it unhashable, and pytest 8.x ended the session with an INTERNALERROR
@dataclass(eq=False)
class DbauditPlugin:
    """Registered only when enabled: opens one unit per test call and judges it."""

    settings: Settings
    config: pytest.Config
    records: list[TestRecord] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)  # kept only for --dbaudit-json
    baseline: dict[str, RecordedTest] = field(default_factory=dict)
    stale: dict[str, tuple[Entry, ...]] = field(default_factory=dict)  # test -> entries unseen
    worker_parts: list[str] = field(default_factory=list)  # xdist controller: events files
    baseline_written: tuple[int, int] | None = None  # (findings, tests) after an update
    explain_notes: dict[str, str] = field(default_factory=dict)  # note -> first test with it
    explained: int = 0  # statements the missing-index check planned
    allow_used: set[str] = field(default_factory=set)  # dbaudit_allow patterns that matched
    marker_stale: list[tuple[str, str]] = field(default_factory=list)  # (test, pattern)
    test_modules: set[str] = field(default_factory=set)  # real paths of collected test modules
    test_code_reasons: dict[str, str] = field(default_factory=dict)  # finding path -> reason
    watchers: list[_AfterImport] = field(default_factory=list)  # until what they watch loads

    def __post_init__(self) -> None:
        # every SQLAlchemy engine, existing or future; Django's connections if it is set up
        # already (else before a test, see pytest_runtest_call)
        _instrument(self.config)
        if not _alembic_instrumented:  # imported later: as soon as it is, a test's body too
            self.watchers.append(_AfterImport(ALEMBIC_MIGRATION, _instrument_alembic))
        for watcher in self.watchers:
            watcher.watch()
        if self.settings.baseline_path:
            from dbaudit.runtime.baseline import BaselineFileError, load

            try:
                self.baseline = load(self.settings.baseline_path)
            except BaselineFileError as error:
                raise pytest.UsageError(f"dbaudit: {error}") from None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        for watcher in self.watchers:
            watcher.unwatch()

    @property
    def worker_id(self) -> str | None:
        """The xdist worker this process is ("gw0"), None in the controller or without xdist."""
        workerinput = getattr(self.config, "workerinput", None)
        return str(workerinput["workerid"]) if workerinput is not None else None

    @property
    def is_xdist_controller(self) -> bool:
        return self.worker_id is None and self.config.pluginmanager.has_plugin("dsession")

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        # test functions only: a doctest item's path is an application module
        if isinstance(item, pytest.Function):
            self.test_modules.add(os.path.realpath(item.path))

    def test_code_reason(self, path: str) -> str:
        """Why a finding's file is test code ("" when it is application code): a collected
        test module, a conftest.py, or a file pytest would collect as tests (``python_files``).
        A helper module the tests import is application code here: see docs/runtime.md."""
        reason = self.test_code_reasons.get(path)
        if reason is None:
            reason = self.test_code_reasons[path] = self._classify(path)
        return reason

    def _classify(self, path: str) -> str:
        real = os.path.realpath(path)  # relative paths are relative to the working directory
        if real in self.test_modules:
            return "a collected test module"
        name = os.path.basename(real)
        if name == "conftest.py":
            return "a conftest.py"
        if name.endswith(".py"):
            for pattern in self.settings.test_file_patterns:
                if _test_file_pattern_matches(pattern, real):
                    return f"named like a test module (python_files: {pattern})"
        return ""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        from dbaudit.runtime.budgets import counted
        from dbaudit.runtime.unit import profile

        if not _django_instrumented:  # Django set up since (a conftest, a test module)
            _instrument_django()
        if not _starlette_instrumented:  # imported since, by a conftest or a test module
            _instrument_starlette()
        if not _alembic_instrumented:
            _instrument_alembic()
        explain = self._explains(item)
        config = self._detect_config(item)
        # threads=True: see the module docstring
        scope = profile(item.nodeid, config=config, keep_params=explain, threads=True)
        unit = scope._enter(item.nodeid)
        try:
            result = yield
        finally:
            scope._exit(True)  # judged below, never by raising from inside the unit
            if explain:
                self._check_indexes(item, unit)
            queries = counted(unit)  # a test harness' own statements left out
            self._keep(unit, queries)
        self._judge(item, unit, queries)
        return result

    def _explains(self, item: pytest.Item) -> bool:
        if not self.settings.explain:
            return False
        marker = item.get_closest_marker("dbaudit")
        return marker is None or bool(marker.kwargs.get("explain", True))

    def _check_indexes(self, item: pytest.Item, unit: Unit) -> None:
        """The missing-index check of one test: its findings join the unit's (so the events
        file, the baseline and the verdict see them); anything that goes wrong is a note,
        never a failure of the test."""
        try:
            from dbaudit.runtime.plans import check_unit, find_targets

            funcargs: dict[str, Any] = getattr(item, "funcargs", {})
            chosen = funcargs.get(EXPLAIN_TARGET_FIXTURE)
            values = [chosen] if chosen is not None else list(funcargs.values())
            marker = item.get_closest_marker("dbaudit")
            own_tables = marker.kwargs.get("explain_ignore_tables", ()) if marker else ()
            if isinstance(own_tables, str):
                own_tables = (own_tables,)
            outcome = check_unit(
                unit,
                find_targets(values),
                (*self.settings.explain_ignore_tables, *own_tables),
                unit.config.ignore_sql,
            )
            self.explained += outcome.explained
            for note in outcome.notes:
                self.explain_notes.setdefault(note, item.nodeid)
            if outcome.findings:  # joined to the detectors' (so every reader sees them)
                unit.add_findings(outcome.findings)
        except Exception as error:  # the check must never break a test
            note = f"the missing-index check failed: {type(error).__name__}: {error}"
            self.explain_notes.setdefault(note, item.nodeid)
        finally:
            unit.keep_params = False  # values were kept for EXPLAIN only: never written out

    def _detect_config(self, item: pytest.Item) -> DetectConfig:
        marker = item.get_closest_marker("dbaudit")
        threshold = marker.kwargs.get("threshold") if marker is not None else None
        if threshold is None:
            return self.settings.detect
        try:
            return replace(
                self.settings.detect,
                n_plus_one_threshold=threshold,
                lazy_load_threshold=threshold,
            )
        except (ValueError, TypeError) as error:
            raise pytest.UsageError(f"dbaudit marker on {item.nodeid}: {error}") from None

    def _keep(self, unit: Unit, queries: int) -> None:
        findings = tuple(unit.findings) if self.settings.enabled else ()
        if self.settings.enabled and self.settings.detect.allow:
            for suppressed in unit.detection.suppressed:
                self.allow_used.update(
                    p for p in self.settings.detect.allow if repr(p) in suppressed.reason
                )
        sql = {f.evidence.fingerprint: "" for f in findings if f.evidence is not None}
        for event in unit.events:
            if event.fingerprint.digest in sql:
                sql[event.fingerprint.digest] = event.fingerprint.text
        test_code = tuple(self.test_code_reason(f.path) for f in findings)
        self.records.append(
            TestRecord(unit.name, queries, unit.db_time_ms, findings, sql, test_code)
        )
        if self.settings.json_path:
            self.units.append(unit)

    def _judge(self, item: pytest.Item, unit: Unit, queries: int) -> None:
        _enforce_budgets(item, unit, queries, self.settings.max_queries)
        if not self.settings.enabled:
            return
        marker = item.get_closest_marker("dbaudit")
        allowed = marker.kwargs.get("allow", ()) if marker is not None else ()
        if isinstance(allowed, str):  # allow="DBA101": one rule, not its characters
            allowed = (allowed,)
        rules = frozenset(a for a in allowed if RULE_ID.match(a))
        patterns = [a for a in allowed if not RULE_ID.match(a)]
        fail_on = [rule for rule in self.settings.fail_on if rule not in rules]
        findings = unit.findings
        if patterns:  # allowed by this test's own patterns: reported, never failing
            matched = {p: [f for f in findings if _matches(f, p)] for p in patterns}
            self.marker_stale += [(item.nodeid, p) for p, hits in matched.items() if not hits]
            findings = [f for f in findings if not any(f in hits for hits in matched.values())]
        # a test's own data setup (a loop of inserts in its body) is not the application's
        # problem: reported, never failing, unless the suite asks for the old strictness
        judged = findings
        if not self.settings.judge_test_code:
            judged = [f for f in findings if not self.test_code_reason(f.path)]
        if self.settings.baseline_update:
            return  # a recording run: it never fails on findings
        if self.settings.baseline_path:
            from dbaudit.runtime.baseline import compare

            recorded = self.baseline.get(item.nodeid)
            verdict = compare(recorded, queries, judged, fail_on)
            # a finding in test code still occurs: its entry is not stale
            everything = compare(recorded, queries, findings, fail_on)
            self.stale[item.nodeid] = everything.stale
            if not verdict.regressions:
                return
            text = "dbaudit: new or worse than the baseline:\n" + "\n".join(
                f"  {line}" for line in verdict.regressions
            )
        else:
            problems = [f for f in judged if f.rule in fail_on]
            if not problems:
                return
            text = "\n".join(_describe(f) for f in problems)
        if self.settings.mode == "fail":
            pytest.fail(text, pytrace=False)
        warnings.warn(DbauditWarning(text), stacklevel=1)

    # -- the end of the session --------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: one worker finished; take its records and its events part."""
        output = getattr(node, "workeroutput", None) or {}
        payload = output.get(WORKER_OUTPUT_KEY)
        if payload is None:
            return  # a worker that crashed sends nothing: its tests are reported by xdist
        from dbaudit.runtime.baseline import entry_from_dict

        data = json.loads(payload)
        self.records.extend(TestRecord.from_dict(r) for r in data["records"])
        for test, entries in data.get("stale", {}).items():
            self.stale[test] = tuple(entry_from_dict(e) for e in entries)
        if data.get("part"):
            self.worker_parts.append(data["part"])
        self.allow_used.update(data.get("allow_used", ()))
        self.explained += int(data.get("explained", 0))
        for note, nodeid in data.get("explain_notes", {}).items():
            self.explain_notes.setdefault(note, nodeid)
        self.marker_stale += [(test, pattern) for test, pattern in data.get("marker_stale", ())]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        worker = self.worker_id
        if worker is not None:
            self._send_to_controller(worker)
            return
        if self.settings.json_path:
            if self.is_xdist_controller:
                from dbaudit.runtime.export import merge_parts

                merge_parts(sorted(self.worker_parts), self.settings.json_path)
            else:
                self._write_events(self.settings.json_path)
        if self.settings.baseline_update and self.settings.baseline_path:
            self._update_baseline(self.settings.baseline_path)
        if self.settings.sarif_path:
            self._write_sarif(self.settings.sarif_path)

    def _write_events(self, path: str) -> None:
        """As ``export.write``, with ``"test_code"`` (why) on each finding located in test code
        that the run did not judge (which ``dbaudit check --runtime`` then takes as info; a run
        with ``--dbaudit-judge-test-code`` marks none, so the gate fails where the tests did)."""
        from dbaudit.runtime import export

        units = [export.unit_to_dict(unit) for unit in self.units]
        for unit in units if not self.settings.judge_test_code else ():
            for finding in unit["findings"]:
                reason = self.test_code_reason(finding["path"])
                if reason:
                    finding["test_code"] = reason
        # the file differs from export.write's by this key only
        Path(path).write_text(export.dumps_units(units) + "\n", encoding="utf-8")

    def _write_sarif(self, path: str) -> None:
        """Every finding of the run (a problem seen in several tests once, with the evidence of
        its worst test), as ``dbaudit report -f sarif`` writes an events file's; a result in
        test code carries ``properties.testCode`` (why)."""
        from dbaudit.report import sarif
        from dbaudit.runtime.export import UnitRecord, to_audit

        units = [
            UnitRecord(r.nodeid, r.queries, r.db_time_ms, (), r.findings, ()) for r in self.records
        ]
        # from the records, not test_code_reason: an xdist controller collects no tests
        reasons = {
            finding.path: record.test_code_reason(index)
            for record in self.records
            for index, finding in enumerate(record.findings)
        }
        audit = to_audit(units)
        document = sarif.to_dict(audit, source_root=str(self.config.rootpath))
        for finding, result in zip(audit.findings, document["runs"][0]["results"], strict=True):
            if reasons.get(finding.path):
                result["properties"]["testCode"] = reasons[finding.path]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"  # as sarif.render
        Path(path).write_text(text, encoding="utf-8")

    def _send_to_controller(self, worker: str) -> None:
        part = None
        if self.settings.json_path:
            part = f"{self.settings.json_path}.{worker}.part"
            self._write_events(part)
        from dbaudit.runtime.baseline import entry_to_dict

        payload = {
            "records": [record.to_dict() for record in self.records],
            "stale": {
                test: [entry_to_dict(e) for e in entries] for test, entries in self.stale.items()
            },
            "part": part,
            "allow_used": sorted(self.allow_used),
            "explained": self.explained,
            "explain_notes": self.explain_notes,
            "marker_stale": self.marker_stale,
        }
        self.config.workeroutput[WORKER_OUTPUT_KEY] = json.dumps(payload)  # type: ignore[attr-defined]

    def _update_baseline(self, path: str) -> None:
        from dbaudit.runtime.baseline import RecordedTest, entries_for, write

        tests = dict(self.baseline)  # tests that did not run keep their entries
        for record in self.records:
            entries = entries_for(record.findings, record.sql)
            tests[record.nodeid] = RecordedTest(record.queries, {e.key: e for e in entries})
        write(path, tests)
        self.baseline_written = sum(len(t.entries) for t in tests.values()), len(tests)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.settings.enabled or self.worker_id is not None:
            return
        write = terminalreporter.write_line
        terminalreporter.section("dbaudit")
        queries = sum(r.queries for r in self.records)
        db_ms = sum(r.db_time_ms for r in self.records)
        with_findings = [r for r in self.records if r.findings]
        in_test_code = sum(1 for r in with_findings for reason in r.test_code if reason)
        mark = "in test code" if self.settings.judge_test_code else "in test code, not failing"
        write(
            f"{queries} queries in {len(self.records)} tests ({db_ms:.1f} ms in the database); "
            f"{len(with_findings)} tests with findings"
            + (f" ({in_test_code} findings {mark})" if in_test_code else "")
        )
        if self.records and not any(r.queries for r in self.records):
            write(NO_STATEMENTS_HINT)
        worst = sorted(self.records, key=lambda r: -r.queries)[:SUMMARY_LINES]
        if worst and worst[0].queries:
            write("most queries:")
            for record in worst:
                if record.queries:
                    write(f"  {record.queries:6d}  {record.nodeid}")
        findings = [
            (r.nodeid, f, r.test_code_reason(i))
            for r in with_findings
            for i, f in enumerate(r.findings)
        ]
        # what fails comes first: a suite's setup loops must not push the application's out
        findings.sort(
            key=lambda row: (
                bool(row[2]) and not self.settings.judge_test_code,
                -(row[1].evidence.queries if row[1].evidence else 0),
            )
        )
        if findings:
            write("worst offenders:")
            for nodeid, finding, reason in findings[:SUMMARY_LINES]:
                where = f" ({mark})" if reason else ""
                write(f"  {finding.rule} {finding.path}:{finding.line} {finding.message}{where}")
                write(f"         in {nodeid}")
        self._summarise_baseline(write)
        self._summarise_explain(write)
        self._summarise_allow(write)
        if self.settings.json_path:
            write(f"events and findings written to {self.settings.json_path}")
        if self.settings.sarif_path:
            write(f"SARIF written to {self.settings.sarif_path}")

    def _summarise_allow(self, write: Callable[[str], None]) -> None:
        """Allow patterns that matched nothing in this run: stale, or mistyped."""
        unused = [p for p in self.settings.detect.allow if p not in self.allow_used]
        if not unused and not self.marker_stale:
            return
        write("allow patterns that matched no finding in this run:")
        for pattern in unused:
            write(f"  dbaudit_allow: {pattern}")
        for nodeid, pattern in sorted(self.marker_stale)[:SUMMARY_LINES]:
            write(f"  dbaudit(allow={pattern!r}) on {nodeid}")

    def _summarise_explain(self, write: Callable[[str], None]) -> None:
        if not self.settings.explain:
            return
        write(f"missing-index check: {self.explained} statements planned")
        for note, nodeid in list(self.explain_notes.items())[:SUMMARY_LINES]:
            write(f"  note: {note}")
            write(f"         first in {nodeid}")

    def _summarise_baseline(self, write: Callable[[str], None]) -> None:
        path = self.settings.baseline_path
        if path is None:
            return
        written = self.baseline_written
        if written is not None:
            write(f"baseline: wrote {written[0]} findings of {written[1]} tests to {path}")
            return
        stale = [(test, e) for test, entries in sorted(self.stale.items()) for e in entries]
        if stale:
            write(
                f"baseline: {len(stale)} entries no longer occur "
                "(--dbaudit-baseline-update prunes them):"
            )
            for test, entry in stale[:SUMMARY_LINES]:
                write(f"  {entry.rule} {entry.sql or entry.fingerprint}")
                write(f"         in {test}")


def _test_file_pattern_matches(pattern: str, path: str) -> bool:
    """A ``python_files`` pattern against a file, as pytest matches it: the file name for a
    pattern without a directory, else the path's end. pytest's own matcher
    (``_pytest.pathlib.fnmatch_ex``) is private, and no public API says whether a path is one
    pytest would collect (the ``pytest_collect_file`` hook builds nodes and runs every plugin's
    collectors); tests/runtime/test_pytest_plugin_python_files.py holds this one to pytest's."""
    from fnmatch import fnmatch

    if os.sep not in pattern and "/" not in pattern:
        return fnmatch(os.path.basename(path), pattern)
    pattern = pattern.replace("/", os.sep)
    if not os.path.isabs(pattern):
        pattern = f"*{os.sep}{pattern}"
    return fnmatch(path, pattern)


def _matches(finding: Finding, pattern: str) -> bool:
    """A marker's allow pattern against a finding: fnmatch on its message, problem text, path,
    ``path:line`` or function, as ``dbaudit_allow``."""
    from fnmatch import fnmatchcase

    subjects = (finding.message, finding.problem, finding.path, finding.function)
    return any(fnmatchcase(s, pattern) for s in (*subjects, f"{finding.path}:{finding.line}"))


def _describe(finding: Finding) -> str:
    text = f"dbaudit {finding.rule} at {finding.path}:{finding.line} ({finding.function}): "
    text += finding.message
    if finding.fix is not None:
        text += f"\n  fix: {finding.fix.code or finding.fix.summary}"
    return text


def _enforce_budgets(
    item: pytest.Item, unit: Unit, ran: int, default_budget: int | None = None
) -> None:
    """``ran``: the statements the budgets count (``budgets.counted``)."""
    marker = item.get_closest_marker("max_queries")
    exact = item.get_closest_marker("num_queries")
    # a test's own marker wins over the suite's budget (dbaudit_max_queries)
    budget = _budget(marker) if marker is not None else None if exact else default_budget
    if budget is not None and ran > budget:
        from dbaudit.runtime.budgets import statement_listing

        name = "max_queries" if marker is not None else "dbaudit_max_queries"
        listing = "\n".join(statement_listing(unit))
        pytest.fail(
            f"{name}({budget}): {ran} queries ran\n{listing}",
            pytrace=False,
        )
    marker = exact
    if marker is not None:
        from dbaudit.runtime.budgets import check_query_count, count_mismatch_message

        value = marker.args[0] if marker.args else marker.kwargs.get("n")
        try:
            expected = check_query_count(value)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        if ran != expected:
            label = f"num_queries({expected}): expected exactly {expected} queries"
            pytest.fail(count_mismatch_message(unit, expected, label), pytrace=False)
    marker = item.get_closest_marker("max_db_time")
    if marker is not None:
        from dbaudit.runtime.budgets import check_budget_ms, over_budget_message

        value = marker.args[0] if marker.args else marker.kwargs.get("ms")
        try:
            budget_ms = check_budget_ms(value)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        if unit.db_time_ms > budget_ms:
            label = f"max_db_time({budget_ms:g} ms)"
            pytest.fail(over_budget_message(unit, budget_ms, label), pytrace=False)


def _budget(marker: pytest.Mark) -> int:
    value = marker.args[0] if marker.args else marker.kwargs.get("n")
    if not isinstance(value, int) or value < 0:
        raise pytest.UsageError(f"max_queries needs a non-negative integer, got {value!r}")
    return value
