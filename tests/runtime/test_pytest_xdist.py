"""The pytest plugin under pytest-xdist: workers judge their tests, the controller writes one
events file, one summary and one baseline (pytest runs in a subprocess, with ``-n 2``)."""

from __future__ import annotations

import json

import pytest

from dbaudit.runtime.export import load

pytest_plugins = ["pytester"]

CONFTEST = """
import sqlite3

import pytest

import dbaudit.runtime


@pytest.fixture()
def db():
    connection = dbaudit.runtime.instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(i, i % 3) for i in range(30)])
    return connection
"""

APP = """
def group_of(db, key):
    return db.execute("SELECT grp FROM t WHERE id = ?", (key,)).fetchone()[0]


def groups_of(db, keys):
    return [group_of(db, key) for key in keys]
"""

# Eight modules of three tests, so both workers get some: one N+1 per module (in the
# application's code), two clean tests.
MODULE = """
from app import groups_of


def test_loop_{n}(db):
    assert groups_of(db, range({loops})) == [k % 3 for k in range({loops})]


def test_batched_{n}(db):
    assert len(db.execute("SELECT grp FROM t WHERE id IN (1, 2, 3)").fetchall()) == 3


def test_nothing_{n}():
    assert True
"""
MODULES = 8
WORKERS = ("gw0", "gw1")
# and one test whose own setup loop is an N+1: reported (the worker says so), not failing
SETUP = """
from app import group_of


def test_setup_loop(db):
    assert [group_of(db, key) for key in range(3)] == [0, 1, 2]
"""


@pytest.fixture()
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    # a loaded machine can make any statement "slow" (DBA302, counted in the summary): not here
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    pytester.makepyfile(**{f"test_m{n}": MODULE.format(n=n, loops=4 + n) for n in range(MODULES)})
    pytester.makepyfile(app=APP, test_setup=SETUP)
    return pytester


def test_json_under_xdist_is_one_complete_file(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "-n", "2", "-v", "--dbaudit", "--dbaudit-json", "events.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2 * MODULES + 1, failed=MODULES)
    for worker in WORKERS:  # both workers really ran tests: the point of the exercise
        result.stdout.fnmatch_lines([f"[[]{worker}[]] * PASSED test_m*"])
    path = project.path / "events.json"
    units = {unit.name: unit for unit in load(path)}
    expected = {
        f"test_m{n}.py::test_{kind}_{n}"
        for n in range(MODULES)
        for kind in ("loop", "batched", "nothing")
    } | {"test_setup.py::test_setup_loop"}
    assert set(units) == expected  # every worker's tests, each once
    for n in range(MODULES):
        loop = units[f"test_m{n}.py::test_loop_{n}"]
        assert loop.queries == 4 + n
        assert [f.rule for f in loop.findings] == ["DBA101"]
        assert len(loop.events) == 4 + n
    # the worker that ran the setup loop marked it: the controller collects no tests
    document = json.loads(path.read_text())
    marks = {u["name"]: [f.get("test_code") for f in u["findings"]] for u in document["units"]}
    assert marks["test_setup.py::test_setup_loop"] == ["a collected test module"]
    assert marks["test_m0.py::test_loop_0"] == [None]
    assert not list(project.path.glob("events.json.*.part"))  # parts merged, then removed
    # one summary, from the controller, over every worker's tests
    total = sum(4 + n for n in range(MODULES)) + MODULES + 3
    result.stdout.fnmatch_lines(
        [
            "*= dbaudit =*",
            f"{total} queries in {3 * MODULES + 1} tests*; {MODULES + 1} tests with findings "
            "(1 findings in test code, not failing)",
            "*DBA101 test_setup.py:5 N+1: * (in test code, not failing)",
            "*events and findings written to *events.json",
        ]
    )
    assert result.stdout.str().count("= dbaudit =") == 1


def test_baseline_under_xdist_records_every_workers_tests(project: pytest.Pytester) -> None:
    recorded = project.runpytest_subprocess(
        "-n",
        "2",
        "--dbaudit-baseline",
        "base.json",
        "--dbaudit-baseline-update",
        "-p",
        "no:cacheprovider",
    )
    recorded.assert_outcomes(passed=3 * MODULES + 1)
    tests = json.loads((project.path / "base.json").read_text())["tests"]
    assert len(tests) == 3 * MODULES + 1
    assert tests["test_m7.py::test_loop_7"]["queries"] == 11
    recorded.stdout.fnmatch_lines(
        [f"baseline: wrote {MODULES + 1} findings of {3 * MODULES + 1} tests*"]
    )
    checked = project.runpytest_subprocess(
        "-n", "2", "--dbaudit-baseline", "base.json", "-p", "no:cacheprovider"
    )
    checked.assert_outcomes(passed=3 * MODULES + 1)  # every worker read the same baseline


def test_without_xdist_the_same_file(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "--dbaudit", "--dbaudit-json", "events.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2 * MODULES + 1, failed=MODULES)
    assert len(load(project.path / "events.json")) == 3 * MODULES + 1
