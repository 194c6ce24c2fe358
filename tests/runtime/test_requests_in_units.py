"""HTTP requests inside a unit (a test's): repetition is judged within each request, never across
the requests of one test (``unit.request_started``/``request_finished``, ``QueryEvent.request``,
``detect._per_request``); the test body's own statements, outside requests, as before."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from dbaudit.runtime import instrument, profile
from dbaudit.runtime.middleware import DbauditASGIMiddleware
from dbaudit.runtime.unit import Unit, request_finished, request_started


@pytest.fixture()
def db() -> Any:
    connection = instrument(sqlite3.connect(":memory:", check_same_thread=False))
    connection.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, author INTEGER)")
    connection.executemany("INSERT INTO posts VALUES (?, ?)", [(i, i % 3) for i in range(10)])
    return connection


def author_of(db: Any, post: int) -> Any:
    return db.execute("SELECT author FROM posts WHERE id = ?", (post,)).fetchone()


def serve(db: Any, post: int) -> None:
    """A view: one lookup per request."""
    request_started()
    try:
        author_of(db, post)
    finally:
        request_finished()


def rules(unit: Unit) -> list[str]:
    return [f.rule for f in unit.findings]


def test_one_query_per_request_in_a_loop_of_requests_is_no_n_plus_one(db: Any) -> None:
    with profile("test", threads=True) as unit:
        for post in range(4):
            serve(db, post)
    assert rules(unit) == []
    assert len({e.request for e in unit.events}) == 4
    assert None not in {e.request for e in unit.events}


def test_the_same_loop_without_requests_is_an_n_plus_one(db: Any) -> None:
    with profile("test", threads=True) as unit:
        for post in range(4):
            author_of(db, post)
    assert rules(unit) == ["DBA101"]
    assert {e.request for e in unit.events} == {None}


def test_a_loop_inside_one_request_is_found_once_over_several_requests(db: Any) -> None:
    def page() -> None:
        request_started()
        try:
            for post in range(4):
                author_of(db, post)
        finally:
            request_finished()

    with profile("test", threads=True) as unit:
        for _ in range(3):
            page()
    findings = unit.findings
    assert [f.rule for f in findings] == ["DBA101"]  # one finding, not one per request
    assert findings[0].evidence is not None and findings[0].evidence.queries == 4


def test_statements_outside_requests_are_judged_together_as_before(db: Any) -> None:
    with profile("test", threads=True) as unit:
        for post in range(4):
            author_of(db, post)  # the test body's own loop, between requests
            serve(db, post + 5)
    findings = unit.findings
    assert [f.rule for f in findings] == ["DBA101"]
    assert findings[0].evidence is not None and findings[0].evidence.queries == 4
    outside = [e for e in unit.events if e.request is None]
    assert len(outside) == 4


def test_duplicates_are_per_request(db: Any) -> None:
    with profile("test", threads=True) as unit:
        for _ in range(3):
            serve(db, 1)  # the same lookup in each request: no duplicate of the view
    assert rules(unit) == []

    def twice() -> None:
        request_started()
        author_of(db, 1)
        author_of(db, 1)
        request_finished()

    with profile("test", threads=True) as unit:
        twice()
    assert rules(unit) == ["DBA301"]


def test_a_request_ends_back_in_the_state_it_started_in(db: Any) -> None:
    request_started()  # outside a unit: nothing
    request_finished()
    with profile("test") as unit:
        request_started()
        author_of(db, 1)
        request_finished()
        author_of(db, 2)
        request_finished()  # no request open: nothing
        author_of(db, 3)
    first, second, third = (e.request for e in unit.events)
    assert first is not None and second is None and third is None
    with profile("after") as after:
        author_of(db, 1)
    assert [e.request for e in after.events] == [None]


def test_a_request_left_open_ends_with_its_unit(db: Any) -> None:
    with profile("test"):
        request_started()  # a streamed body never read: no request_finished
        author_of(db, 1)
    with profile("next") as unit:
        author_of(db, 2)
    assert [e.request for e in unit.events] == [None]


def test_signals_sent_from_other_threads_as_asgiref_does(db: Any) -> None:
    """Django's ASGI handler and AsyncClient send the signals through ``sync_to_async`` (the
    second with ``thread_sensitive=False``): another thread, whose context changes asgiref
    copies back into the task's."""
    sync_to_async = pytest.importorskip("asgiref.sync").sync_to_async

    async def request(post: int) -> None:
        await sync_to_async(request_started)()
        author_of(db, post)
        await sync_to_async(request_finished, thread_sensitive=False)()

    async def test_body() -> Unit:
        with profile("test") as unit:
            for post in range(3):
                await request(post)
            author_of(db, 9)
        return unit

    unit = asyncio.run(test_body())
    requests = [e.request for e in unit.events]
    assert None not in requests[:3] and len(set(requests[:3])) == 3
    assert requests[3] is None
    assert rules(unit) == []


def starlette_app(db: Any) -> Any:
    starlette = pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    assert starlette

    def post(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(author_of(db, int(request.path_params["id"]))))

    def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str([author_of(db, i) for i in range(4)]))

    app = Starlette(routes=[Route("/posts/{id:int}", post), Route("/page", page)])
    return DbauditASGIMiddleware(app)


def test_starlette_test_client_requests_through_the_middleware(db: Any) -> None:
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    with TestClient(starlette_app(db)) as client, profile("test", threads=True) as unit:
        for post in range(4):
            assert client.get(f"/posts/{post}").status_code == 200
    assert unit.query_count == 4
    assert rules(unit) == []

    with TestClient(starlette_app(db)) as client, profile("test", threads=True) as unit:
        for _ in range(2):
            assert client.get("/page").status_code == 200
    assert unit.query_count == 8
    assert rules(unit) == ["DBA101"]  # the page's own loop, once


def test_requests_in_the_tests_task_are_not_sequential_queries(db: Any) -> None:
    """An ASGI transport serving the app in the test's own task (httpx's ``ASGITransport``)
    runs one request's statement after the other's: no line of the application awaits both."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0)
        column = "count(*)" if scope["path"] == "/a" else "max(id)"
        db.execute(f"SELECT {column} FROM posts").fetchone()  # no parameter: of no result
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = DbauditASGIMiddleware(app)

    async def call(path: str) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            pass

        await middleware({"type": "http", "method": "GET", "path": path}, receive, send)

    async def test_body() -> Unit:
        with profile("test") as unit:
            await call("/a")
            await call("/b")
        return unit

    unit = asyncio.run(test_body())
    assert unit.query_count == 2
    assert len({e.task_id for e in unit.events}) == 1
    assert rules(unit) == []


def test_djangos_request_signals_mark_requests_until_uninstrumented(
    db: Any, django_databases: None
) -> None:
    from django.core.signals import request_finished as finished
    from django.core.signals import request_started as started
    from django.db.backends.signals import connection_created

    from dbaudit.runtime.capture.django import instrument_all, uninstrument_all

    # the process's other tests may count on it: put back as found
    was_on = any(key[0] == "dbaudit.runtime" for key, *_ in connection_created.receivers)
    instrument_all()
    try:
        with profile("test") as unit:
            started.send(sender=None)
            author_of(db, 1)
            finished.send(sender=None)
            author_of(db, 2)
        uninstrument_all()
        with profile("test") as after:
            started.send(sender=None)
            author_of(db, 3)
            finished.send(sender=None)
    finally:
        if was_on:
            instrument_all()
    inside, outside = (e.request for e in unit.events)
    assert inside is not None and outside is None
    assert [e.request for e in after.events] == [None]
