"""ASGI and WSGI middleware: one unit of work per HTTP request.

Each request is profiled; when it ends, one structured log line goes to the ``dbaudit.request``
logger (endpoint, status, queries, time in the database and in the whole request, finding rule
IDs, as JSON; WARNING when there are findings or the request ran more than ``max_queries``
statements) and, in debug mode, the response carries an ``X-DB-Query-Count`` header, and
``X-DB-Findings`` when the detectors already see a problem (both as of when the headers were
sent; a streamed body may run more queries, which the log line includes). Engines and
connections must be instrumented once at startup (``dbaudit.runtime.instrument``).

    app = DbauditASGIMiddleware(app, debug=settings.DEBUG, max_queries=20)
    application = DbauditWSGIMiddleware(application)

A request served inside a unit already open (a test's, under the pytest plugin, through a test
client) is a unit nested in it, as it is one of its own in production: the enclosing unit judges
repetition within each request, never across the requests of the test's loop
(``QueryEvent.request``).

Without this middleware, :func:`mark_requests` (any ASGI app) and :func:`instrument_starlette`
(every Starlette or FastAPI app, hooked by the pytest plugin) only mark where each request
starts and ends (``unit.request_started``): a test's unit then judges each request it sent
apart, as Django's request signals make it do for Django's test clients. The statements of a
test's loop of requests run in the test client's server threads, out of reach of the call-site
walk, which would otherwise blame the view's one query for the test's loop. They change
nothing the app does: outside a unit, or inside a request already (a mounted sub-application,
an app inside this middleware's unit), they pass the call on; a failure of their own is
counted (``profiler_errors``), never raised into the app. The plugin takes the Starlette hook
off when its run ends (:func:`uninstrument_starlette`).

``on_unit`` receives every closed unit, for tests or to collect events for ``dbaudit report``.
``panel=True`` keeps the last ``history`` requests and serves them as one HTML page at
``panel_path`` (``/__dbaudit__``; ``runtime/panel.py``): for development, off by default.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from dbaudit.runtime import unit as _units  # _units._get_state: rebound, never copied
from dbaudit.runtime.detect import DetectConfig
from dbaudit.runtime.panel import RequestView, render, view
from dbaudit.runtime.unit import Unit, profile, request_finished, request_started

HEADER = "X-DB-Query-Count"
FINDINGS_HEADER = "X-DB-Findings"
PANEL_PATH = "/__dbaudit__"
PANEL_TYPE = "text/html; charset=utf-8"
log = logging.getLogger("dbaudit.request")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def request_record(
    endpoint: str, status: int | None, unit: Unit, max_queries: int | None = None
) -> dict[str, Any]:
    """The fields of the per-request log line (pure: a unit in, a dict out)."""
    findings = unit.findings
    record = {
        "event": "dbaudit.request",
        "endpoint": endpoint,
        "status": status,
        "queries": unit.query_count,
        "db_ms": round(unit.db_time_ms, 3),
        "request_ms": round(((unit.ended or unit.started) - unit.started) * 1000, 3),
        "findings": [f.rule for f in findings],
        "problems": [f"{f.rule} {f.path}:{f.line} {f.message}" for f in findings],
    }
    if max_queries is not None:
        record["max_queries"] = max_queries
        record["over_budget"] = unit.query_count > max_queries
    return record


def _debug_headers(unit: Unit) -> list[tuple[str, str]]:
    headers = [(HEADER, str(unit.query_count))]
    findings = len(unit.detection.findings)  # the detectors, on the queries so far
    if findings:
        headers.append((FINDINGS_HEADER, str(findings)))
    return headers


class _Middleware:
    def __init__(
        self,
        debug: bool = False,
        config: DetectConfig | None = None,
        logger: logging.Logger | None = None,
        on_unit: Callable[[Unit], None] | None = None,
        max_queries: int | None = None,
        panel: bool = False,
        panel_path: str = PANEL_PATH,
        history: int = 50,
    ) -> None:
        if max_queries is not None:
            from dbaudit.runtime.budgets import check_query_count

            check_query_count(max_queries, "max_queries")
        self.debug = debug
        self.config = config
        self.logger = logger or log
        self.on_unit = on_unit
        self.max_queries = max_queries
        self.panel = panel
        self.panel_path = panel_path
        # bounded: a long-running process must not keep every request it ever served
        self.history: deque[RequestView] = deque(maxlen=history)

    def panel_page(self) -> bytes:
        return render(list(self.history)).encode()

    def _finish(self, endpoint: str, status: int | None, unit: Unit) -> None:
        try:
            record = request_record(endpoint, status, unit, self.max_queries)
            problem = record["findings"] or record.get("over_budget")
            level = logging.WARNING if problem else logging.INFO
            self.logger.log(level, json.dumps(record), extra={"dbaudit": record})
            if self.panel:
                self.history.append(view(record, unit))
            if self.on_unit is not None:
                self.on_unit(unit)
        except Exception:  # a logging or callback failure must not turn into a 500
            self.logger.exception("dbaudit: could not report request %s", endpoint)


class DbauditASGIMiddleware(_Middleware):
    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(**options)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        if self.panel and scope.get("path") == self.panel_path:
            body = self.panel_page()
            headers = [(b"content-type", PANEL_TYPE.encode()), (b"cache-control", b"no-store")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        endpoint = f"{scope.get('method', '')} {scope.get('path', '')}".strip()
        status: list[int] = []
        scope_profile = profile(endpoint, config=self.config)

        async def send_with_count(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))
                if self.debug:
                    headers = list(message.get("headers", []))
                    headers += [
                        (name.lower().encode(), value.encode())
                        for name, value in _debug_headers(unit)
                    ]
                    message = {**message, "headers": headers}
            await send(message)

        unit = scope_profile._enter(endpoint, request=True)
        try:
            await self.app(scope, receive, send_with_count)
        finally:
            scope_profile._exit(True)
            self._finish(endpoint, status[0] if status else None, unit)


class DbauditWSGIMiddleware(_Middleware):
    """The unit covers the application call; a lazily generated body runs outside it."""

    def __init__(self, app: WSGIApp, **options: Any) -> None:
        super().__init__(**options)
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.panel and environ.get("PATH_INFO") == self.panel_path:
            start_response("200 OK", [("Content-Type", PANEL_TYPE), ("Cache-Control", "no-store")])
            return [self.panel_page()]
        endpoint = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}".strip()
        status: list[int] = []
        scope_profile = profile(endpoint, config=self.config)
        unit = scope_profile._enter(endpoint, request=True)

        def start_with_count(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            with contextlib.suppress(ValueError):
                status.append(int(status_line.split(None, 1)[0]))
            if self.debug:
                headers = [*headers, *_debug_headers(unit)]
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, start_with_count)
        finally:
            scope_profile._exit(True)
            self._finish(endpoint, status[0] if status else None, unit)


_REQUEST_TYPES = frozenset({"http", "websocket"})


def _start_request() -> bool:
    """Mark a request's start for the unit open around it; True when marked. Never raises: a
    failure inside the profiler is counted (``profiler_errors``), the request goes on."""
    try:
        state = _units._get_state()  # in a thread with no unit: the threads' unit's, if any
        # no unit: nothing to mark. A request already: a mounted sub-application's call, or
        # an app inside a middleware's unit of the request, is the same request
        if state is None or state[2] is not None:
            return False
        request_started()
        return True
    except Exception as failure:
        _units._note_failure(failure)
        return False


def _finish_request() -> None:
    try:
        request_finished()
    except Exception as failure:  # never in place of the application's own exception
        _units._note_failure(failure)


async def _marked(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    if scope.get("type") not in _REQUEST_TYPES or not _start_request():
        await app(scope, receive, send)
        return
    try:
        await app(scope, receive, send)
    finally:
        _finish_request()


def mark_requests(app: ASGIApp) -> ASGIApp:
    """``app`` with each HTTP or WebSocket request it serves marked for the unit open around it
    (see the module docstring); what the app does is unchanged."""
    return functools.partial(_marked, app)


MARKS_REQUESTS = "__dbaudit_marks_requests__"  # on the Starlette.__call__ that marks requests
# (instrument_starlette's wrapper, the Starlette.__call__ it wrapped), and whether the wrapper
# marks (off after uninstrument_starlette when another library wrapped it since: it cannot be
# taken out from under that library's wrapper)
_starlette_call: tuple[Any, Any] | None = None
_starlette_marking = False


def instrument_starlette() -> bool:
    """Mark every request of every Starlette application (FastAPI's too: its ``__call__`` calls
    Starlette's), once Starlette is imported; True once done. Never imports Starlette itself: a
    run that does not use it pays one dict lookup. :func:`uninstrument_starlette` undoes it."""
    global _starlette_call, _starlette_marking
    applications = sys.modules.get("starlette.applications")
    starlette = getattr(applications, "Starlette", None)
    if starlette is None:
        return False
    call = starlette.__call__
    if getattr(call, MARKS_REQUESTS, False):  # ours, or another library's wrapper around it
        _starlette_marking = True
        return True

    @functools.wraps(call)
    async def marked_call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if _starlette_marking:
            await _marked(functools.partial(call, self), scope, receive, send)
        else:
            await call(self, scope, receive, send)

    setattr(marked_call, MARKS_REQUESTS, True)
    _starlette_call = (marked_call, call)
    _starlette_marking = True
    starlette.__call__ = marked_call
    return True


def uninstrument_starlette() -> None:
    """``Starlette.__call__`` as it was before :func:`instrument_starlette`; when another
    library wrapped it since (ours inside its wrapper), ours stays, marking nothing."""
    global _starlette_call, _starlette_marking
    _starlette_marking = False
    starlette: Any = getattr(sys.modules.get("starlette.applications"), "Starlette", None)
    ours, original = _starlette_call if _starlette_call is not None else (None, None)
    if starlette is not None and ours is not None and starlette.__dict__.get("__call__") is ours:
        starlette.__call__ = original
        _starlette_call = None
