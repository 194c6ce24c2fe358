"""Django capture through ``connection.execute_wrapper``: sqlite and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

import pytest

django = pytest.importorskip("django")


@pytest.fixture(scope="module")
def connections(django_databases: None) -> Any:
    from django.db import connections as django_connections

    from dbaudit.runtime.capture.django import instrument_all

    instrument_all()
    yield django_connections
    django_connections.close_all()


def author_of(connection: Any, post_id: int) -> Any:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s + 1", [post_id])
        return cursor.fetchone()


@pytest.mark.parametrize("alias", ["default", "pg"])
def test_django_loop_is_an_n_plus_one(connections: Any, alias: str) -> None:
    from dbaudit.runtime import profile

    connection = connections[alias]
    with profile() as unit:
        values = [author_of(connection, i) for i in range(4)]
    assert values == [(i + 1,) for i in range(4)]
    assert unit.query_count == 4
    assert {e.source for e in unit.events} == {"django"}
    assert [f.rule for f in unit.findings] == ["DBA101"]


def test_django_nothing_outside_a_unit_and_errors_still_raise(connections: Any) -> None:
    from django.db import DatabaseError

    from dbaudit.runtime import profile

    connection = connections["default"]
    author_of(connection, 1)  # no unit: no event, no error
    with profile() as unit, pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert [e.error for e in unit.events] == ["OperationalError"]


# A function of "library" code (its file is under the standard library's directory), as
# Django's TestCase machinery is: the savepoints it sends have no application frame above them.
HARNESS = """
from django.db import transaction


def run(connections, alias):
    connection = connections[alias]
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute('SAVEPOINT "s1_x1"')
            cursor.execute('ROLLBACK TO SAVEPOINT "s1_x1"')
            cursor.execute('RELEASE SAVEPOINT "s1_x1"')
            cursor.execute("SELECT 1")
    finally:
        connection.close()
"""


@pytest.mark.parametrize("alias", ["default", "pg"])
def test_harness_savepoints_are_ignored_and_not_counted(connections: Any, alias: str) -> None:
    """Savepoints sent with no application frame in their call chain (Django's TestCase around
    each test) are recorded ignored, as ``django-harness``, and budgets do not count them; the
    same statements from application code count, as Django's assertNumQueries counts them. The
    harness runs in a thread of its own here: its connection is one Django creates there, hooked
    through the connection_created signal."""
    import os
    import sysconfig
    import threading

    from django.db.transaction import atomic

    from dbaudit.runtime import profile
    from dbaudit.runtime.budgets import HARNESS_SOURCE, counted

    filename = os.path.join(sysconfig.get_paths()["stdlib"], "dbaudit_test_harness.py")
    namespace: dict[str, Any] = {}
    exec(compile(HARNESS, filename, "exec"), namespace)
    connection = connections[alias]
    with profile(threads=True) as unit:
        thread = threading.Thread(target=namespace["run"], args=(connections, alias))
        thread.start()
        thread.join()
        with atomic(using=alias), connection.cursor() as cursor:  # the test's own: counted
            cursor.execute('SAVEPOINT "s1_x2"')
            cursor.execute('RELEASE SAVEPOINT "s1_x2"')
    events = [e for e in unit.events if not e.fingerprint.text.startswith("BEGIN")]  # sqlite
    seen = [(e.fingerprint.text, e.source, e.ignored) for e in events]
    assert seen == [
        ("SAVEPOINT ?", HARNESS_SOURCE, True),
        ("ROLLBACK TO SAVEPOINT ?", HARNESS_SOURCE, True),
        ("RELEASE SAVEPOINT ?", HARNESS_SOURCE, True),
        ("SELECT ?", "django", False),  # only transaction control is the harness'
        ("SAVEPOINT ?", "django", False),
        ("RELEASE SAVEPOINT ?", "django", False),
    ]
    assert (len(events), counted(unit)) == (6, unit.query_count - 3)


def test_a_statement_with_no_python_frame_above_the_cursor_runs(
    connections: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread whose target is the cursor's own ``execute`` (started from C, so no Python
    frame calls it): the label's look above the cursor's frames finds nothing there, and the
    statement runs and is recorded as any other."""
    import _thread
    import sys
    import time

    from dbaudit.runtime import profile

    connection = connections["default"]
    failures: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", failures.append)
    connection.inc_thread_sharing()
    try:
        with profile(threads=True) as unit, connection.cursor() as cursor:
            _thread.start_new_thread(cursor.execute, ("SELECT 41 + 1",))
            deadline = time.monotonic() + 30  # the thread's end, or its failure, is awaited
            while not (unit.events or failures) and time.monotonic() < deadline:
                time.sleep(0.01)
            row = cursor.fetchone()
    finally:
        connection.dec_thread_sharing()
    assert [failure.exc_value for failure in failures] == []
    assert row == (42,)
    assert [e.fingerprint.text for e in unit.events] == ["SELECT ? + ?"]
