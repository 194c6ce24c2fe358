"""The missing-index check and the SARIF file under pytest-xdist: workers plan their tests, the
controller prints one count and writes one SARIF file (pytest in a subprocess, ``-n 2``)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import sqlite3

import pytest

import dbaudit.runtime


@pytest.fixture()
def db():
    connection = dbaudit.runtime.instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER)")
    return connection
"""

MODULE = """
def test_scan_{n}(db):
    db.execute("SELECT id FROM t WHERE grp = ?", ({n},)).fetchall()


def test_by_key_{n}(db):
    db.execute("SELECT grp FROM t WHERE id = ?", ({n},)).fetchall()


def test_missing_table_{n}(db):
    db.execute("CREATE TEMP TABLE gone (a)")
    db.execute("SELECT a FROM gone WHERE a = ?", ({n},)).fetchall()
    db.execute("DROP TABLE gone")  # the check comes after the test: the table is gone
"""


def test_workers_send_counts_notes_and_findings(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    pytester.makepyfile(**{f"test_m{n}": MODULE.format(n=n) for n in range(4)})
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--dbaudit-explain",
        "--dbaudit-judge-test-code",  # the statements are sent from the test modules
        "--dbaudit-sarif",
        "out.sarif",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=8, failed=4)
    result.stdout.fnmatch_lines(
        [
            "missing-index check: 8 statements planned",
            "  note: could not EXPLAIN a statement: OperationalError: no such table: gone",
        ]
    )
    assert result.stdout.str().count("note:") == 1
    document = json.loads((pytester.path / "out.sarif").read_text())
    results = document["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["DBA401"] * 4
