"""pytest plugin: each test is a unit of work; N+1s fail (or warn), budgets are enforced.

Loaded through the ``pytest11`` entry point, this module only adds options, markers and the
``assert_max_queries`` fixture. The plugin object that profiles tests (:class:`DbauditPlugin`) is
registered only when asked for, with ``--dbaudit`` (or ``dbaudit = true`` in the ini file), or in
budget-only mode when a collected test carries ``@pytest.mark.max_queries``, so a test run that
does not use dbaudit pays nothing.

Every SQLAlchemy engine is profiled automatically; for sqlite3, psycopg and asyncpg connections
created by the application, pass them through ``dbaudit.runtime.instrument`` in a fixture.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported lazily: a run without dbaudit must not pay for sqlglot & co.
    from dbaudit.runtime.detect import DetectConfig
    from dbaudit.runtime.unit import Unit

PLUGIN_NAME = "dbaudit-runtime"
SUMMARY_LINES = 10


class DbauditWarning(UserWarning):
    """A query problem found in a test run with ``--dbaudit-mode=warn``."""


@dataclass(frozen=True, slots=True)
class Settings:
    enabled: bool  # full mode: detectors judge every test, summary printed
    mode: str  # "fail" | "warn"
    fail_on: tuple[str, ...]
    json_path: str | None
    detect: DetectConfig


@dataclass(frozen=True, slots=True)
class TestRecord:
    nodeid: str
    queries: int
    db_time_ms: float
    findings: tuple[Any, ...]


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
        "--dbaudit-threshold",
        type=int,
        default=None,
        metavar="N",
        help="queries from one call site that make an N+1 (default 3)",
    )
    parser.addini("dbaudit", "profile every test, like --dbaudit", type="bool", default=False)
    parser.addini("dbaudit_mode", "fail or warn", default="fail")
    parser.addini("dbaudit_fail_on", "rule IDs that fail a test", type="args", default=["DBA101"])
    parser.addini("dbaudit_n_plus_one_threshold", "N+1 threshold", default="3")
    parser.addini("dbaudit_slow_query_ms", "slow query threshold in ms", default="100")
    parser.addini("dbaudit_allow", "fnmatch patterns of accepted findings", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "max_queries(n): fail the test when it runs more than n database queries"
    )
    wanted = config.getoption("dbaudit") or config.getini("dbaudit")
    if wanted or config.getoption("dbaudit_json"):
        config.pluginmanager.register(DbauditPlugin(_settings(config)), PLUGIN_NAME)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    if any(item.get_closest_marker("max_queries") for item in items):
        config.pluginmanager.register(DbauditPlugin(_settings(config)), PLUGIN_NAME)


@pytest.fixture()
def assert_max_queries() -> Callable[[int], AbstractContextManager[Unit]]:
    """``with assert_max_queries(3): ...`` fails listing the queries when more than 3 run."""
    from dbaudit.runtime import instrument
    from dbaudit.runtime.unit import assert_max_queries as budget

    instrument()  # every SQLAlchemy engine; other connections through instrument()
    return budget


def _settings(config: pytest.Config) -> Settings:
    from dbaudit.runtime.detect import DetectConfig

    enabled = bool(config.getoption("dbaudit") or config.getini("dbaudit"))
    mode = config.getoption("dbaudit_mode") or str(config.getini("dbaudit_mode"))
    if mode not in ("fail", "warn"):
        raise pytest.UsageError(f"dbaudit_mode must be 'fail' or 'warn', got {mode!r}")
    threshold = config.getoption("dbaudit_threshold") or config.getini(
        "dbaudit_n_plus_one_threshold"
    )
    try:
        detect = DetectConfig(
            n_plus_one_threshold=int(threshold),
            slow_query_ms=float(config.getini("dbaudit_slow_query_ms")),
            allow=tuple(config.getini("dbaudit_allow")),
        )
    except ValueError as error:
        raise pytest.UsageError(f"dbaudit: {error}") from None
    return Settings(
        enabled=enabled,
        mode=mode,
        fail_on=tuple(config.getini("dbaudit_fail_on")),
        json_path=config.getoption("dbaudit_json"),
        detect=detect,
    )


@dataclass
class DbauditPlugin:
    """Registered only when enabled: opens one unit per test call and judges it."""

    settings: Settings
    records: list[TestRecord] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)  # kept only for --dbaudit-json

    def __post_init__(self) -> None:
        from dbaudit.runtime import instrument

        instrument()  # every SQLAlchemy engine, existing or future

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        from dbaudit.runtime.unit import profile

        scope = profile(item.nodeid, config=self.settings.detect)
        unit = scope._enter(item.nodeid)
        try:
            result = yield
        finally:
            scope._exit(True)  # judged below, never by raising from inside the unit
            self._keep(unit)
        self._judge(item, unit)
        return result

    def _keep(self, unit: Unit) -> None:
        findings = tuple(unit.findings) if self.settings.enabled else ()
        self.records.append(TestRecord(unit.name, unit.query_count, unit.db_time_ms, findings))
        if self.settings.json_path:
            self.units.append(unit)

    def _judge(self, item: pytest.Item, unit: Unit) -> None:
        marker = item.get_closest_marker("max_queries")
        if marker is not None:
            budget = _budget(marker)
            if unit.query_count > budget:
                listing = "\n".join(f"  {e.fingerprint.text}" for e in unit.events[:20])
                pytest.fail(
                    f"max_queries({budget}): {unit.query_count} queries ran\n{listing}",
                    pytrace=False,
                )
        if not self.settings.enabled:
            return
        problems = [f for f in unit.findings if f.rule in self.settings.fail_on]
        if not problems:
            return
        text = "\n".join(
            f"dbaudit {f.rule} at {f.path}:{f.line} ({f.function}): {f.message}"
            + (f"\n  fix: {f.fix.code or f.fix.summary}" if f.fix else "")
            for f in problems
        )
        if self.settings.mode == "fail":
            pytest.fail(text, pytrace=False)
        warnings.warn(DbauditWarning(text), stacklevel=1)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.settings.enabled:
            return
        write = terminalreporter.write_line
        terminalreporter.section("dbaudit")
        queries = sum(r.queries for r in self.records)
        db_ms = sum(r.db_time_ms for r in self.records)
        with_findings = [r for r in self.records if r.findings]
        write(
            f"{queries} queries in {len(self.records)} tests ({db_ms:.1f} ms in the database); "
            f"{len(with_findings)} tests with findings"
        )
        worst = sorted(self.records, key=lambda r: -r.queries)[:SUMMARY_LINES]
        if worst and worst[0].queries:
            write("most queries:")
            for record in worst:
                if record.queries:
                    write(f"  {record.queries:6d}  {record.nodeid}")
        findings = [(r.nodeid, f) for r in with_findings for f in r.findings]
        findings.sort(key=lambda pair: -(pair[1].evidence.queries if pair[1].evidence else 0))
        if findings:
            write("worst offenders:")
            for nodeid, finding in findings[:SUMMARY_LINES]:
                write(f"  {finding.rule} {finding.path}:{finding.line} {finding.message}")
                write(f"         in {nodeid}")
        if self.settings.json_path:
            write(f"events and findings written to {self.settings.json_path}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.settings.json_path:
            from dbaudit.runtime.export import write

            write(self.settings.json_path, self.units)


def _budget(marker: pytest.Mark) -> int:
    value = marker.args[0] if marker.args else marker.kwargs.get("n")
    if not isinstance(value, int) or value < 0:
        raise pytest.UsageError(f"max_queries needs a non-negative integer, got {value!r}")
    return value
