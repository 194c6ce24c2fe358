"""The pytest plugin and threads, end to end (pytester, in a subprocess): statements of threads
that have no unit of their own (a threading.Thread worker, an executor, a test client's server
thread) count toward the test that runs while they run; after the test, toward no test."""

from __future__ import annotations

import pytest

from dbaudit.runtime.export import load

pytest_plugins = ["pytester"]

APP = """
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool


@pytest.fixture()
def engine():
    # one connection shared by every thread (an in-memory database is per connection)
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER)"))
        for i in range(20):
            conn.execute(text("INSERT INTO items VALUES (:i, :o)"), {"i": i, "o": i % 4})
    return engine


def owner_of(engine, item_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT owner FROM items WHERE id = :i"), {"i": item_id}).scalar()


def owners(engine, count):
    return [owner_of(engine, i) for i in range(count)]


def in_thread(work, *args):
    thread = threading.Thread(target=work, args=args)
    thread.start()
    thread.join()
"""

INI = (
    "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    "dbaudit_slow_query_ms = 60000\n"
)


def line_of(text: str, snippet: str) -> int:
    """The line of ``text`` (a file's contents) where ``snippet`` is."""
    text = text.strip()  # as makepyfile writes it
    return text[: text.index(snippet)].count("\n") + 1


QUERY_LINE = line_of(APP, "return conn.execute(")  # owner_of's statement
LOOP_LINE = line_of(APP, "return [owner_of(")  # owners' loop: the N+1


@pytest.fixture()
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP, conftest="from app import engine  # noqa: F401\n")
    pytester.makeini(INI)
    return pytester


def test_a_thread_workers_n_plus_one_fails_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_worker="""
from concurrent.futures import ThreadPoolExecutor

from app import in_thread, owner_of, owners


def test_worker(engine):
    in_thread(owners, engine, 5)


def test_executor(engine):
    with ThreadPoolExecutor(2) as pool:
        assert pool.submit(owners, engine, 4).result() == [0, 1, 2, 3]


def test_batched_in_a_thread(engine):
    in_thread(owner_of, engine, 1)
"""
    )
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-json", "events.json")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA101 at app.py:{LOOP_LINE} (owners*): N+1: the same query ran 5 times*",
            "*= dbaudit =*",
            "10 queries in 3 tests*; 2 tests with findings",
        ]
    )
    units = {unit.name: unit for unit in load(project.path / "events.json")}
    worker = units["test_worker.py::test_worker"]
    assert worker.queries == 5
    assert [site["line"] for site in worker.events[0]["stack"][:2]] == [QUERY_LINE, LOOP_LINE]


def test_budgets_count_the_threads_statements(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_budgets="""
import pytest

from app import in_thread, owners


@pytest.mark.max_queries(2)
def test_marker(engine):
    in_thread(owners, engine, 3)


def test_fixture(engine, assert_max_queries):
    with assert_max_queries(2):
        in_thread(owners, engine, 3)


def test_exact_fixture(engine, assert_num_queries):
    with assert_num_queries(3):
        in_thread(owners, engine, 3)


def test_unit_fixture(engine, dbaudit_unit):
    in_thread(owners, engine, 2)
    assert dbaudit_unit.query_count == 2
"""
    )
    # budgets only (no --dbaudit), and under the full plugin: the same verdicts
    for args in ((), ("--dbaudit", "--dbaudit-threshold=9")):
        result = project.runpytest_subprocess(*args)
        result.assert_outcomes(passed=2, failed=2)
        result.stdout.fnmatch_lines(["*max_queries(2): 3 queries ran*"])
        result.stdout.fnmatch_lines(["*expected at most 2 queries, 3 ran*"])


def test_a_thread_left_running_adds_nothing_to_the_next_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_late="""
import threading

import pytest

from app import owner_of

release = threading.Event()
threads = []


@pytest.fixture()
def late_thread(engine):
    yield
    release.set()  # teardown: the test's unit is closed
    for thread in threads:
        thread.join()


def test_one(engine, late_thread):
    def late():
        release.wait(10)
        owner_of(engine, 1)
        owner_of(engine, 2)

    threads.append(threading.Thread(target=late))
    threads[0].start()
    owner_of(engine, 3)


def test_two(engine):
    owner_of(engine, 4)
"""
    )
    result = project.runpytest_subprocess("--dbaudit", "--dbaudit-json", "events.json")
    result.assert_outcomes(passed=2)
    units = {unit.name: unit.queries for unit in load(project.path / "events.json")}
    assert units == {"test_late.py::test_one": 1, "test_late.py::test_two": 1}


ASGI_APP = """
import asyncio

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from app import owners


def make_app(engine):
    async def in_the_loop(request):
        # on the test client's event loop, in its thread
        return JSONResponse(owners(engine, 4))

    async def in_an_executor(request):
        # run_in_executor does not copy the context (asyncio.to_thread does)
        loop = asyncio.get_running_loop()
        return JSONResponse(await loop.run_in_executor(None, owners, engine, 4))

    def sync_endpoint(request):
        return JSONResponse(owners(engine, 4))  # in the framework's worker thread

    routes = [Route("/loop", in_the_loop), Route("/executor", in_an_executor)]
    return Starlette(routes=[*routes, Route("/sync", sync_endpoint)])
"""


def test_a_test_client_apps_n_plus_one_is_found(project: pytest.Pytester) -> None:
    pytest.importorskip("starlette.testclient")
    pytest.importorskip("httpx")
    project.makepyfile(
        asgi=ASGI_APP,
        test_client="""
import pytest
from starlette.testclient import TestClient

from asgi import make_app


@pytest.fixture()
def client(engine):
    with TestClient(make_app(engine)) as client:
        yield client


@pytest.mark.parametrize("path", ["/loop", "/executor", "/sync"])
def test_endpoint(client, path):
    assert client.get(path).json() == [0, 1, 2, 3]


def test_budget(client, assert_max_queries):
    with assert_max_queries(3):
        client.get("/executor")
""",
    )
    result = project.runpytest_subprocess(
        "--dbaudit", "-W", "ignore::DeprecationWarning", "--dbaudit-json", "events.json"
    )
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*expected at most 3 queries, 4 ran*"])
    units = {unit.name: unit for unit in load(project.path / "events.json")}
    for path in ("loop", "executor", "sync"):
        unit = units[f"test_client.py::test_endpoint[/{path}]"]
        assert unit.queries == 4
        assert [f.rule for f in unit.findings] == ["DBA101"]
        assert unit.findings[0].path == "app.py"
        assert unit.findings[0].line == LOOP_LINE
