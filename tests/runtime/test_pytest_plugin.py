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


def owners_of(conn, ids):
    return [owner_of(conn, i) for i in ids]


def rows_of(db, ids):
    return [db.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone() for i in ids]


def add_rows(db, ids):
    for i in ids:
        db.execute("INSERT INTO t (id) VALUES (?)", (i,))
"""

# The application's loops (where an N+1's fix goes): a finding there fails the test. A loop
# written in a test module is the test's own data setup: see test_findings_in_test_code_*.
TESTS = """
from sqlalchemy import text
from app import owners_of


def test_loop(engine):
    with engine.connect() as conn:
        owners = owners_of(conn, range(6))
    assert owners == [i % 4 for i in range(6)]


def test_batched(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT owner FROM items WHERE id IN (0, 1, 2, 3, 4, 5)")).all()
    assert len(rows) == 6


def test_no_database():
    assert True
"""


def line_of(text: str, snippet: str) -> int:
    """The line of ``text`` (a file's contents) where ``snippet`` is."""
    text = text.strip()  # as makepyfile writes it
    return text[: text.index(snippet)].count("\n") + 1


LOOP_LINE = line_of(APP, "return [owner_of(")  # owners_of's loop: the N+1
WRITE_LINE = line_of(APP, 'db.execute("INSERT')  # add_rows' statement: row-by-row writes


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
            f"*dbaudit DBA101 at app.py:{LOOP_LINE} (owners_of*): N+1: the same query ran 6 times*",
            "*fix: SELECT owner FROM items WHERE id IN (?)*",
            "*= dbaudit =*",
            "7 queries in 3 tests*; 1 tests with findings",
            "*worst offenders:*",
            f"  DBA101 app.py:{LOOP_LINE} N+1: *",  # the loop, not the helper that queries
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
from app import owner_of, rows_of


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
    rows_of(db, range(4))
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
from app import owners_of


@pytest.mark.dbaudit(allow="DBA101")
def test_deliberate_loop(engine):
    with engine.connect() as conn:
        owners_of(conn, range(5))


@pytest.mark.dbaudit(threshold=6)
def test_lenient_loop(engine):
    with engine.connect() as conn:
        owners_of(conn, range(5))


def test_strict_loop(engine):
    with engine.connect() as conn:
        owners_of(conn, range(5))
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
from app import add_rows, rows_of


def test_writes_one_by_one(db):
    add_rows(db, range(100, 110))


def test_audit_lookups(db):
    rows_of(db, range(5))
"""
    )
    project.makeini(INI + "dbaudit_ignore_sql =\n    select id from t where *\n")
    result = project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA103 at app.py:{WRITE_LINE} *Row-by-row writes: the same INSERT ran 10 "
            "times*",
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
    project.makepyfile(app="# three lines\n# above the\n# loop\n" + APP.strip())
    worse = TESTS.replace("range(6)", "range(8)").replace(
        "def test_no_database():\n    assert True",
        "def test_no_database(engine):\n    with engine.connect() as conn:\n"
        "        owners_of(conn, range(3))",
    )
    project.makepyfile(test_app=worse)
    result = project.runpytest_subprocess(
        "--dbaudit-baseline", "base.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*dbaudit: new or worse than the baseline:",
            f"*DBA101 at app.py:{LOOP_LINE + 3} (worse: 8 queries, baseline 6): N+1*",
            "*8 queries, baseline 6",
        ]
    )
    result.stdout.fnmatch_lines(
        [f"*DBA101 at app.py:{LOOP_LINE + 3} (new): N+1: the same query ran 3 times*"]
    )


def test_baseline_lists_entries_that_no_longer_occur(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    project.runpytest_subprocess(
        "--dbaudit-baseline", "base.json", "--dbaudit-baseline-update", "-p", "no:cacheprovider"
    ).assert_outcomes(passed=3)
    fixed = TESTS.replace(
        "owners = owners_of(conn, range(6))",
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
    assert location["artifactLocation"]["uri"] == "app.py"
    assert location["region"]["startLine"] == LOOP_LINE
    assert "testCode" not in sarif_result["properties"]


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
from app import owners_of, rows_of


def _loop(engine):
    with engine.connect() as conn:
        owners_of(conn, range(5))


@pytest.mark.dbaudit(allow="*FROM items WHERE id*")
def test_pattern_allows(engine):
    _loop(engine)


@pytest.mark.dbaudit(allow=("*FROM nowhere*",))
def test_pattern_matches_nothing(engine):
    _loop(engine)


def test_ini_pattern(db):
    rows_of(db, range(4))
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


# -- findings located in test code ---------------------------------------------------------------

# A suite's own data setup, written where real suites write it: a loop in a test's body (as
# fastapi-realworld-example-app's `for i in range(5): await articles_repo.create_article(...)`),
# a factory fixture of conftest.py, a helper in a file named like a test module that this run
# does not collect. And a helper module the tests import: judged as the application's code.
SETUP_CONFTEST = """
import pytest

from app import db, engine, slow_db  # noqa: F401


@pytest.fixture()
def add_rows_one_by_one(db):
    def add(ids):
        for i in ids:
            db.execute("INSERT INTO t (id) VALUES (?)", (i,))

    return add
"""

SETUP_HELPERS = """
def lookup_each(db, ids):
    return [db.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone() for i in ids]
"""

SETUP_FACTORIES = """
def insert_each(db, ids):
    for i in ids:
        db.execute("INSERT INTO t (id) VALUES (?)", (i,))
"""

SETUP_TESTS = """
import pytest
from app import owner_of
from factories import insert_each
from test_helpers import lookup_each


def test_loop_in_the_test(engine):
    with engine.connect() as conn:
        owners = [owner_of(conn, i) for i in range(6)]
    assert owners == [i % 4 for i in range(6)]


def test_conftest_factory(add_rows_one_by_one):
    add_rows_one_by_one(range(100, 110))


def test_helper_named_like_a_test_module(db):
    lookup_each(db, range(5))


def test_helper_module(db):
    insert_each(db, range(200, 210))


@pytest.mark.max_queries(5)
def test_budget_counts_the_setup_too(engine):
    with engine.connect() as conn:
        [owner_of(conn, i) for i in range(6)]
"""

TEST_LOOP_LINE = line_of(SETUP_TESTS, "owners = [owner_of(")
CONFTEST_WRITE_LINE = line_of(SETUP_CONFTEST, 'db.execute("INSERT')
HELPER_LOOP_LINE = line_of(SETUP_HELPERS, "return [db.execute(")
FACTORY_WRITE_LINE = line_of(SETUP_FACTORIES, 'db.execute("INSERT')


@pytest.fixture()
def setup_project(project: pytest.Pytester) -> pytest.Pytester:
    project.makeconftest(SETUP_CONFTEST)
    project.makepyfile(
        test_setup=SETUP_TESTS, test_helpers=SETUP_HELPERS, factories=SETUP_FACTORIES
    )
    return project


def test_findings_in_test_code_are_reported_not_failing(setup_project: pytest.Pytester) -> None:
    result = setup_project.runpytest_subprocess(
        "--dbaudit",
        "--dbaudit-json",
        "events.json",
        "--dbaudit-sarif",
        "out.sarif",
        "-p",
        "no:cacheprovider",
        "test_setup.py",  # test_helpers.py is not collected: its name says it is test code
    )
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            f"dbaudit DBA103 at factories.py:{FACTORY_WRITE_LINE} (insert_each): Row-by-row *",
            "max_queries(5): 6 queries ran",
            "FAILED test_setup.py::test_helper_module - *",
            "FAILED test_setup.py::test_budget_counts_the_setup_too - *",
        ]
    )
    mark = "(in test code, not failing)"
    result.stdout.fnmatch_lines(["*; 5 tests with findings (4 findings in test code, not failing)"])
    worst = result.stdout.str().split("worst offenders:")[1].splitlines()
    # the one that fails comes first, whatever the counts
    assert worst[1].startswith(f"  DBA103 factories.py:{FACTORY_WRITE_LINE} Row-by-row")
    assert worst[1].endswith(" ms)")
    for where, rule in (
        (f"test_setup.py:{TEST_LOOP_LINE}", "DBA101"),
        (f"conftest.py:{CONFTEST_WRITE_LINE}", "DBA103"),
        (f"test_helpers.py:{HELPER_LOOP_LINE}", "DBA101"),
    ):
        assert any(
            line.startswith(f"  {rule} {where} ") and line.endswith(mark) for line in worst
        ), where

    document = json.loads((setup_project.path / "events.json").read_text())
    marks = {
        unit["name"].rsplit("::", 1)[1]: [f.get("test_code") for f in unit["findings"]]
        for unit in document["units"]
    }
    assert marks == {
        "test_loop_in_the_test": ["a collected test module"],
        "test_conftest_factory": ["a conftest.py"],
        "test_helper_named_like_a_test_module": [
            "named like a test module (python_files: test_*.py)"
        ],
        "test_helper_module": [None],
        "test_budget_counts_the_setup_too": ["a collected test module"],
    }
    (run,) = json.loads((setup_project.path / "out.sarif").read_text())["runs"]
    sarif_marks = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["properties"].get(
            "testCode"
        )
        for r in run["results"]
    }
    assert sarif_marks == {
        "test_setup.py": "a collected test module",
        "conftest.py": "a conftest.py",
        "test_helpers.py": "named like a test module (python_files: test_*.py)",
        "factories.py": None,
    }


def test_findings_in_test_code_and_the_baseline(setup_project: pytest.Pytester) -> None:
    """Recorded like any finding; never a regression; not stale while they still occur."""
    args = ("--dbaudit-baseline", "base.json", "-p", "no:cacheprovider", "test_setup.py")
    first = setup_project.runpytest_subprocess(*args)  # no file yet: every finding is new
    first.assert_outcomes(passed=3, failed=2)
    first.stdout.fnmatch_lines(
        [
            "dbaudit: new or worse than the baseline:",
            f"  DBA103 at factories.py:{FACTORY_WRITE_LINE} (new): Row-by-row writes*",
            "max_queries(5): 6 queries ran",
        ]
    )
    first.stdout.no_fnmatch_line("*(new)*N+1*")
    first.stdout.no_fnmatch_line("*at conftest.py*")
    recorded = setup_project.runpytest_subprocess(*args, "--dbaudit-baseline-update")
    recorded.assert_outcomes(passed=4, failed=1)  # budgets still apply
    recorded.stdout.fnmatch_lines(["baseline: wrote 5 findings of 5 tests to *base.json"])
    checked = setup_project.runpytest_subprocess(*args)
    checked.assert_outcomes(passed=4, failed=1)
    checked.stdout.no_fnmatch_line("*no longer occur*")


def test_judge_test_code_restores_the_failures(setup_project: pytest.Pytester) -> None:
    flag = setup_project.runpytest_subprocess(
        "--dbaudit",
        "--dbaudit-judge-test-code",
        "--dbaudit-json",
        "judged.json",
        "-p",
        "no:cacheprovider",
        "test_setup.py",
    )
    flag.assert_outcomes(failed=5)
    # judged here, so judged by ``dbaudit check --runtime`` too: no finding carries the mark
    judged = json.loads((setup_project.path / "judged.json").read_text())
    assert not [f for unit in judged["units"] for f in unit["findings"] if "test_code" in f]
    flag.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA101 at test_setup.py:{TEST_LOOP_LINE} (test_loop_in_the_test*): N+1*",
            "*; 5 tests with findings (4 findings in test code)",
        ]
    )
    flag.stdout.no_fnmatch_line("*not failing*")
    setup_project.makeini(INI + "dbaudit_judge_test_code = true\n")
    ini = setup_project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider", "test_setup.py")
    ini.assert_outcomes(failed=5)
