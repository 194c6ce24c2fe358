"""The pytest plugin's wrappers on Django's classes (a TransactionTestCase's fixtures as the
harness', migrate runs counted, never judged) and its signal receivers are taken off when the
run ends: a process that goes on after ``pytest.main`` carries none of them."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("django")

pytest_plugins = ["pytester"]


def test_djangos_classes_and_signals_are_restored_when_the_run_ends(
    pytester: pytest.Pytester,
) -> None:
    # pytest.main in a process of its own: Django's settings are configured once per process
    pytester.makepyfile(
        test_one="""
        from django.core.management.commands import migrate
        from django.test.testcases import TransactionTestCase

        def test_wrapped_during_the_run():
            assert getattr(TransactionTestCase._fixture_setup, "__dbaudit_harness__", False)
            assert getattr(migrate.Command.handle, "__dbaudit_not_judged__", False)
        """,
        run_twice="""
        import django
        from django.conf import settings

        settings.configure(
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            INSTALLED_APPS=[],
        )
        django.setup()

        import pytest
        from django.core.management.commands import migrate
        from django.core.signals import request_finished, request_started
        from django.db.backends.signals import connection_created
        from django.db.migrations.executor import MigrationExecutor
        from django.test.testcases import TransactionTestCase

        def state():
            return (
                TransactionTestCase._fixture_setup,
                TransactionTestCase._fixture_teardown,
                migrate.Command.handle,
                MigrationExecutor.migrate,
                len(request_started.receivers),
                len(request_finished.receivers),
                len(connection_created.receivers),
            )

        before = state()
        for _ in range(2):
            code = pytest.main(
                ["--dbaudit", "-p", "no:cacheprovider", "-p", "no:django", "-q", "test_one.py"]
            )
            assert code == 0, code
            assert state() == before, (state(), before)
        print("restored after each run")
        """,
    )
    result = pytester.run(sys.executable, "run_twice.py")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["restored after each run"])
