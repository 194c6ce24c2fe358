"""Shapes of a real Django app's test suite (healthchecks, run with ``--dbaudit``): what a test
that drives views through Django's test client gets told. The project is written here, in its
own words, as ``test_django_lazy_loads.py``'s pytester project is.

- a view that serialises the one object it created reads that object's related manager once
  per request; a test that posts three times in a loop repeats it three times. Each request
  is one unit of work in production: no N+1 of the view. Django's test client puts its
  handler and two frames per middleware between the middleware and the test (24 library
  frames in healthchecks), more than the stack walk crosses (``callsite.MAX_LIBRARY_GAP``),
  so the loop of the test is not seen: the repetition was a failing DBA101 located in the view.
  The test client's ``request_started``/``request_finished`` signals mark each request, and
  the test's unit judges repetition within each request;
- a page whose view has an N+1 of its own, requested twice by one test: found, once;
- a method that reads a related manager, called for each board of a list in a loop (a
  template's ``{% for %}``): a real N+1, found, fixed with ``prefetch_related``;
- a command's loop over profiles reading ``profile.user``: found, fixed with
  ``select_related``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("django")

pytest_plugins = ["pytester"]

MODELS = """
from django.db import models


class Owner(models.Model):
    email = models.CharField(max_length=50)


class Account(models.Model):
    owner = models.OneToOneField(Owner, models.CASCADE)
    plan = models.CharField(max_length=20, default="free")


class Board(models.Model):
    name = models.CharField(max_length=50)

    def count_failing(self):
        return sum(1 for task in self.task_set.all() if task.state == "failing")


class Task(models.Model):
    board = models.ForeignKey(Board, models.CASCADE)
    state = models.CharField(max_length=20, default="ok")

    def as_dict(self):
        return {"id": self.id, "labels": [label.name for label in self.label_set.all()]}


class Label(models.Model):
    task = models.ForeignKey(Task, models.CASCADE)
    name = models.CharField(max_length=20)
"""

VIEWS = """
from django.http import JsonResponse

from tracker.models import Account, Board, Task


class OwnerMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.account = Account.objects.filter(owner_id=request.GET.get("owner")).first()
        return self.get_response(request)


def create_task(request):
    task = Task.objects.create(board=Board.objects.get(name=request.GET["board"]))
    return JsonResponse(task.as_dict())


def board_page(request):
    return JsonResponse({"boards": summary()})


def summary():
    return [(board.name, board.count_failing()) for board in Board.objects.order_by("id")]


def notify_owners():
    return [account.owner.email for account in Account.objects.order_by("id")]
"""

URLS = """
from django.urls import path

from tracker.views import board_page, create_task

urlpatterns = [path("tasks/", create_task), path("boards/", board_page)]
"""

CONFTEST = """
import django
import pytest
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["tracker"],
    ROOT_URLCONF="tracker.urls",
    MIDDLEWARE=[
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "tracker.views.OwnerMiddleware",
    ],
    ALLOWED_HOSTS=["*"],
    USE_TZ=True,
)
django.setup()


@pytest.fixture()
def tracker():
    from django.db import connection

    from tracker import models

    tables = [models.Owner, models.Account, models.Board, models.Task, models.Label]
    with connection.schema_editor() as editor:
        for table in tables:
            editor.create_model(table)
    for number in range(2):
        owner = models.Owner.objects.create(email=f"o{number}@example.org")
        models.Account.objects.create(owner=owner)
        board = models.Board.objects.create(name=f"b{number}")
        models.Task.objects.create(board=board, state="failing")
    yield models
    with connection.schema_editor() as editor:
        for table in reversed(tables):
            editor.delete_model(table)
"""

TESTS = """
from django.test import Client

from tracker.views import notify_owners, summary


def test_create_three_tasks(tracker):
    client = Client()
    for board in ("b0", "b1", "b0"):
        assert client.get("/tasks/", {"board": board, "owner": 1}).json()["labels"] == []


def test_board_page_twice(tracker):
    client = Client()
    for _ in range(2):
        assert client.get("/boards/").json() == {"boards": [["b0", 1], ["b1", 1]]}


def test_summary(tracker):
    assert summary() == [("b0", 1), ("b1", 1)]


def test_notify_owners(tracker):
    assert notify_owners() == ["o0@example.org", "o1@example.org"]
"""


@pytest.fixture()
def tracker_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.mkpydir("tracker")
    pytester.makepyfile(**{"tracker/models": MODELS, "tracker/views": VIEWS, "tracker/urls": URLS})
    pytester.makepyfile(conftest=CONFTEST, test_tracker=TESTS)
    pytester.makeini("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    return pytester


def run(project: pytest.Pytester, *options: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *options)


def test_real_n_plus_ones_are_found_with_djangos_fixes(tracker_project: pytest.Pytester) -> None:
    result = run(tracker_project, "--dbaudit")
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA101 at tracker/views.py:25 *N+1: Board.task_set lazy-loaded for 2 boards*",
            '*fix: Board.objects.prefetch_related("task_set")*',
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        [
            "*dbaudit DBA101 at tracker/views.py:29 *Account.owner lazy-loaded for 2 accounts*",
            '*fix: Account.objects.select_related("owner")*',
        ]
    )


def test_the_suite_runs_the_same_with_dbaudit_warn(tracker_project: pytest.Pytester) -> None:
    """Warn mode never changes an application's outcome: the same tests pass."""
    plain = run(tracker_project, "-p", "no:dbaudit")
    plain.assert_outcomes(passed=4)
    warned = run(tracker_project, "--dbaudit", "--dbaudit-mode=warn")
    warned.assert_outcomes(passed=4)


def test_one_lazy_load_per_request_is_no_failing_n_plus_one(
    tracker_project: pytest.Pytester,
) -> None:
    result = run(tracker_project, "--dbaudit", "test_tracker.py::test_create_three_tasks")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*dbaudit DBA*")


def test_an_n_plus_one_inside_a_view_is_found_once_over_two_requests(
    tracker_project: pytest.Pytester,
) -> None:
    result = run(tracker_project, "--dbaudit", "test_tracker.py::test_board_page_twice")
    result.assert_outcomes(failed=1)
    lines = [line for line in result.stdout.lines if line.startswith("dbaudit DBA")]
    assert len(lines) == 1, result.stdout.str()
    assert "tracker/views.py:25 " in lines[0]
    assert "N+1: Board.task_set lazy-loaded for 2 boards" in lines[0]
