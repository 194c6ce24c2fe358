"""The middleware's debug panel: one self-contained HTML page of the last requests.

Each request the middleware profiled becomes a :class:`RequestView` (what the page needs, built
once when the request ends); :func:`render` turns the kept views into the page (pure). The page
has no script, no stylesheet link, nothing fetched from anywhere. It shows statement *shapes*
(normalised SQL, values replaced by ``?``) and the lines of code that sent them, never a value:
still, SQL shapes and file names tell a reader much about an application, so the panel is off
unless asked for (``panel=True``), and meant for development.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from dbaudit.runtime.budgets import worst_statements

STATEMENTS_SHOWN = 10

_STYLE = """
:root { color-scheme: light dark; --line:#d0d7de; --muted:#6e7781; --bad:#cf222e; --ok:#1a7f37 }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif }
header, main { padding:1rem 1.5rem } header { border-bottom:1px solid var(--line) }
h1 { margin:0; font-size:1.1rem } .muted { color:var(--muted) }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums }
th, td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid var(--line);
  vertical-align:top }
th { font-size:.75rem; text-transform:uppercase; color:var(--muted) } .num { text-align:right }
tr.problem td:first-child { border-left:3px solid var(--bad) }
.finding { margin:.3rem 0 } .finding b { color:var(--bad) } .fix { color:var(--ok) }
code, pre { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:.8rem }
pre { margin:.2rem 0; white-space:pre-wrap } summary { cursor:pointer; color:var(--muted) }
"""


@dataclass(frozen=True, slots=True)
class FindingView:
    rule: str
    where: str  # path:line (function)
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class StatementView:
    sql: str
    executions: int
    total_ms: float
    where: str


@dataclass(frozen=True, slots=True)
class RequestView:
    """One request as the panel shows it."""

    at: float  # time.time() when it ended
    endpoint: str
    status: int | None
    queries: int
    db_ms: float
    request_ms: float
    findings: tuple[FindingView, ...]
    statements: tuple[StatementView, ...]
    over_budget: bool = False


def view(record: dict[str, Any], unit: Any) -> RequestView:
    """The panel's view of a finished request: its log record and its unit."""
    findings = tuple(
        FindingView(
            f.rule,
            f"{f.path}:{f.line}" + (f" ({f.function})" if f.function else ""),
            f.message,
            (f.fix.code or f.fix.summary) if f.fix is not None else "",
        )
        for f in unit.findings
    )
    statements = tuple(
        StatementView(s.sql, s.executions, s.total_ms, str(s.site) if s.site else "")
        for s in worst_statements(unit.events, STATEMENTS_SHOWN)
    )
    return RequestView(
        at=time.time(),
        endpoint=str(record["endpoint"]),
        status=record["status"],
        queries=int(record["queries"]),
        db_ms=float(record["db_ms"]),
        request_ms=float(record["request_ms"]),
        findings=findings,
        statements=statements,
        over_budget=bool(record.get("over_budget", False)),
    )


def render(requests: Sequence[RequestView], title: str = "dbaudit: recent requests") -> str:
    """The whole page, newest request first (pure; every text escaped)."""
    rows = "".join(_row(request) for request in reversed(requests))
    if not rows:
        rows = '<tr><td colspan="6" class="muted">No request profiled yet.</td></tr>'
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><span class=muted>{len(requests)} requests; "
        "SQL shapes only, never values</span></header><main><table><thead><tr>"
        "<th>Time</th><th>Request</th><th class=num>Status</th><th class=num>Queries</th>"
        "<th class=num>DB ms</th><th class=num>Request ms</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></main></body></html>\n"
    )


def _row(request: RequestView) -> str:
    problem = " class=problem" if request.findings or request.over_budget else ""
    when = time.strftime("%H:%M:%S", time.localtime(request.at))
    budget = " <b>over budget</b>" if request.over_budget else ""
    findings = "".join(
        f"<div class=finding><b>{escape(f.rule)}</b> {escape(f.message)}"
        f"<div class=muted>{escape(f.where)}</div>"
        + (f"<pre class=fix>{escape(f.fix)}</pre>" if f.fix else "")
        + "</div>"
        for f in request.findings
    )
    statements = "".join(
        f"<pre>{s.total_ms:8.1f} ms {s.executions:4d}x  {escape(s.sql)}"
        + (f"\n{'':20}{escape(s.where)}" if s.where else "")
        + "</pre>"
        for s in request.statements
    )
    details = (
        f"<details><summary>statements, most time first</summary>{statements}</details>"
        if statements
        else ""
    )
    status = "" if request.status is None else str(request.status)
    return (
        f"<tr{problem}><td>{when}</td><td><code>{escape(request.endpoint)}</code>{budget}"
        f"{findings}{details}</td><td class=num>{status}</td>"
        f"<td class=num>{request.queries}</td><td class=num>{request.db_ms:.1f}</td>"
        f"<td class=num>{request.request_ms:.1f}</td></tr>"
    )
