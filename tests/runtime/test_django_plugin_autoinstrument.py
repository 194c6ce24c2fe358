"""The pytest plugin on Django projects: connections profiled with no fixture of the project's,
Django's TestCase harness statements left out of the counts (as ``assertNumQueries`` leaves them
out), a hint when a run recorded nothing, and no Django import in a run that does not use it.

pytest-django is not installed here: each throwaway project configures Django the way a plain
project does (``settings.configure`` + ``django.setup()`` in its conftest, or
``DJANGO_SETTINGS_MODULE``), on sqlite and on PostgreSQL. Each runs in a subprocess: Django's
settings are configured once per process.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("django")

pytest_plugins = ["pytester"]

INI = "[pytest]\ndbaudit_slow_query_ms = 60000\n"

SQLITE = '{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}'

CONFTEST = """
import django
from django.conf import settings

settings.configure(DATABASES={{"default": {database}}}, INSTALLED_APPS=[], USE_TZ=True)
django.setup()
"""

# the application's loop (a loop in the test module is the test's own setup: not failing)
APP = """
from django.db import connection


def value_of(i):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s + 1", [i])
        return cursor.fetchone()[0]


def values_of(ids):
    return [value_of(i) for i in ids]
"""

LOOP = """
from app import values_of


def test_loop():
    assert values_of(range(4)) == [1, 2, 3, 4]
"""

TESTCASE = """
import pytest
from django.db import connection, transaction
from django.test import TestCase


def one(cursor, i):
    cursor.execute("SELECT %s", [i])
    return cursor.fetchone()[0]


class Counts(TestCase):
    @pytest.mark.num_queries(2)
    def test_two_statements(self):
        with self.assertNumQueries(2), connection.cursor() as cursor:
            assert one(cursor, 1) + one(cursor, 2) == 3

    @pytest.mark.num_queries(3)
    def test_own_atomic_counts_its_savepoints(self):
        # Django's assertNumQueries counts the test's own savepoints: SAVEPOINT, SELECT, RELEASE
        with self.assertNumQueries(3), transaction.atomic(), connection.cursor() as cursor:
            assert one(cursor, 1) == 1

    @pytest.mark.max_queries(0)
    def test_nothing(self):
        pass
"""


def _database(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "sqlite":
        return SQLITE
    from sqlalchemy.engine import make_url

    pg = make_url(request.getfixturevalue("pg_url"))
    return repr(
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": pg.database,
            "USER": pg.username or "",
            "PASSWORD": pg.password or "",
            "HOST": pg.host or pg.query.get("host", ""),
            "PORT": str(pg.port or ""),
        }
    )


@pytest.fixture(params=["sqlite", "postgres"])
def django_project(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(conftest=CONFTEST.format(database=_database(request, request.param)))
    pytester.makeini(INI)
    return pytester


def test_django_connections_are_profiled_without_a_fixture(django_project: pytest.Pytester) -> None:
    """The plugin used to hook SQLAlchemy only: this run recorded 0 queries and passed."""
    django_project.makepyfile(app=APP, test_loop=LOOP)
    result = django_project.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DBA101 at app.py:*", "*4 queries in 1 tests*"])
    result.stdout.no_fnmatch_line("*no statement was recorded*")


def test_django_set_up_by_the_settings_module_and_imported_by_the_tests(
    pytester: pytest.Pytester,
) -> None:
    """No conftest: DJANGO_SETTINGS_MODULE, and Django first imported when the test module is
    collected (after the plugin started)."""
    pytester.makepyfile(
        project_settings=f"DATABASES = {{'default': {SQLITE}}}\nUSE_TZ = True\n",
        app=APP,
        test_loop=LOOP,
    )
    pytester.makeini(INI)
    with pytest.MonkeyPatch.context() as patch:  # the project's directory is on the path
        patch.setenv("DJANGO_SETTINGS_MODULE", "project_settings")
        result = pytester.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DBA101 at app.py:*", "*4 queries in 1 tests*"])


def test_testcase_harness_statements_are_not_counted(django_project: pytest.Pytester) -> None:
    """Django's TestCase sends a savepoint around each test (and SET CONSTRAINTS on
    PostgreSQL), about 5 statements, that assertNumQueries does not see: a num_queries marker
    ported from assertNumQueries was off by that much. The test's own atomic() counts."""
    django_project.makepyfile(test_counts=TESTCASE)
    result = django_project.runpytest_subprocess(
        "--dbaudit", "--dbaudit-json=events.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*5 queries in 3 tests*"])
    result.stdout.no_fnmatch_line("*unsupported syntax*")
    units = {
        u["name"].rsplit("::", 1)[-1]: u
        for u in json.loads((django_project.path / "events.json").read_text())["units"]
    }
    harness = units["test_nothing"]["events"]
    assert harness, "the harness' statements are kept in the events file"
    assert {(e["source"], e["ignored"]) for e in harness} == {("django-harness", True)}
    assert {e["sql"] for e in harness} >= {"SAVEPOINT ?", "ROLLBACK TO SAVEPOINT ?"}
    own = units["test_own_atomic_counts_its_savepoints"]["events"]
    counted = [e["sql"] for e in own if e["source"] == "django"]
    assert counted == ["SAVEPOINT ?", "SELECT ?", "RELEASE SAVEPOINT ?"]


def test_a_budget_failure_lists_no_harness_statement(django_project: pytest.Pytester) -> None:
    django_project.makepyfile(
        test_budget="""
import pytest
from django.db import connection
from django.test import TestCase


class Budget(TestCase):
    @pytest.mark.num_queries(2)
    def test_one_statement(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
"""
    )
    result = django_project.runpytest_subprocess("-p", "no:cacheprovider")  # budget-only mode
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*num_queries(2): expected exactly 2 queries, 1 ran:*"])
    result.stdout.no_fnmatch_line("*SAVEPOINT*")


def test_a_run_that_recorded_nothing_says_how_to_instrument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_raw="""
import sqlite3


def test_raw_driver():
    connection = sqlite3.connect(":memory:")
    assert connection.execute("SELECT 1").fetchone() == (1,)
"""
    )
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*0 queries in 1 tests*",
            "*no statement was recorded*SQLAlchemy engines and Django's connections*"
            "dbaudit.runtime.instrument(...) in a fixture*",
        ]
    )


def test_a_run_without_django_does_not_import_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
import sys

import pytest


@pytest.mark.max_queries(1)
def test_plain(dbaudit_unit, assert_num_queries):
    with assert_num_queries(0):
        pass
    assert "django" not in sys.modules


def test_after():
    assert "django" not in sys.modules
"""
    )
    pytester.makeini(INI)
    result = pytester.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
