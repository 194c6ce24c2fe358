"""The pytest plugin, end to end: pytest runs in a subprocess (pytester) on a throwaway project."""

from __future__ import annotations

import json

import pytest

from dbaudit.runtime.export import load

pytest_plugins = ["pytester"]

APP = """
import sqlite3
import time

import pytest
from sqlalchemy import create_engine, text

import dbaudit.runtime


@pytest.fixture()
def engine():
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER)"))
        for i in range(20):
            conn.execute(text("INSERT INTO items VALUES (:i, :o)"), {"i": i, "o": i % 4})
    return engine


@pytest.fixture()
def db():
    connection = dbaudit.runtime.instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    return connection


@pytest.fixture()
def slow_db():
    # sqlite with a function that takes ``ms`` milliseconds: DB time a test can rely on
    raw = sqlite3.connect(":memory:")
    raw.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)
    return dbaudit.runtime.instrument(raw)


def owner_of(conn, item_id):
    return conn.execute(text("SELECT owner FROM items WHERE id = :i"), {"i": item_id}).scalar()
"""

TESTS = """
from sqlalchemy import text
from app import owner_of


def test_loop(engine):
    with engine.connect() as conn:
        owners = [owner_of(conn, i) for i in range(6)]
    assert owners == [i % 4 for i in range(6)]


def test_batched(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT owner FROM items WHERE id IN (0, 1, 2, 3, 4, 5)")).all()
    assert len(rows) == 6


def test_no_database():
    assert True
"""


# A loaded machine can make any statement "slow" (DBA302, counted in the summary): not here.
INI = (
    "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    "dbaudit_slow_query_ms = 60000\n"
)


@pytest.fixture()
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP, conftest="from app import engine, db, slow_db  # noqa: F401\n")
    pytester.makeini(INI)
    return pytester


def test_without_the_flag_nothing_is_judged(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*= dbaudit =*")
    assert not (project.path / "events.json").exists()


def test_flag_fails_the_n_plus_one_and_prints_a_summary(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA101 at test_app.py:7 (test_loop*): N+1: the same query ran 6 times*",
            "*fix: SELECT owner FROM items WHERE id IN (?)*",
            "*= dbaudit =*",
            "7 queries in 3 tests*; 1 tests with findings",
            "*worst offenders:*",
            "*DBA101 test_app.py:7 *",  # the loop, not the helper that queries
            "*in test_app.py::test_loop",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_loop*"])


def test_warn_mode_and_threshold(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    warned = project.runpytest_subprocess("--dbaudit", "--dbaudit-mode=warn")
    warned.assert_outcomes(passed=3, warnings=1)
    warned.stdout.fnmatch_lines(["*DbauditWarning: dbaudit DBA101*"])
    lenient = project.runpytest_subprocess("--dbaudit", "--dbaudit-threshold=7")
    lenient.assert_outcomes(passed=3)


def test_budgets_marker_and_fixture_work_without_the_flag(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_budget="""
import pytest
from app import owner_of


@pytest.mark.max_queries(2)
def test_over_marker_budget(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


@pytest.mark.max_queries(3)
def test_within_marker_budget(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


def test_fixture_budget(engine, assert_max_queries):
    with engine.connect() as conn:
        with assert_max_queries(1):
            owner_of(conn, 1)
        with assert_max_queries(1):
            owner_of(conn, 1)
            owner_of(conn, 2)


async def test_async_test_is_a_unit_too(db):
    for i in range(4):
        db.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone()
"""
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*max_queries(2): 3 queries ran*",
            "*QueryBudgetExceeded: expected at most 1 queries, 2 ran*",
        ]
    )
    flagged = project.runpytest_subprocess("--dbaudit", "-k", "async")
    flagged.assert_outcomes(failed=1)  # the async test's loop is seen through pytest-asyncio
    flagged.stdout.fnmatch_lines(["*N+1: the same query ran 4 times*"])


def test_json_file_holds_every_test_with_events_and_findings(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-json", "events.json")
    result.assert_outcomes(passed=2, failed=1)
    path = project.path / "events.json"
    document = json.loads(path.read_text())
    assert document["format"] == "dbaudit.runtime.events" and document["version"] == 1
    units = {unit.name: unit for unit in load(path)}
    assert set(units) == {f"test_app.py::test_{n}" for n in ("loop", "batched", "no_database")}
    loop = units["test_app.py::test_loop"]
    assert loop.queries == 6
    assert [f.rule for f in loop.findings] == ["DBA101"]
    assert loop.events[0]["sql"] == "SELECT owner FROM items WHERE id = ?"
    assert "params" not in loop.events[0]  # values are never written unless asked
    assert units["test_app.py::test_no_database"].queries == 0


def test_bad_configuration_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-threshold=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*n_plus_one_threshold must be at least 2*"])


# -- DB-time budgets ----------------------------------------------------------------------------


def test_db_time_budget_marker_and_fixture_name_the_worst_statements(
    project: pytest.Pytester,
) -> None:
    """Budgets far from the measured times (1 ms against 60 ms asleep, 60 s against
    microseconds), so no outcome depends on the machine's speed."""
    project.makepyfile(
        test_time="""
import pytest


@pytest.mark.max_db_time(1)
def test_over_time_budget(slow_db):
    for _ in range(3):
        slow_db.execute("SELECT sleep_ms(20)").fetchone()
    slow_db.execute("SELECT 1").fetchone()


@pytest.mark.max_db_time(60_000)
def test_within_time_budget(slow_db):
    slow_db.execute("SELECT 1").fetchone()


def test_fixture_time_budget(slow_db, assert_max_db_time):
    with assert_max_db_time(60_000):
        slow_db.execute("SELECT 1").fetchone()
    with assert_max_db_time(1):
        slow_db.execute("SELECT sleep_ms(30)").fetchone()


@pytest.mark.max_db_time("soon")
def test_bad_budget(slow_db):
    pass
"""
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*max_db_time(1 ms), * ms in 4 queries; worst:",
            "* ms    3x  SELECT SLEEP_MS(?)  (test_time.py:7 in test_over_time_budget)",
            "* ms    1x  SELECT ?  (test_time.py:8 in test_over_time_budget)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*DbTimeBudgetExceeded: expected at most 1 ms in the database, * ms in 1 queries*",
            "*1x  SELECT SLEEP_MS(?)  (test_time.py:20 in test_fixture_time_budget)",
        ]
    )
    result.stdout.fnmatch_lines(["*max_db_time needs a positive number of milliseconds*"])


# -- per-test marker, ignore patterns, per-item writes ------------------------------------------


def test_dbaudit_marker_allows_rules_and_sets_the_threshold(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_marker="""
import pytest
from app import owner_of


@pytest.mark.dbaudit(allow="DBA101")
def test_deliberate_loop(engine):
    with engine.connect() as conn:
        for i in range(5):
            owner_of(conn, i)


@pytest.mark.dbaudit(threshold=6)
def test_lenient_loop(engine):
    with engine.connect() as conn:
        for i in range(5):
            owner_of(conn, i)


def test_strict_loop(engine):
    with engine.connect() as conn:
        for i in range(5):
            owner_of(conn, i)
"""
    )
    result = project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_marker.py::test_strict_loop*"])
    # the allowed loop is still in the summary: allowed to pass, not hidden
    result.stdout.fnmatch_lines(["*worst offenders:*", "*in test_marker.py::test_deliberate_loop"])


def test_ignore_sql_and_row_by_row_writes(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_writes="""
def test_writes_one_by_one(db):
    for i in range(100, 110):
        db.execute("INSERT INTO t (id) VALUES (?)", (i,))


def test_audit_lookups(db):
    for i in range(5):
        db.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone()
"""
    )
    project.makeini(INI + "dbaudit_ignore_sql =\n    select id from t where *\n")
    result = project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA103 at test_writes.py:3 *Row-by-row writes: the same INSERT ran 10 times*",
            "*fix: INSERT INTO t (id) VALUES (?), (?), ... -- one statement for all rows",
        ]
    )


# -- baseline -----------------------------------------------------------------------------------


def test_baseline_records_then_fails_only_on_new_or_worse(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    recorded = project.runpytest_subprocess(
        "--dbaudit-baseline", "base.json", "--dbaudit-baseline-update", "-p", "no:cacheprovider"
    )
    recorded.assert_outcomes(passed=3)  # a recording run never fails on findings
    recorded.stdout.fnmatch_lines(["baseline: wrote 1 findings of 3 tests to *base.json"])
    document = json.loads((project.path / "base.json").read_text())
    assert document["format"] == "dbaudit.runtime.baseline" and document["version"] == 1
    loop = document["tests"]["test_app.py::test_loop"]
    [entry] = loop["findings"]
    assert (loop["queries"], entry["rule"], entry["queries"], entry["count"]) == (6, "DBA101", 6, 1)
    assert entry["sql"] == "SELECT owner FROM items WHERE id = ?"
    assert '"line"' not in json.dumps(document)  # keys never hold line numbers
    assert document["tests"]["test_app.py::test_no_database"] == {"findings": [], "queries": 0}

    same = project.runpytest_subprocess("--dbaudit-baseline", "base.json", "-p", "no:cacheprovider")
    same.assert_outcomes(passed=3)  # the known N+1 is tolerated

    # lines move (no line numbers in keys), the loop grows (worse), a new loop appears (new)
    worse = "# three lines\n# above the\n# tests" + TESTS.replace("range(6)", "range(8)").replace(
        "[i % 4 for i in range(6)]", "[i % 4 for i in range(8)]"
    )
    worse = worse.replace(
        "def test_no_database():\n    assert True",
        "def test_no_database(engine):\n    with engine.connect() as conn:\n"
        "        [owner_of(conn, i) for i in range(3)]",
    )
    project.makepyfile(test_app=worse)
    result = project.runpytest_subprocess(
        "--dbaudit-baseline", "base.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit: new or worse than the baseline:",
            "*DBA101 at test_app.py:10 (worse: 8 queries, baseline 6): N+1*",
            "*8 queries, baseline 6",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*DBA101 at test_app.py:* (new): N+1: the same query ran 3 times*"]
    )


def test_baseline_lists_entries_that_no_longer_occur(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    project.runpytest_subprocess(
        "--dbaudit-baseline", "base.json", "--dbaudit-baseline-update", "-p", "no:cacheprovider"
    ).assert_outcomes(passed=3)
    fixed = TESTS.replace(
        "owners = [owner_of(conn, i) for i in range(6)]",
        "owners = [r[0] for r in conn.execute(text("
        "'SELECT owner FROM items WHERE id IN (0, 1, 2, 3, 4, 5) ORDER BY id')).all()]",
    )
    project.makepyfile(test_app=fixed)
    result = project.runpytest_subprocess(
        "--dbaudit-baseline", "base.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "baseline: 1 entries no longer occur (--dbaudit-baseline-update prunes them):",
            "  DBA101 SELECT owner FROM items WHERE id = ?",
            "         in test_app.py::test_loop",
        ]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "not JSON"),
        ('{"format": "dbaudit.runtime.events"}', "not a dbaudit runtime baseline"),
    ],
)
def test_bad_baseline_file_is_a_usage_error(
    project: pytest.Pytester, content: str, message: str
) -> None:
    project.makepyfile(test_app=TESTS)
    (project.path / "base.json").write_text(content)
    result = project.runpytest_subprocess("--dbaudit-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*dbaudit: *base.json: {message}*"])
    update_alone = project.runpytest_subprocess("--dbaudit-baseline-update")
    assert update_alone.ret == pytest.ExitCode.USAGE_ERROR
    update_alone.stderr.fnmatch_lines(["*--dbaudit-baseline-update needs a file*"])


# -- exact counts -------------------------------------------------------------------------------


def test_num_queries_marker_and_fixture_fail_on_more_and_on_fewer(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_exact="""
import pytest
from app import owner_of


@pytest.mark.num_queries(3)
def test_exact(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


@pytest.mark.num_queries(2)
def test_more(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


@pytest.mark.num_queries(n=4)
def test_fewer(db):
    db.execute("SELECT id FROM t WHERE id = ?", (1,)).fetchone()


def test_fixture(db, assert_num_queries):
    with assert_num_queries(1):
        db.execute("SELECT id FROM t WHERE id = ?", (1,)).fetchone()
    with assert_num_queries(2):
        db.execute("SELECT id FROM t WHERE id = ?", (1,)).fetchone()


@pytest.mark.num_queries("two")
def test_bad_marker(db):
    pass
"""
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(
        [
            "*num_queries(2): expected exactly 2 queries, 3 ran:",
            "  SELECT owner FROM items WHERE id = ?  (app.py:* in owner_of)",
            "  SELECT owner FROM items WHERE id = ?  (app.py:* in owner_of)",
            "  SELECT owner FROM items WHERE id = ?  (app.py:* in owner_of)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*num_queries(4): expected exactly 4 queries, 1 ran:",
            "  SELECT id FROM t WHERE id = ?  (test_exact.py:21 in test_fewer)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*QueryCountMismatch: expected exactly 2 queries, 1 ran:",
            "*SELECT id FROM t WHERE id = ?  (test_exact.py:28 in test_fixture)",
        ]
    )
    result.stdout.fnmatch_lines(["*num_queries needs a non-negative integer, got 'two'*"])


def test_suite_wide_budget_and_the_markers_that_override_it(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_suite_budget="""
import pytest
from app import owner_of


def _three(engine):
    with engine.connect() as conn:
        for i in range(3):
            owner_of(conn, i)


def test_over_the_suite_budget(engine):
    _three(engine)


def test_within_the_suite_budget(engine):
    with engine.connect() as conn:
        owner_of(conn, 1)


@pytest.mark.max_queries(3)
def test_own_budget(engine):
    _three(engine)


@pytest.mark.num_queries(3)
def test_own_exact_count(engine):
    _three(engine)
"""
    )
    project.makeini(INI + "dbaudit_max_queries = 2\n")
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit_max_queries(2): 3 queries ran",
            "  SELECT owner FROM items WHERE id = ?  (app.py:* in owner_of)",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_suite_budget.py::test_over_the_suite_budget*"])
    project.makeini(INI + "dbaudit_max_queries = many\n")
    bad = project.runpytest_subprocess("-p", "no:cacheprovider")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*dbaudit_max_queries needs a non-negative integer, got 'many'*"])


def test_sarif_file_from_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest_subprocess("--dbaudit-sarif", "out/dbaudit.sarif")
    result.assert_outcomes(passed=2, failed=1)  # implies --dbaudit: the N+1 fails
    result.stdout.fnmatch_lines(["SARIF written to *dbaudit.sarif"])
    document = json.loads((project.path / "out" / "dbaudit.sarif").read_text())
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    (sarif_result,) = run["results"]
    assert sarif_result["ruleId"] == "DBA101"
    location = sarif_result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("test_app.py")
    assert location["region"]["startLine"] == 7


def test_dbaudit_unit_fixture_reads_the_tests_queries(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_unit="""
from app import owner_of


def test_reads(engine, dbaudit_unit):
    with engine.connect() as conn:
        owner_of(conn, 1)
        owner_of(conn, 2)
    assert dbaudit_unit.query_count == 2
    assert [e.call_site.function for e in dbaudit_unit.events] == ["owner_of", "owner_of"]
    assert dbaudit_unit.findings == []
"""
    )
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    project.runpytest_subprocess("--dbaudit").assert_outcomes(passed=1)


def test_lazy_load_threshold_and_max_events_from_the_ini_file(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    project.makeini(INI + "dbaudit_max_events = 2\n")
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-json", "events.json")
    result.assert_outcomes(passed=3)  # 6 queries counted, only 2 kept: too few for an N+1
    units = {unit.name: unit for unit in load(project.path / "events.json")}
    loop = units["test_app.py::test_loop"]
    assert (loop.queries, len(loop.events)) == (6, 2)
    for setting, message in (
        ("dbaudit_lazy_load_threshold = 1", "*lazy_load_threshold must be at least 2, got 1*"),
        ("dbaudit_max_events = 0", "*max_events must be at least 1, got 0*"),
    ):
        project.makeini(INI + setting + "\n")
        bad = project.runpytest_subprocess("--dbaudit")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines([message])


def test_marker_allow_patterns_and_stale_patterns_in_the_summary(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_patterns="""
import pytest
from app import owner_of


def _loop(engine):
    with engine.connect() as conn:
        for i in range(5):
            owner_of(conn, i)


@pytest.mark.dbaudit(allow="*FROM items WHERE id*")
def test_pattern_allows(engine):
    _loop(engine)


@pytest.mark.dbaudit(allow=("*FROM nowhere*",))
def test_pattern_matches_nothing(engine):
    _loop(engine)


def test_ini_pattern(db):
    for i in range(4):
        db.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone()
"""
    )
    project.makeini(INI + "dbaudit_allow =\n    *FROM t WHERE*\n    *FROM stale_table*\n")
    result = project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_patterns.py::test_pattern_matches_nothing*"])
    result.stdout.fnmatch_lines(
        [
            "allow patterns that matched no finding in this run:",
            "  dbaudit_allow: *FROM stale_table*",
            "  dbaudit(allow='*FROM nowhere*') on test_patterns.py::test_pattern_matches_nothing",
        ]
    )
    result.stdout.no_fnmatch_line("*dbaudit_allow: *FROM t WHERE*")
    # the allowed N+1 is still reported in the summary
    result.stdout.fnmatch_lines(["*in test_patterns.py::test_pattern_allows"])


def test_budget_fixtures_see_a_connection_checked_out_before_them(
    project: pytest.Pytester,
) -> None:
    """instrument() hooks an engine at its next checkout: the plugin calls it at collection, so
    a connection a fixture holds from before the budget fixture's setup is seen."""
    project.makepyfile(
        test_held="""
import pytest
from sqlalchemy import create_engine


@pytest.fixture()
def held(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/held.db")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_held(held, assert_num_queries):
    with assert_num_queries(2):
        held.exec_driver_sql("SELECT 1").all()
        held.exec_driver_sql("SELECT 2").all()
"""
    )
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
