"""ASGI and WSGI middleware: one unit per request, a header in debug mode, one log line."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from dbaudit.runtime import Unit, instrument
from dbaudit.runtime.middleware import DbauditASGIMiddleware, DbauditWSGIMiddleware


@pytest.fixture()
def db() -> Any:
    connection = instrument(sqlite3.connect(":memory:", check_same_thread=False))
    connection.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, author INTEGER)")
    connection.executemany("INSERT INTO posts VALUES (?, ?)", [(i, i % 3) for i in range(10)])
    return connection


def handler(db: Any, path: str) -> bytes:
    if path == "/loop":
        authors = [
            db.execute("SELECT author FROM posts WHERE id = ?", (i,)).fetchone() for i in range(5)
        ]
        return str(len(authors)).encode()
    return str(db.execute("SELECT count(*) FROM posts").fetchone()[0]).encode()


def asgi_app(db: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = handler(db, scope["path"])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def call_asgi(app: Any, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": path}, receive, send)
    return sent


def test_asgi_counts_per_request_and_logs(db: Any, caplog: pytest.LogCaptureFixture) -> None:
    units: list[Unit] = []
    app = DbauditASGIMiddleware(asgi_app(db), debug=True, on_unit=units.append)

    async def both() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(call_asgi(app, "/loop"), call_asgi(app, "/count"))

    with caplog.at_level(logging.INFO, logger="dbaudit.request"):
        loop_response, count_response = asyncio.run(both())
    assert (b"x-db-query-count", b"5") in loop_response[0]["headers"]
    assert (b"x-db-query-count", b"1") in count_response[0]["headers"]
    assert sorted((u.name, u.query_count) for u in units) == [("GET /count", 1), ("GET /loop", 5)]
    records = sorted(
        (json.loads(r.getMessage()) for r in caplog.records), key=lambda r: r["endpoint"]
    )
    assert [(r["endpoint"], r["status"], r["queries"], r["findings"]) for r in records] == [
        ("GET /count", 200, 1, []),
        ("GET /loop", 200, 5, ["DBA101"]),
    ]


def test_asgi_no_header_outside_debug_and_lifespan_passes_through(db: Any) -> None:
    app = DbauditASGIMiddleware(asgi_app(db))
    sent = asyncio.run(call_asgi(app, "/count"))
    assert all(name != b"x-db-query-count" for name, _ in sent[0]["headers"])
    seen: list[str] = []

    async def lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(DbauditASGIMiddleware(lifespan_app)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_wsgi_counts_per_request_and_logs(db: Any, caplog: pytest.LogCaptureFixture) -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = handler(db, environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    units: list[Unit] = []
    app = DbauditWSGIMiddleware(wsgi_app, debug=True, on_unit=units.append)
    headers: list[tuple[str, str]] = []
    environ: dict[str, Any] = {"PATH_INFO": "/loop"}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/loop"
    with caplog.at_level(logging.INFO, logger="dbaudit.request"):
        body = app(environ, lambda status, h, exc=None: headers.extend(h))
    assert list(body) == [b"5"]
    assert ("X-DB-Query-Count", "5") in headers
    [record] = [json.loads(r.getMessage()) for r in caplog.records]
    assert (record["endpoint"], record["queries"], record["findings"]) == (
        "GET /loop",
        5,
        ["DBA101"],
    )
    assert units[0].query_count == 5


def test_a_failing_callback_never_breaks_the_response(db: Any) -> None:
    def broken(unit: Unit) -> None:
        raise RuntimeError("collector down")

    app = DbauditASGIMiddleware(asgi_app(db), on_unit=broken)
    sent = asyncio.run(call_asgi(app, "/count"))
    assert sent[1]["body"] == b"10"


def test_a_request_over_its_budget_warns_and_debug_headers_count_findings(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = DbauditASGIMiddleware(asgi_app(db), debug=True, max_queries=3)
    with caplog.at_level(logging.INFO, logger="dbaudit.request"):
        loop = asyncio.run(call_asgi(app, "/loop"))
        count = asyncio.run(call_asgi(app, "/count"))
    assert (b"x-db-findings", b"1") in loop[0]["headers"]  # the N+1, seen before the body
    assert all(name != b"x-db-findings" for name, _ in count[0]["headers"])
    loop_record, count_record = (json.loads(r.getMessage()) for r in caplog.records)
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert (loop_record["max_queries"], loop_record["over_budget"]) == (3, True)
    assert (count_record["max_queries"], count_record["over_budget"]) == (3, False)
    assert loop_record["request_ms"] >= loop_record["db_ms"] >= 0


def test_over_budget_alone_is_a_warning(db: Any, caplog: pytest.LogCaptureFixture) -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        db.execute("SELECT count(*) FROM posts").fetchone()
        db.execute("SELECT max(id) FROM posts").fetchone()
        start_response("200 OK", [])
        return [b""]

    app = DbauditWSGIMiddleware(wsgi_app, max_queries=1)
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    with caplog.at_level(logging.INFO, logger="dbaudit.request"):
        app(environ, lambda status, h, exc=None: None)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    logged = json.loads(record.getMessage())
    assert (logged["over_budget"], logged["findings"]) == (True, [])
    with pytest.raises(ValueError, match="max_queries needs a non-negative integer"):
        DbauditWSGIMiddleware(wsgi_app, max_queries=-1)


def test_the_panel_shows_recent_requests_newest_first_and_no_values(db: Any) -> None:
    app = DbauditASGIMiddleware(asgi_app(db), panel=True, history=2)
    for path in ("/count", "/loop", "/<script>alert(1)</script>"):
        asyncio.run(call_asgi(app, path))
    sent = asyncio.run(call_asgi(app, "/__dbaudit__"))
    assert sent[0]["status"] == 200
    assert (b"content-type", b"text/html; charset=utf-8") in sent[0]["headers"]
    page = sent[1]["body"].decode()
    assert page.startswith("<!doctype html>") and "<script" not in page.lower()
    assert "&lt;script&gt;" in page  # the request path, escaped
    assert "GET /count" not in page  # history=2: the oldest request is gone
    assert page.index("&lt;script&gt;") < page.index("GET /loop")  # newest first
    assert "<b>DBA101</b> N+1: the same query ran 5 times" in page
    assert "SELECT author FROM posts WHERE id = ?" in page
    assert "test_middleware.py" in page  # where the statements came from
    assert "__dbaudit__" not in page.split("</header>")[1]  # the panel is not a request
    assert len(app.history) == 2


def test_panel_off_by_default_and_on_wsgi(db: Any) -> None:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = handler(db, environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    def get(app: Any, path: str) -> tuple[list[str], bytes]:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        statuses: list[str] = []
        body = b"".join(app(environ, lambda status, h, exc=None: statuses.append(status)))
        return statuses, body

    off = DbauditWSGIMiddleware(wsgi_app)
    assert get(off, "/__dbaudit__") == (["200 OK"], b"10")  # the application's own page
    on = DbauditWSGIMiddleware(wsgi_app, panel=True, panel_path="/_queries")
    get(on, "/loop")
    statuses, page = get(on, "/_queries")
    assert statuses == ["200 OK"] and b"GET /loop" in page and b"DBA101" in page
