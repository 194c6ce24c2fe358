"""The plugin under a Starlette (or FastAPI) app's test client, with no dbaudit middleware in the
app: each request the test sends is judged apart (``middleware.instrument_starlette``), so a
test's loop of requests is not the view's N+1, while a loop inside one view still is.

The shape of mealie's API tests (FastAPI, a session-wide ``TestClient``, sync endpoints run in
the client's worker threads): a test fetching ten recipes one request each got a failing DBA101
at the repository's one query, whose frames are all the server thread shows.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("starlette")
pytest.importorskip("httpx")

APP = """
from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

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


def dish(request):
    return JSONResponse({"cook": cook_of(request.path_params["id"])})


async def dish_async(request):
    return JSONResponse({"cook": cook_of(request.path_params["id"])})


def menu(request):
    cooks = []
    for dish_id in range(1, 6):
        cooks.append(cook_of(dish_id))
    return JSONResponse({"cooks": cooks})


app = Starlette(
    routes=[
        Route("/dishes/{id:int}", dish),
        Route("/async/dishes/{id:int}", dish_async),
        Route("/menu", menu),
    ]
)
"""

TESTS = """
from starlette.testclient import TestClient

from app import app

client = TestClient(app)


def test_one_dish_per_request():
    for dish_id in range(1, 6):
        assert client.get(f"/dishes/{dish_id}").status_code == 200


def test_one_dish_per_async_request():
    with TestClient(app) as own:
        for dish_id in range(1, 6):
            assert own.get(f"/async/dishes/{dish_id}").status_code == 200


def test_menu():
    assert client.get("/menu").json() == {"cooks": [7, 8, 7, 9, 8]}
"""


def line_of(text: str, snippet: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if snippet in line)


def test_a_loop_of_requests_is_no_n_plus_one_a_loop_in_a_view_is(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(app=APP, test_api=TESTS)
    result = pytester.runpytest_subprocess("--dbaudit", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    loop = line_of(APP.removeprefix("\n"), "cooks.append(cook_of(dish_id))")
    result.stdout.fnmatch_lines(
        [
            f"*dbaudit DBA101 at app.py:{loop} (menu): N+1: the same query ran 5 times*",
            "FAILED test_api.py::test_menu*",
        ]
    )
    result.stdout.fnmatch_lines(["*15 queries in 3 tests*; 1 tests with findings"])
