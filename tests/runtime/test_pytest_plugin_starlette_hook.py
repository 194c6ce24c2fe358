"""The hook the plugin puts on every Starlette application (``middleware.instrument_starlette``)
changes nothing an application does: its exceptions, its lifespan, its streamed bodies and its
mounted sub-applications go through as they would without it; a failure inside the profiler
never reaches the application; and the hook is gone when the run that installed it ends (an
in-process run, pytester's, a notebook's ``pytest.main``), so no later code in the process
carries it.
"""

from __future__ import annotations

import sys

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("starlette")
pytest.importorskip("httpx")

APP = """
import contextlib

from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Mount, Route

engine = create_engine(
    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
)
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE dishes (id INTEGER PRIMARY KEY, cook INTEGER)"))
    conn.execute(text("INSERT INTO dishes VALUES (1, 7), (2, 8), (3, 7), (4, 9), (5, 8)"))


def cook_of(dish_id):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT cook FROM dishes WHERE id = :id"), {"id": dish_id}
        ).scalar()


class Burnt(Exception):
    pass


def dish(request):
    return JSONResponse({"cook": cook_of(request.path_params["id"])})


def burnt(request):
    cook_of(1)
    raise Burnt("the kitchen is on fire")


def streamed(request):
    dish_id = request.path_params["id"]

    def body():
        yield b"cook="
        yield str(cook_of(dish_id)).encode()

    return StreamingResponse(body(), media_type="text/plain")


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.opened = cook_of(1)
    yield {"kitchen": "open"}
    app.state.closed = True


kitchen = Starlette(routes=[Route("/dishes/{id:int}", dish)])
app = Starlette(
    routes=[
        Route("/dishes/{id:int}", dish),
        Route("/burnt", burnt),
        Route("/streamed/{id:int}", streamed),
        Route("/state", lambda request: JSONResponse(dict(request.state._state))),
        Mount("/kitchen", kitchen),
    ],
    lifespan=lifespan,
)
"""

TESTS = """
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

import dbaudit.runtime.middleware as middleware
from app import Burnt, app


def requests_of(unit):
    return {event.request for event in unit.events}


def test_an_exception_goes_through_as_it_is():
    with pytest.raises(Burnt, match="on fire"):
        TestClient(app).get("/burnt")
    assert TestClient(app, raise_server_exceptions=False).get("/burnt").status_code == 500


def test_the_lifespan_runs_and_hands_over_its_state():
    with TestClient(app) as client:
        assert app.state.opened == 7
        assert client.get("/state").json() == {"kitchen": "open"}
    assert app.state.closed


def test_a_streamed_body_is_whole_and_its_queries_are_its_request(dbaudit_unit):
    client = TestClient(app)
    for dish_id in range(1, 6):
        assert client.get(f"/streamed/{dish_id}").text == f"cook={[7, 8, 7, 9, 8][dish_id - 1]}"
    assert dbaudit_unit.query_count == 5
    assert len(requests_of(dbaudit_unit)) == 5 and None not in requests_of(dbaudit_unit)


def test_a_mounted_app_serves_one_request_not_two(dbaudit_unit):
    client = TestClient(app)
    for dish_id in range(1, 6):
        assert client.get(f"/kitchen/dishes/{dish_id}").status_code == 200
    first = min(requests_of(dbaudit_unit))
    assert requests_of(dbaudit_unit) == set(range(first, first + 5))


def test_a_profiler_failure_never_reaches_the_app(monkeypatch):
    def broken():
        raise RuntimeError("dbaudit broke")

    monkeypatch.setattr(middleware, "request_started", broken)
    monkeypatch.setattr(middleware, "request_finished", broken)
    assert TestClient(app).get("/dishes/2").json() == {"cook": 8}


def test_requests_are_marked():
    assert getattr(Starlette.__call__, "__dbaudit_marks_requests__", False)
"""


@pytest.fixture()
def kitchen(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP, test_kitchen=TESTS)
    return pytester


def test_an_application_behaves_as_without_the_hook(kitchen: pytest.Pytester) -> None:
    result = kitchen.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*; 0 tests with findings"])


def test_without_the_plugin_there_is_no_hook(kitchen: pytest.Pytester) -> None:
    result = kitchen.runpytest_subprocess("-p", "no:cacheprovider", "-k", "marked")
    result.assert_outcomes(failed=1)  # the one test that needs it
    result.stdout.fnmatch_lines(["*assert False*"])


def test_the_hook_is_removed_when_the_run_ends(pytester: pytest.Pytester) -> None:
    # pytest.main in a process of its own: a run in this one would leave SQLAlchemy's engines
    # instrumented (for good, by design) in the tests that come after it
    pytester.makepyfile(
        test_one="""
        from starlette.applications import Starlette

        def test_marked():
            assert getattr(Starlette.__call__, "__dbaudit_marks_requests__", False)
        """,
        run_twice="""
        import sys

        import pytest
        from starlette.applications import Starlette

        before = Starlette.__call__
        for _ in range(2):
            code = pytest.main(["--dbaudit", "-p", "no:cacheprovider", "-q", "test_one.py"])
            assert code == 0, code
            assert Starlette.__call__ is before, Starlette.__call__
        print("restored after each run")
        """,
    )
    result = pytester.run(sys.executable, "run_twice.py")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["restored after each run"])
