"""Django database connections, through Django's own ``connection.execute_wrapper`` hook.

``instrument(connection)`` appends one wrapper to ``connection.execute_wrappers`` for good (the
documented hook is a context manager; keeping it installed is what ``execute_wrapper`` does
inside its ``with`` block). ``instrument_all()`` does it for every alias in
``django.db.connections`` and for connections created later through the
``connection_created`` signal: Django creates a connection object per thread (and per alias)
when it is first used there, and connects it when it first runs a statement, so a thread started
later (a live server's, a test client's) is covered when it connects. (A connection another
thread opened before ``instrument_all()`` ran is not: ``connections.all()`` lists the calling
thread's.) The pytest plugin calls ``instrument_all()`` itself once Django's settings are
configured (``pytest_plugin._instrument_django``).

A SELECT that Django sent to load a relation or a deferred field on first access carries that
attribute in ``QueryEvent.relationship`` (``"Article.author (many-to-one)"``, ``"Article.tags"``,
``"Article.body (deferred)"``), read from the frames above the statement by
``capture/django_orm.py``: the detector names it and flags it from two parents on, as it does
SQLAlchemy's lazy loads.

The test harness' own statements: Django's ``TestCase`` wraps each test in a savepoint, and
before rolling back to it checks deferred constraints (``SET CONSTRAINTS ALL IMMEDIATE``, then
``DEFERRED``, on PostgreSQL; ``PRAGMA foreign_key_check`` on sqlite): three to five statements
per test, in the test's call, that ``assertNumQueries`` never sees (it counts inside its block).
A savepoint, ``SET CONSTRAINTS`` or ``PRAGMA foreign_key_check`` statement with no application
frame in its call chain is the harness': it is recorded as ignored (never judged) with the
source ``django-harness``, and the budgets do not count it (``budgets.counted``). The same
statements sent from application code (a test's or a view's ``transaction.atomic()``) count,
as ``assertNumQueries`` counts them. A ``TransactionTestCase``'s fixture setup and teardown
(the flush after each test, which recreates content types and permissions row by row) are the
harness' too, whatever they send (``_mark_fixtures``).

Migrations: a ``migrate`` run inside a unit (a test that migrates back and forth to test a data
migration, as django-test-migrations does, or ``call_command("migrate")`` in a test or a
fixture the ``dbaudit_unit`` fixture sees) runs the migrations' own code: a ``RunPython`` data
migration that loops over rows, the django_migrations rows, and ``post_migrate``'s content
types and permissions, app by app. That is no code the test exercises: its statements are
counted (budgets, totals), never judged, as ``ignore()`` makes them (``_mark_migrations``).

Requests: ``instrument_all()`` also listens to ``request_started`` and ``request_finished``,
which Django's handlers and test clients send around each request. Inside a unit (a test's)
each request's statements carry its number (``QueryEvent.request``) and are judged apart from
the other requests' (``unit.request_started``): a test that posts three times in a loop runs the
view's one lazy load once per request, which is no N+1 (each request is a unit of its own in
production, and the test's loop is behind more framework frames than the call-site walk
crosses).
"""

from __future__ import annotations

import functools
import importlib
import sys
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from dbaudit.runtime import callsite
from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.budgets import HARNESS_SOURCE, NOT_JUDGED, not_judged
from dbaudit.runtime.capture import put_back
from dbaudit.runtime.capture.django_orm import lazy_load_label
from dbaudit.runtime.unit import record
from dbaudit.sql.fingerprint import is_transaction_control

_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql"}
# inside a TransactionTestCase's fixture setup or teardown (see _mark_fixtures), which run
# under ignore(): read only for statements already ignored, never on the usual path
_IN_FIXTURES: ContextVar[bool] = ContextVar("dbaudit_django_fixtures", default=False)


def _wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    state = _units._get_state()
    if state is None:
        return execute(sql, params, many, context)
    source = "django"
    relationship = None
    if sql[:6] == "SELECT":  # Django's ORM spells it so; a lazy load is never anything else
        # from three frames up: Django's _execute_with_wrappers and CursorWrapper.execute tell
        # nothing (sys._getframe skips them in C, the walk's costliest steps are its frames)
        try:
            relationship = lazy_load_label(sys._getframe(3))
        except ValueError:  # no Python frame called the cursor (a thread started on execute)
            relationship = None
    elif sql[:4] in _HARNESS_HEADS and _from_harness(sql):  # a slice and a set lookup for others
        state = _units._State(state.unit, True, state.request)
        source = HARNESS_SOURCE
    if state.ignored and _IN_FIXTURES.get():  # the fixtures run under ignore(): see _as_harness
        source, relationship = HARNESS_SOURCE, None
    started = perf_counter()
    try:
        result = execute(sql, params, many, context)
    except BaseException as error:
        record(
            state,
            sql,
            None if many else params,
            started,
            perf_counter() - started,
            source=source,
            dialect=_dialect(context),
            many=many,
            error=error,
            relationship=relationship,
        )
        raise
    cursor = context.get("cursor") if isinstance(context, dict) else None
    rows = getattr(cursor, "rowcount", None)
    record(
        state,
        sql,
        None if many else params,
        started,
        perf_counter() - started,
        rows=rows if isinstance(rows, int) else None,
        source=source,
        dialect=_dialect(context),
        many=many,
        relationship=relationship,
    )
    return result


# how the harness' statements start (Django spells them in capitals; lower case too, cheaply)
_HARNESS_HEADS = frozenset(
    head for word in ("SAVE", "RELE", "ROLL", "SET ", "PRAG") for head in (word, word.lower())
)
_CONSTRAINT_CHECK = "PRAGMA foreign_key_check"  # sqlite's check_constraints()


def _from_harness(sql: str) -> bool:
    """A savepoint, ``SET CONSTRAINTS`` or ``PRAGMA foreign_key_check`` statement sent with no
    application frame in its call chain: a test framework's (Django's ``TestCase``), not the
    test's or the application's."""
    if not (is_transaction_control(sql) or sql.startswith(_CONSTRAINT_CHECK)):
        return False
    user, library = callsite._user_files, callsite._library_files  # the walk's verdicts
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename not in library:
            if filename not in user:
                callsite._classify(filename)  # is_user_file, kept for the walk too
            if filename in user:
                return False
        frame = frame.f_back  # type: ignore[assignment]
    return True


def _dialect(context: Any) -> str:
    try:
        return _DIALECTS.get(context["connection"].vendor, "postgres")
    except Exception:
        return "postgres"


def instrument_connection(connection: Any) -> Any:
    if _wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_wrapper)
    return connection


_UID = "dbaudit.runtime"


def instrument_all() -> None:
    connections = importlib.import_module("django.db").connections
    connection_created = importlib.import_module("django.db.backends.signals").connection_created
    requests = importlib.import_module("django.core.signals")
    for connection in connections.all():
        instrument_connection(connection)
    connection_created.connect(_on_created, dispatch_uid=_UID)
    requests.request_started.connect(_on_request_started, dispatch_uid=_UID)
    requests.request_finished.connect(_on_request_finished, dispatch_uid=_UID)
    _mark_fixtures()
    _mark_migrations()


# what runs migrations: the migrate command (its signals too: post_migrate recreates content
# types and permissions per app) and the executor it drives, which other tools call directly
_MIGRATION_RUNNERS = (
    ("django.core.management.commands.migrate", "Command", "handle"),
    ("django.db.migrations.executor", "MigrationExecutor", "migrate"),
)


# what _mark_fixtures and _mark_migrations put on Django's classes, undone by uninstrument_all:
# (class, attribute, our wrapper, the method it wraps)
_wrapped: list[tuple[Any, str, Any, Any]] = []


def _wrap(owner: Any, name: str, method: Any, wrapper: Any) -> None:
    setattr(owner, name, wrapper)
    _wrapped.append((owner, name, wrapper, method))


def _mark_migrations() -> None:
    """Statements a migration run sends are counted, never judged (``ignore()``): a data
    migration's loop over rows is no N+1 of the code under test. Wrapped once, on the classes;
    a Django without them is left alone. Imports the migrate command's module (Django is set
    up by then), as it is imported only when the command first runs, inside a test maybe."""
    for module_name, class_name, name in _MIGRATION_RUNNERS:
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except Exception:
            continue
        method = owner.__dict__.get(name)
        if method is None or getattr(method, NOT_JUDGED, False):
            continue
        _wrap(owner, name, method, not_judged(method))


def _mark_fixtures() -> None:
    """Statements of a ``TransactionTestCase``'s fixture setup and teardown are the harness':
    the teardown flushes every table and, through ``post_migrate``, recreates the content
    types and permissions row by row (an N+1 and row-by-row INSERTs with no application
    frame, which failed every such test under ``--dbaudit``); the setup loads ``fixtures``.
    ``TestCase`` (a subclass) loads its fixtures once per class, in ``setUpClass``: outside the
    test's unit. Wrapped once, on the class; a Django without these methods is left alone."""
    try:
        testcases = importlib.import_module("django.test.testcases")
        case = testcases.TransactionTestCase
    except Exception:
        return
    for name in ("_fixture_setup", "_fixture_teardown"):
        # the attribute as the class holds it: Django 5's _fixture_setup is a classmethod, and
        # its wrapper must be one too, or a subclass's call binds to TransactionTestCase (whose
        # fixtures, databases and options it would then load: none)
        held = case.__dict__.get(name)
        method = held.__func__ if isinstance(held, classmethod) else held
        if method is None or getattr(method, "__dbaudit_harness__", False):
            continue
        harness = _as_harness(method)
        _wrap(case, name, held, classmethod(harness) if isinstance(held, classmethod) else harness)


def _as_harness(method: Any) -> Any:
    @functools.wraps(method)
    def harness(*args: Any, **kwargs: Any) -> Any:
        # ignored (never judged) by the unit's state, as ignore() marks it; the flag, read only
        # for ignored statements, makes them the harness' (not counted by the budgets either)
        token = _IN_FIXTURES.set(True)
        try:
            with _units.ignore():
                return method(*args, **kwargs)
        finally:
            _IN_FIXTURES.reset(token)

    harness.__dbaudit_harness__ = True  # type: ignore[attr-defined]
    return harness


def uninstrument_all() -> None:
    """Undo :func:`instrument_all`: its signal receivers, and its wrappers on Django's classes
    (each put back unless another library wrapped it since: then it stays). Connections keep
    their wrapper, which costs one ``ContextVar`` read outside units. Django is imported only
    if it already was."""
    while _wrapped:
        put_back(*_wrapped.pop())
    if "django.core.signals" not in sys.modules:
        return
    connection_created = importlib.import_module("django.db.backends.signals").connection_created
    requests = importlib.import_module("django.core.signals")
    connection_created.disconnect(dispatch_uid=_UID)
    requests.request_started.disconnect(dispatch_uid=_UID)
    requests.request_finished.disconnect(dispatch_uid=_UID)


def _on_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    instrument_connection(connection)


# Django's handlers (WSGI, ASGI) and its test clients send these around every request: inside a
# unit (a test's), each request's statements are judged apart (see unit.request_started)
def _on_request_started(sender: Any, **kwargs: Any) -> None:
    try:
        _units.request_started()
    except Exception as failure:  # never the request's problem
        _units._note_failure(failure)


def _on_request_finished(sender: Any, **kwargs: Any) -> None:
    try:
        _units.request_finished()
    except Exception as failure:
        _units._note_failure(failure)
