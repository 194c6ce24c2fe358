"""The HTML audit: one self-contained file a reader opens in any browser, offline.

Everything is inline (CSS, a little JavaScript, SVG charts drawn here in Python); a Content
Security Policy with the hashes of the one style and one script block forbids every other
resource, so the report never touches the network and text from the audited code can never
run as script even if it slipped through escaping (it does not: every value is escaped).

Sections: summary cards, charts (findings by severity; queries per operation now and after the
fix; time in the database), a findings table filterable by severity and file (the filter lives
in the URL fragment, ``#severity=high,critical&file=app/dal/x.py``, so a filtered view can be
shared), one card per finding (the code with the problem lines highlighted, call chain, problem,
fix, query counts), operations already optimized, implementation priority, files not analyzed.

Charts read ``Audit.metrics`` when something was measured per operation; otherwise they show
the findings' query costs with loops assumed to run ``ASSUMED_LOOP_SIZE`` times, and time only
where a finding carries runtime evidence ("after" modelled from the measured time per query).
Estimates are always labelled as such.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from dbaudit import __version__
from dbaudit.findings import (
    Audit,
    DatabaseReview,
    Finding,
    GoodPractice,
    IndexRecommendation,
    OperationMetric,
    Severity,
)
from dbaudit.report import content, regression_tests
from dbaudit.report.common import (
    ASSUMED_LOOP_SIZE,
    SEVERITIES_DESC,
    after_text,
    analyzed_partly,
    before_text,
    evaluate_cost,
    evidence_text,
    has_loop_size,
    human_bytes,
    improvement,
    is_index_finding,
    is_server_finding,
    line_range,
    metric_totals,
    metrics_basis,
    milliseconds,
    not_analyzed,
    one_line,
    percent_change,
    plural,
    queries,
    rule_names,
    time_saved,
    timing_label,
    total_improvement,
)
from dbaudit.report.regression_tests import RegressionPlan, RegressionTest
from dbaudit.scan import skipped_by_design

# Chart and badge colours; the screenshot test looks for these exact pixels.
SEVERITY_COLOURS: dict[Severity, str] = {
    Severity.CRITICAL: "#9f1239",
    Severity.HIGH: "#dc2626",
    Severity.MEDIUM: "#f59e0b",
    Severity.LOW: "#3b82f6",
    Severity.INFO: "#94a3b8",
}
BEFORE_COLOUR = "#f97316"
AFTER_COLOUR = "#10b981"
RULE_COLOUR = "#475569"
# what the time chart shows, by what the metrics' milliseconds measure (common.timing_label)
TIME_CHART_TITLES: dict[str, str] = {
    "time in the database": "Time in the database per operation (ms)",
    "time per call, application code and network included": "Time per call (ms)",
    "time per operation": "Time per operation (ms)",
}
OUTLIER_RATIO = 10  # a bar this many times the next one is drawn broken
MAX_CHART_ROWS = 12  # the costliest operations; the table lists every finding

CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f4f6f9;--card:#fff;--accent:#1e3a8a}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
font-size:13px}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
header.top{background:linear-gradient(135deg,#0f172a,#1e3a8a);color:#fff;padding:28px 0 30px}
header.top .brand{font-size:12px;letter-spacing:.16em;text-transform:uppercase;opacity:.75}
header.top h1{margin:4px 0 8px;font-size:30px;font-weight:650}
header.top .meta{margin:0;opacity:.85;font-size:14px}
header.top code{background:rgba(255,255,255,.12);padding:1px 6px;border-radius:4px;color:#fff}
main.wrap{padding-top:24px;padding-bottom:40px}
section{margin:0 0 28px}
h2{font-size:20px;margin:0 0 12px}
h3{font-size:16px;margin:4px 0}
h4{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
margin:16px 0 6px}
.cards{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:16px}
.card,.panel,.finding,.practice{background:var(--card);border:1px solid var(--line);
border-radius:10px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
.card{padding:16px 18px}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted)}
.card .value{font-size:28px;font-weight:700;margin:2px 0}
.card .detail{font-size:13px;color:var(--muted)}
.charts{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,2fr);gap:16px}
.panel{padding:16px 18px}
.panel.wide{grid-column:1/-1}
.panel h3{margin:0}
.panel .sub{margin:2px 0 10px;font-size:13px;color:var(--muted)}
.panel .empty{color:var(--muted);font-size:14px;padding:18px 0}
svg.chart{display:block;width:100%;height:auto}
.scroll{overflow-x:auto}
svg.chart.wide{min-width:560px}
svg.chart.wide.xl{min-width:820px}
svg.chart text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
font-size:12px;fill:#334155}
svg.chart text.value{font-weight:600;fill:#0f172a}
svg.chart text.note{font-size:11px;fill:#64748b}
.panel h3.second{margin:18px 0 8px}
.legend{display:flex;gap:16px;font-size:13px;color:#334155;margin:0 0 6px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;
vertical-align:-1px}
.sw-before{background:#f97316}.sw-after{background:#10b981}
.filters{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin:0 0 12px}
.chip{display:inline-flex;align-items:center;gap:6px;border:1px solid var(--line);
background:#fff;border-radius:999px;padding:4px 12px 4px 8px;font-size:13px;cursor:pointer;
user-select:none}
.chip input{margin:0}
.chip .n{color:var(--muted)}
select{font:inherit;font-size:13px;padding:5px 8px;border:1px solid var(--line);
border-radius:8px;background:#fff;max-width:420px}
.shown{margin-left:auto;font-size:13px;color:var(--muted)}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line);
border-radius:10px;overflow:hidden;font-size:14px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f8fafc;font-size:12px;text-transform:uppercase;letter-spacing:.06em;
color:var(--muted)}
tr:last-child td{border-bottom:0}
td a{color:var(--accent);text-decoration:none}
td a:hover{text-decoration:underline}
table.findings{table-layout:fixed}
.c-sev{width:108px}.c-rule{width:76px}.c-where{width:21%}.c-fn{width:19%}.c-cost{width:15%}
td code{overflow-wrap:anywhere}
.badge{display:inline-block;min-width:64px;text-align:center;padding:2px 8px;
border-radius:999px;font-size:11px;font-weight:700;letter-spacing:.06em;color:#fff}
.sev-critical{background:#9f1239}.sev-high{background:#dc2626}.sev-medium{background:#f59e0b}
.sev-low{background:#3b82f6}.sev-info{background:#94a3b8}
.chip.sev-critical,.chip.sev-high,.chip.sev-medium,.chip.sev-low,.chip.sev-info{background:#fff}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%}
.finding{padding:18px 20px;margin:0 0 16px;border-left-width:5px}
.finding.b-critical{border-left-color:#9f1239}.finding.b-high{border-left-color:#dc2626}
.finding.b-medium{border-left-color:#f59e0b}.finding.b-low{border-left-color:#3b82f6}
.finding.b-info{border-left-color:#94a3b8}
.finding .rule{font-size:13px;color:var(--muted);margin-left:8px}
.where{margin:2px 0 0;font-size:13px;color:var(--muted)}
.costs{display:flex;flex-wrap:wrap;gap:8px 22px;margin:12px 0 0;padding:10px 14px;
background:#f8fafc;border:1px solid var(--line);border-radius:8px;font-size:14px}
.costs b{font-size:15px}
.gain{color:#047857;font-weight:700}
.tag{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
border:1px solid var(--line);border-radius:4px;padding:0 5px;margin-left:4px}
pre.code{margin:0;background:#0f172a;color:#e2e8f0;border-radius:8px;padding:10px 0;
overflow-x:auto;line-height:1.55}
pre.code .ln{display:block;padding:0 14px 0 0;white-space:pre}
pre.code .no{display:inline-block;width:52px;padding-right:12px;text-align:right;
color:#64748b;user-select:none}
pre.code .hl{background:rgba(248,113,113,.22);box-shadow:inset 3px 0 0 #f87171}
pre.code .hop{background:rgba(251,191,36,.16);box-shadow:inset 3px 0 0 #fbbf24}
pre.fix{background:#052e2b;color:#d1fae5}
.chain{margin:0;padding-left:22px;font-size:14px}
.chain li{margin:2px 0}
.problem p,.fixtext{margin:0}
.evidence{margin:10px 0 0;font-size:14px;color:#047857;font-weight:600}
.practice{padding:12px 16px;margin:0 0 10px}
.practice .kind{display:inline-block;background:#dcfce7;color:#166534;border-radius:999px;
font-size:11px;font-weight:700;padding:2px 8px;text-transform:uppercase;letter-spacing:.06em}
details summary{cursor:pointer;color:var(--accent);font-size:13px;margin-top:6px}
ol.phase{margin:4px 0 14px;padding-left:22px}
ol.phase li{margin:3px 0}
.note{font-size:13px;color:var(--muted)}
#priority a{color:var(--accent)}
ul.checklist{list-style:none;margin:4px 0 14px;padding:0}
ul.checklist li{padding:3px 0 3px 28px;position:relative}
ul.checklist li::before{content:"";position:absolute;left:2px;top:7px;width:13px;height:13px;
border:2px solid #94a3b8;border-radius:3px}
ul.checklist li.open::before{border-color:#dc2626}
ul.checklist li.pass::before{border-color:#10b981;background:#10b981}
ul.checklist li.pass::after{content:"";position:absolute;left:7px;top:9px;width:4px;height:8px;
border:solid #fff;border-width:0 2px 2px 0;transform:rotate(45deg)}
.dbfinding,.index,.test{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:12px 16px;margin:0 0 12px}
.index table,.test pre,.dbfinding pre,.index pre{margin-top:8px}
.prio{display:inline-block;border-radius:999px;font-size:11px;font-weight:700;padding:2px 8px;
text-transform:uppercase;letter-spacing:.06em;color:#fff;background:#f59e0b}
.prio-high{background:#dc2626}
ul.facts{margin:0 0 12px;padding-left:20px}
.kept{margin:10px 0 0;font-size:14px}
section>details table{margin-top:8px}
section>h3{margin:18px 0 8px}
.dbfinding a,.index a,.test a,#checklist a,#conclusion a,#testing a,#connections a{
color:var(--accent)}
footer{border-top:1px solid var(--line);padding:16px 0 32px;font-size:13px;color:var(--muted)}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}
.charts{grid-template-columns:minmax(0,1fr)}}
@media print{header.top{background:#0f172a}.filters{display:none}}
""".strip()

SCRIPT = """
(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter]"));
  var fileSelect = document.getElementById("file-filter");
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-severity][data-file]"));
  var counter = document.getElementById("shown-count");
  var none = document.getElementById("no-match");

  function apply(remember) {
    var wanted = {};
    boxes.forEach(function (box) { if (box.checked) { wanted[box.value] = true; } });
    var file = fileSelect ? fileSelect.value : "";
    var shown = 0;
    items.forEach(function (item) {
      var visible = wanted[item.getAttribute("data-severity")] === true &&
        (file === "" || item.getAttribute("data-file") === file);
      item.hidden = !visible;
      if (visible && item.tagName === "TR") { shown += 1; }
    });
    if (counter) { counter.textContent = String(shown); }
    if (none) { none.hidden = shown !== 0; }
    document.body.setAttribute("data-shown", String(shown));
    if (remember) {
      var params = new URLSearchParams();
      params.set("severity", Object.keys(wanted).join(","));
      if (file !== "") { params.set("file", file); }
      // a shareable link to this view; without history (some file: contexts) it is only lost
      if (window.history && history.replaceState) {
        history.replaceState(null, "", "#" + params.toString());
      }
    }
  }

  function fromFragment() {
    var params = new URLSearchParams(window.location.hash.slice(1));
    var severity = params.get("severity");
    if (severity !== null) {
      var chosen = severity.split(",");
      boxes.forEach(function (box) { box.checked = chosen.indexOf(box.value) >= 0; });
    }
    var file = params.get("file");
    if (file !== null && fileSelect) { fileSelect.value = file; }
  }

  boxes.forEach(function (box) { box.addEventListener("change", function () { apply(true); }); });
  if (fileSelect) { fileSelect.addEventListener("change", function () { apply(true); }); }
  fromFragment();
  apply(false);
})();
""".strip()


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{_csp_hash(CSS)}'; script-src '{_csp_hash(SCRIPT)}'; "
    "base-uri 'none'; form-action 'none'"
)

_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def render(audit: Audit, *, today: date | None = None) -> str:
    names = rule_names()
    ranked = content.rank(audit)
    anchors = content.anchors(ranked)
    tests = regression_tests.plan(audit, ranked)
    phases = content.phases(audit, tests)
    body = [
        _header(audit, today or date.today()),
        '<main class="wrap">',
        _cards(audit),
        _charts(audit),
        _findings_table(ranked, names, anchors),
        _finding_details(ranked, names, anchors, tests, audit.metrics),
        _practices(audit.good_practices),
        _database(audit, ranked, names, anchors),
        _connections(audit, ranked, names, anchors),
        _metrics_table(audit),
        _priority(phases, anchors),
        _testing(audit, tests, anchors),
        _checklist(audit, anchors),
        _conclusion(audit, phases, tests, anchors),
        _skipped(audit),
        "</main>",
        _footer(audit),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
            f"<title>Database Performance Audit: {_e(_scope_text(audit))}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *[part for part in body if part],
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


# --- small helpers ---------------------------------------------------------------------------


def _e(text: object) -> str:
    """Escape for element content and double-quoted attributes alike."""
    return escape(str(text), quote=True)


def _prose(text: str) -> str:
    """Escaped text with ``code`` spans (backticks) shown as code."""
    return _INLINE_CODE.sub(r"<code>\1</code>", _e(text))


def _scope_text(audit: Audit) -> str:
    return ", ".join(audit.roots) or "nothing"


def _sources(audit: Audit) -> str:
    kinds = {f.source for f in audit.findings}
    described = ["static analysis"]
    measured = any(f.evidence is not None for f in audit.findings)
    if "runtime" in kinds or measured or audit.metrics:
        described.append("runtime profile")
    review = audit.database
    if "live" in kinds or (review is not None and review.source == "live"):
        described.append("live database review")
    elif review is not None:
        described.append("schema from the models")
    return ", ".join(described)


def _number(value: float) -> str:
    """``2,551``, ``23.8``, ``1.5``, ``0.42``: as many digits as the size deserves."""
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- header and cards ------------------------------------------------------------------------


def _header(audit: Audit, today: date) -> str:
    roots = " ".join(f"<code>{_e(root)}</code>" for root in audit.roots) or "nothing"
    return (
        '<header class="top"><div class="wrap">'
        '<div class="brand">dbaudit report</div>'
        "<h1>Database Performance Audit</h1>"
        f'<p class="meta">Scope: {roots} · {today.isoformat()} · dbaudit {_e(__version__)} '
        f"· {_e(_sources(audit))}</p>"
        "</div></header>"
    )


def _cards(audit: Audit) -> str:
    lines = sum(f.lines for f in audit.files)
    layers = Counter(f.layer for f in audit.files)
    layer_text = ", ".join(f"{n} {layer}" for layer, n in layers.most_common())
    counts = Counter(f.severity for f in audit.findings)
    severity_text = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES_DESC if counts[s]) or "none"
    kinds = Counter(p.kind for p in audit.good_practices)
    kinds_text = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) or "none recognised"
    cards = [
        _card("Files audited", f"{len(audit.files):,}", f"{plural(lines, 'line')}; {layer_text}"),
        _card("Findings", f"{len(audit.findings):,}", severity_text),
        _card("Already optimized", f"{len(audit.good_practices):,}", kinds_text),
        _improvement_card(audit),
    ]
    return f'<section class="cards" aria-label="Summary">{"".join(cards)}</section>'


def _card(label: str, value: str, detail: str) -> str:
    return (
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="detail">{_e(detail)}</div></div>'
    )


def _improvement_card(audit: Audit) -> str:
    if audit.metrics:
        before = sum(m.queries_before for m in audit.metrics)
        after = sum(m.queries_after for m in audit.metrics)
        label = "measured" if all(m.measured for m in audit.metrics) else "after modelled"
        percent = (100 * (before - after)) // before if before > 0 else 0
        detail = f"{before:,} → {after:,} queries over {plural(len(audit.metrics), 'operation')}"
        return _card("Fewer queries", f"{percent}%", f"{detail} ({label})")
    total = total_improvement(audit.findings)
    if total is None:
        return _card("Fewer queries", "none", "no fix changes a query count")
    label = "measured" if total.measured else f"estimate, loops at N = {ASSUMED_LOOP_SIZE}"
    detail = f"{total.before:,} → {total.after:,} queries in the flagged operations ({label})"
    return _card("Fewer queries", f"{total.percent_fewer}%", detail)


# --- charts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChartRow:
    label: str
    before: float
    after: float


def _charts(audit: Audit) -> str:
    panels = [
        _severity_panel(audit.findings),
        _queries_panel(audit),
        _time_panel(audit),
    ]
    return (
        '<section class="charts" id="charts" aria-label="Charts">' + "".join(panels) + "</section>"
    )


def _severity_panel(findings: list[Finding]) -> str:
    counts = Counter(f.severity for f in findings)
    if not findings:
        chart = '<p class="empty">No findings.</p>'
    else:
        chart = severity_chart({s: counts.get(s, 0) for s in SEVERITIES_DESC})
    by_rule = ""
    if findings:
        rules = Counter(f.rule for f in findings).most_common(8)
        by_rule = f'<h3 class="second">Findings by rule</h3>{rule_chart(rules)}'
    return (
        '<div class="panel" id="chart-severity"><h3>Findings by severity</h3>'
        f'<p class="sub">{plural(len(findings), "finding")}</p>{chart}{by_rule}</div>'
    )


def rule_chart(counts: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per rule code, most frequent first."""
    names = rule_names()
    width, label_width, row, top = 360, 78, 26, 4
    largest = max((n for _, n in counts), default=0) or 1
    room = width - label_width - 40
    parts = []
    for index, (code, count) in enumerate(counts):
        y = top + index * row
        bar = max(2, round(room * count / largest))
        name = names.get(code, code)
        parts.append(
            f'<text x="0" y="{y + 14}"><title>{_e(name)}</title>{_e(code)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{bar}" height="15" rx="3" '
            f'fill="{RULE_COLOUR}"><title>{_e(code)} {_e(name)}: {count}</title></rect>'
            f'<text class="value" x="{label_width + bar + 6}" y="{y + 15}">{count}</text>'
        )
    height = top * 2 + row * len(counts)
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Findings by rule">{"".join(parts)}</svg>'
    )


def severity_chart(counts: dict[Severity, int]) -> str:
    """Horizontal bars, one per severity, longest for the largest count."""
    width, label_width, row, top = 360, 78, 30, 6
    largest = max(counts.values(), default=0) or 1
    room = width - label_width - 40
    parts = []
    for index, (severity, count) in enumerate(counts.items()):
        y = top + index * row
        bar = round(room * count / largest) if count else 0
        parts.append(
            f'<text x="0" y="{y + 15}">{_e(str(severity).capitalize())}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{room}" height="18" rx="3" '
            'fill="#f1f5f9"/>'
        )
        if bar:
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{bar}" height="18" rx="3" '
                f'fill="{SEVERITY_COLOURS[severity]}"><title>{count} {severity}</title></rect>'
            )
        parts.append(
            f'<text class="value" x="{label_width + max(bar, 0) + 6}" y="{y + 16}">{count}</text>'
        )
    height = top * 2 + row * len(counts)
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Findings by severity">{"".join(parts)}</svg>'
    )


def _queries_panel(audit: Audit) -> str:
    title = "Queries per operation: now and after the fix"
    if audit.metrics:
        rows = [ChartRow(m.name, m.queries_before, m.queries_after) for m in audit.metrics]
        sub = _metrics_label(audit.metrics, "queries issued per call")
    else:
        rows, measured = _estimated_query_rows(audit.findings)
        if measured == len(rows) and rows:
            sub = "queries per call, measured at runtime; after the fix from the fixed query cost"
        elif measured:
            sub = (
                f"{measured} operation(s) measured at runtime; elsewhere an estimate with loops"
                f" at N = {ASSUMED_LOOP_SIZE}"
            )
        else:
            sub = (
                "estimate: no database was measured; loops assumed to run "
                f"{ASSUMED_LOOP_SIZE} times"
            )
    if not rows:
        body = '<p class="empty">No finding changes how many queries an operation issues.</p>'
    else:
        body = _legend() + before_after_chart(rows, "queries", title)
    return (
        f'<div class="panel" id="chart-queries"><h3>{_e(title)}</h3>'
        f'<p class="sub">{_e(sub)}</p>{body}</div>'
    )


def _time_panel(audit: Audit) -> str:
    title = "Time in the database per operation (ms)"
    if audit.metrics:
        rows = [ChartRow(m.name, m.ms_before, m.ms_after) for m in audit.metrics]
        timing = timing_label(audit.metrics)
        title = TIME_CHART_TITLES[timing]
        sub = _metrics_label(audit.metrics, f"milliseconds: {timing}")
    else:
        rows = _evidence_time_rows(audit.findings)
        sub = (
            "before measured at runtime; after modelled: the queries each fix removes (a "
            "loop's become one batched query) taken off at their measured time per query"
        )
    if not rows:
        body = (
            '<p class="empty">Not measured: time needs a runtime profile '
            "(<code>pytest --dbaudit</code>) or <code>dbaudit demo</code>. "
            "Query counts above are from the code alone.</p>"
        )
        sub = "no runtime measurement in this audit"
    else:
        body = _legend() + before_after_chart(rows, "ms", title, width=1120)
    return (
        f'<div class="panel wide" id="chart-time"><h3>{_e(title)}</h3>'
        f'<p class="sub">{_e(sub)}</p>{body}</div>'
    )


def _metrics_label(metrics: Sequence[OperationMetric], what: str) -> str:
    if all(m.measured for m in metrics):
        return f"{what}, both sides measured against the database"
    if any(m.measured for m in metrics):
        return f"{what}; measured, except where 'after' is modelled from the fixed query cost"
    return f"{what}; before measured, after modelled from the fixed query cost"


def _legend() -> str:
    return (
        '<div class="legend"><span><span class="swatch sw-before"></span>now</span>'
        '<span><span class="swatch sw-after"></span>after the fix</span></div>'
    )


def _operation_label(finding: Finding) -> str:
    return finding.function or f"{finding.path}:{finding.line}"


def _estimated_query_rows(findings: Iterable[Finding]) -> tuple[list[ChartRow], int]:
    """The costliest finding per operation whose fix lowers the query count, and how many of
    them were measured."""
    chosen: dict[tuple[str, str], tuple[Finding, int, int, bool]] = {}
    for finding in findings:
        step = improvement(finding)
        if step is None or step.before <= step.after:
            continue
        key = (finding.path, _operation_label(finding))
        known = chosen.get(key)
        if known is None or step.before > known[1]:
            chosen[key] = (finding, step.before, step.after, step.measured)
    ranked = sorted(chosen.values(), key=lambda item: (-item[1], _operation_label(item[0])))
    ranked = ranked[:MAX_CHART_ROWS]
    rows = [ChartRow(_operation_label(f), before, after) for f, before, after, _ in ranked]
    return rows, sum(1 for *_, measured in ranked if measured)


def _evidence_time_rows(findings: Iterable[Finding]) -> list[ChartRow]:
    """Time in the database per operation: before as measured (the whole unit where its totals
    are known), after less what each of its findings' fixes saves (``time_saved``, modelled)."""
    before: dict[str, float] = {}
    saved: dict[str, float] = {}
    for finding in findings:
        evidence = finding.evidence
        if evidence is None or evidence.queries <= 0 or not finding.fixed_query_cost:
            continue
        modelled = time_saved(finding)
        if modelled is None or modelled.measured:
            continue
        label = _operation_label(finding)
        before[label] = max(before.get(label, 0.0), evidence.unit_ms or evidence.total_ms)
        saved[label] = saved.get(label, 0.0) + modelled.ms
    rows = {label: ChartRow(label, ms, max(0.0, ms - saved[label])) for label, ms in before.items()}
    return sorted(rows.values(), key=lambda r: -r.before)[:MAX_CHART_ROWS]


def before_after_chart(rows: Sequence[ChartRow], unit: str, title: str, width: int = 760) -> str:
    """Two horizontal bars per operation (now, after the fix) on one linear scale.

    ``width`` is the drawing's width in CSS pixels at a 1280 px window, so text keeps its size
    in the narrow and the full-width panel alike.
    """
    label_width, pair, gap, top = 230, 34, 12, 4
    scale, broken = chart_scale([v for r in rows for v in (r.before, r.after)])
    room = width - label_width - 70
    parts = []
    for index, row in enumerate(rows):
        y = top + index * (pair + gap)
        label = row.label if len(row.label) <= 32 else row.label[:31] + "…"
        parts.append(f'<text x="0" y="{y + 21}"><title>{_e(row.label)}</title>{_e(label)}</text>')
        for offset, value, colour, when in (
            (0, row.before, BEFORE_COLOUR, "now"),
            (17, row.after, AFTER_COLOUR, "after the fix"),
        ):
            bar = max(2, round(room * min(value, scale) / scale)) if value > 0 else 0
            shown = _number(value)
            parts.append(
                f'<rect x="{label_width}" y="{y + offset}" width="{bar}" height="15" rx="2" '
                f'fill="{colour}"><title>{_e(row.label)}: {shown} {unit} {when}</title></rect>'
                f'<text class="value" x="{label_width + bar + 6}" y="{y + offset + 12}">'
                f"{shown}</text>"
            )
            if value > scale:
                parts.append(_break_mark(label_width + round(room * 0.8), y + offset))
    height = top * 2 + len(rows) * (pair + gap) - gap
    if broken:
        parts.append(
            f'<text class="note" x="{label_width}" y="{height + 14}">Bars with a break are cut'
            " to fit the scale; the numbers are exact.</text>"
        )
        height += 22
    return (
        # on a narrow screen the chart scrolls sideways rather than shrinking its text
        f'<div class="scroll"><svg class="chart wide{" xl" if width > 800 else ""}" '
        f'viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(title)}">{"".join(parts)}</svg></div>'
    )


def chart_scale(values: Sequence[float]) -> tuple[float, bool]:
    """The value a full bar stands for, and whether the largest bars are cut to fit it.

    One operation often dwarfs the rest (2,551 queries next to 52): on a linear scale the
    others would be slivers, so when the largest value is over ten times the next one the
    scale ends a little above the next one and the outlier's bar is drawn broken.
    """
    distinct = sorted({v for v in values if v > 0}, reverse=True)
    if not distinct:
        return 1.0, False
    if len(distinct) >= 2 and distinct[0] > OUTLIER_RATIO * distinct[1]:
        return distinct[1] * 1.25, True
    return distinct[0], False


def _break_mark(x: int, y: int) -> str:
    return (
        f'<path d="M{x} {y + 17} l5 -19 M{x + 6} {y + 17} l5 -19" stroke="#ffffff" '
        'stroke-width="3"/>'
    )


# --- findings table --------------------------------------------------------------------------


def _findings_table(ranked: list[Finding], names: dict[str, str], anchors: dict[int, str]) -> str:
    if not ranked:
        return (
            '<section id="findings"><h2>Findings</h2>'
            '<p class="note">No finding at any severity.</p></section>'
        )
    counts = Counter(f.severity for f in ranked)
    chips = "".join(
        f'<label class="chip"><input type="checkbox" data-filter="severity" '
        f'value="{severity}" checked><span class="dot sev-{severity}"></span>'
        f'{_e(str(severity).capitalize())} <span class="n">{counts[severity]}</span></label>'
        for severity in SEVERITIES_DESC
        if counts[severity]
    )
    files = Counter(f.path for f in ranked)
    prefix = common_folder(list(files))
    options = "".join(
        f'<option value="{_e(path)}">{_e(path[len(prefix) :])} ({n})</option>'
        for path, n in sorted(files.items())
    )
    select = (
        '<select id="file-filter" aria-label="Filter by file">'
        f'<option value="">All files ({len(files)})</option>{options}</select>'
    )
    rows = "".join(_table_row(f, names, anchors[id(f)], prefix) for f in ranked)
    under = f'<p class="note">Files under <code>{_e(prefix)}</code></p>' if prefix else ""
    return (
        '<section id="findings"><h2>Findings</h2>'
        f'<div class="filters">{chips}{select}<span class="shown">'
        f'Showing <b id="shown-count">{len(ranked)}</b> of {len(ranked)}</span></div>{under}'
        '<table class="findings"><thead><tr><th class="c-sev">Severity</th>'
        '<th class="c-rule">Rule</th><th class="c-where">Location</th>'
        '<th class="c-fn">Function</th><th>Issue</th><th class="c-cost">Queries now → fixed</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
        '<p class="note" id="no-match" hidden>No finding matches these filters.</p></section>'
    )


def common_folder(paths: Sequence[str]) -> str:
    """The folder every relative path shares, with its trailing slash (``""`` if none)."""
    if not paths or any(p.startswith("/") or "://" in p for p in paths):
        return ""
    folders = [p.split("/")[:-1] for p in paths]
    shared: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return "/".join(shared) + "/" if shared else ""


def _table_row(finding: Finding, names: dict[str, str], anchor: str, prefix: str) -> str:
    severity = str(finding.severity)
    rule_title = f' title="{_e(names[finding.rule])}"' if finding.rule in names else ""
    short = finding.path[len(prefix) :]
    where = f"{short}:{finding.line}" if finding.line >= 1 else short
    cost = _e(finding.query_cost) if finding.query_cost else "-"
    if finding.fixed_query_cost:
        cost += f" → {_e(finding.fixed_query_cost)}"
    return (
        f'<tr data-severity="{severity}" data-file="{_e(finding.path)}">'
        f'<td><span class="badge sev-{severity}">{severity.upper()}</span></td>'
        f"<td{rule_title}>{_e(finding.rule)}</td>"
        f'<td><a href="#{anchor}" title="{_e(finding.path)}"><code>{_e(where)}</code></a></td>'
        f"<td><code>{_e(finding.function or '-')}</code></td>"
        f"<td>{_prose(finding.message)}</td>"
        f'<td class="num">{cost}</td></tr>'
    )


# --- finding cards ---------------------------------------------------------------------------


def _finding_details(
    ranked: list[Finding],
    names: dict[str, str],
    anchors: dict[int, str],
    tests: RegressionPlan,
    metrics: tuple[OperationMetric, ...] = (),
) -> str:
    if not ranked:
        return ""
    cards = "".join(_finding_card(f, names, anchors[id(f)], tests, metrics) for f in ranked)
    return f'<section id="details"><h2>Finding details</h2>{cards}</section>'


def _finding_card(
    finding: Finding,
    names: dict[str, str],
    anchor: str,
    tests: RegressionPlan,
    metrics: tuple[OperationMetric, ...] = (),
) -> str:
    severity = str(finding.severity)
    rule = finding.rule + (f" · {names[finding.rule]}" if finding.rule in names else "")
    where = [f"<code>{_e(finding.path)}</code>"]
    if finding.line >= 1:
        where.append(_e(line_range(finding.line, finding.end_line)))
    if finding.function:
        where.append(f"in <code>{_e(finding.function)}</code>")
    where.append(f"confidence {_e(finding.confidence)}")
    where.append(f"found by {_e(finding.source)} analysis")
    parts = [
        f'<article class="finding b-{severity}" id="{anchor}" data-severity="{severity}" '
        f'data-file="{_e(finding.path)}">',
        f'<span class="badge sev-{severity}">{severity.upper()}</span>'
        f'<span class="rule">{_e(rule)}</span>',
        f"<h3>{_prose(finding.message)}</h3>",
        f'<p class="where">{" · ".join(where)}</p>',
        _costs(finding, metrics),
    ]
    if finding.code:
        parts.append("<h4>Code</h4>")
        parts.append(code_excerpt(finding))
    if finding.call_chain:
        hops = "".join(
            f"<li><code>{_e(hop.path)}:{hop.line}</code> <code>{_e(hop.function)}</code>"
            + (f" — {_prose(hop.detail)}" if hop.detail else "")
            + "</li>"
            for hop in finding.call_chain
        )
        parts.append(f'<h4>Call chain</h4><ol class="chain">{hops}</ol>')
    problem = _prose(finding.problem or finding.message)
    parts.append(f'<div class="problem"><h4>Problem</h4><p>{problem}</p></div>')
    if finding.evidence is not None:
        parts.append(f'<p class="evidence">✔ {_e(evidence_text(finding))}</p>')
    if finding.fix is not None:
        parts.append(f'<h4>Fix</h4><p class="fixtext">{_prose(finding.fix.summary)}</p>')
        if finding.fix.code:
            parts.append(_plain_code(finding.fix.code, "fix"))
    parts.append(f'<p class="kept"><b>Kept fixed by:</b> {_safeguard(finding, tests)}</p>')
    parts.append("</article>")
    return "".join(parts)


def _safeguard(finding: Finding, tests: RegressionPlan) -> str:
    """The regression test (linked) or the CI check that keeps ``finding`` fixed."""
    test = tests.test_for(finding)
    if test is not None:
        number = tests.tests.index(test) + 1
        return (
            f'<a href="#test-{number}">test {number}</a> (<code>{_e(test.save_as)}</code>), '
            f"which fails above {_e(queries(str(test.budget)))}"
        )
    for safeguard in tests.safeguards:
        if safeguard.finding is finding:
            return f"{_prose(safeguard.check)} ({_e(safeguard.reason)})"
    return "<code>dbaudit check</code> in CI"


def _costs(finding: Finding, metrics: tuple[OperationMetric, ...] = ()) -> str:
    if not finding.query_cost and finding.evidence is None:
        return ""
    items = []
    if finding.evidence is not None:
        measured = before_text(finding).removesuffix(" measured")
        measured = measured.replace(" measured ", " ", 1)
        items.append(f'Now: <b>{_e(measured)}</b> <span class="tag">measured</span>')
    elif finding.query_cost:
        now = f"Now: <b>{_e(queries(finding.query_cost))}</b>"
        value = evaluate_cost(finding.query_cost)
        if has_loop_size(finding.query_cost) and value is not None:
            now += f" (≈{value:,} at N = {ASSUMED_LOOP_SIZE})"
        items.append(now)
    if finding.fixed_query_cost:
        items.append(f"After the fix: <b>{_e(after_text(finding, metrics))}</b>")
    step = improvement(finding)
    if step is not None and step.before > step.after:
        label = "" if step.measured else ' <span class="tag">estimate</span>'
        items.append(f'<span class="gain">{step.percent_fewer}% fewer queries</span>{label}')
    return f'<div class="costs">{"".join(f"<span>{item}</span>" for item in items)}</div>'


def code_excerpt(finding: Finding) -> str:
    """The finding's code, numbered from its first line, its lines (and call-chain hops in the
    same file) highlighted.

    ``Finding.code`` starts at ``Finding.line``; lines ``line``..``end_line`` are the problem.
    """
    hop_lines = {hop.line for hop in finding.call_chain if hop.path == finding.path}
    lines = finding.code.rstrip("\n").split("\n")
    out = []
    for offset, text in enumerate(lines):
        number = finding.line + offset if finding.line >= 1 else offset + 1
        if finding.line <= number <= max(finding.end_line, finding.line):
            kind = " hl"
        elif number in hop_lines:
            kind = " hop"
        else:
            kind = ""
        out.append(f'<span class="ln{kind}"><span class="no">{number}</span>{_e(text)}</span>')
    return f'<pre class="code"><code>{"".join(out)}</code></pre>'


def _plain_code(code: str, kind: str) -> str:
    lines = code.rstrip("\n").split("\n")
    out = "".join(
        f'<span class="ln"><span class="no">{n}</span>{_e(text)}</span>'
        for n, text in enumerate(lines, start=1)
    )
    return f'<pre class="code {kind}"><code>{out}</code></pre>'


# --- good practices, priority, skipped -------------------------------------------------------


def _practices(practices: list[GoodPractice]) -> str:
    if not practices:
        return ""
    items = []
    for practice in sorted(practices, key=lambda p: (p.path, p.line)):
        cost = f" · {_e(queries(practice.query_cost))}" if practice.query_cost else ""
        code = ""
        if practice.code:
            code = (
                f"<details><summary>Show code</summary>{_plain_code(practice.code, 'ok')}</details>"
            )
        items.append(
            '<div class="practice">'
            f'<span class="kind">{_e(practice.kind)}</span> '
            f"<b><code>{_e(practice.function or practice.path)}</code></b>"
            f'<p class="where"><code>{_e(practice.path)}</code> · '
            f"{_e(line_range(practice.line, practice.end_line))}{cost}</p>"
            f"<p>{_prose(practice.description)}</p>{code}</div>"
        )
    return (
        '<section id="optimized"><h2>Already optimized: keep these</h2>'
        + "".join(items)
        + "</section>"
    )


def _link(finding: Finding, anchors: dict[int, str], text: str) -> str:
    """A link to a finding's card; ``text`` is already HTML."""
    return f'<a href="#{anchors[id(finding)]}">{text}</a>'


def _group_link(group: content.FindingGroup, anchors: dict[int, str]) -> str:
    on = ", ".join(f"<code>{_e(subject)}</code>" for subject in group.subjects)
    return f"{_link(group.first, anchors, _e(group.label))} on {on}"


def _db_finding(finding: Finding, names: dict[str, str], anchors: dict[int, str]) -> str:
    severity = str(finding.severity)
    name = f" {names[finding.rule]}" if finding.rule in names else ""
    parts = [
        f'<div class="dbfinding"><span class="badge sev-{severity}">{severity.upper()}</span> '
        f"{_link(finding, anchors, f'<b>{_e(finding.rule)}</b>{_e(name)}')}: "
        f"{_prose(finding.message)}"
    ]
    if finding.problem and finding.problem != finding.message:
        parts.append(f'<p class="note">{_prose(finding.problem)}</p>')
    if finding.fix is not None:
        parts.append(f'<p class="fixtext"><b>Fix:</b> {_prose(finding.fix.summary)}</p>')
        if finding.fix.code:
            parts.append(_plain_code(finding.fix.code, "fix"))
    parts.append("</div>")
    return "".join(parts)


def _db_findings_table(
    findings: list[Finding], names: dict[str, str], anchors: dict[int, str]
) -> str:
    """Many findings of one rule: a table linking each card, then every fix in one block."""
    first = findings[0]
    name = f" {names[first.rule]}" if first.rule in names else ""
    rows = "".join(
        f"<tr><td>{_link(f, anchors, f'<code>{_e(content.subject(f))}</code>')}</td>"
        f"<td>{_prose(f.message)}</td></tr>"
        for f in findings
    )
    fixes = "\n".join(f.fix.code for f in findings if f.fix is not None and f.fix.code)
    code = _plain_code(fixes, "fix") if fixes else ""
    return (
        f'<div class="dbfinding"><b>{_e(first.rule)}</b>{_e(name)}: '
        f"{plural(len(findings), 'finding')}<table><thead><tr><th>Object</th><th>Finding</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>{code}</div>"
    )


# --- database indexing review ----------------------------------------------------------------

PLANNERS = {
    "hypopg": "HypoPG hypothetical indexes",
    "rollback": "real indexes built inside a transaction that was rolled back",
}


def _database(
    audit: Audit, ranked: list[Finding], names: dict[str, str], anchors: dict[int, str]
) -> str:
    review = audit.database
    health = [f for f in ranked if is_index_finding(f) and f.rule != "DBA401"]
    advice = [f for f in ranked if f.rule == "DBA401"]
    parts = ['<section id="database"><h2>Database indexing review</h2>']
    roots = " ".join(audit.roots) or "PATH"
    if review is None:
        parts.append(
            '<p class="note">No database or schema was reviewed. Run '
            f"<code>dbaudit audit {_e(roots)} --db postgresql://USER@HOST/DB</code> for index "
            "advice checked by the PostgreSQL planner, index health and connection settings "
            "(read-only: dbaudit never changes the database).</p>"
        )
        parts.extend(_db_finding(f, names, anchors) for f in [*advice, *health])
        parts.append("</section>")
        return "".join(parts)
    if review.source == "static":
        parts.append(
            f'<p class="note">Schema read from the models in <code>{_e(review.database)}</code> '
            f"({plural(review.tables, 'table')}); no database was asked, so nothing here is "
            "checked by the planner. Run with <code>--db URL</code> for planner-checked "
            "advice.</p>"
        )
        parts.append("<h3>Foreign keys without an index</h3>")
        if not health:
            parts.append('<p class="note">Every foreign key in the models has an index.</p>')
    else:
        parts.append(_live_summary(review))
        parts.append("<h3>Recommended indexes</h3>")
        if not review.recommendations:
            parts.append(
                '<p class="note">None: no candidate saved enough of the workload\'s planner '
                "cost to be worth its size and write cost.</p>"
            )
        for recommendation in review.recommendations:
            parts.append(_recommendation(recommendation, advice, anchors))
        parts.append("<h3>Index health</h3>")
        if not health:
            parts.append(
                '<p class="note">No foreign key without an index, no duplicate, unused or '
                "invalid index, no large table read mostly by sequential scans.</p>"
            )
    for group in content.same_rule_groups(health):
        if len(group) == 1:
            parts.append(_db_finding(group[0], names, anchors))
        else:
            parts.append(_db_findings_table(group, names, anchors))
    parts.append(_existing(review))
    if review.not_recommended:
        rows = "".join(
            f"<tr><td><code>{_e(r.ddl)}</code></td><td>{_e(r.reason)}</td></tr>"
            for r in review.not_recommended
        )
        parts.append(
            f"<details><summary>{plural(len(review.not_recommended), 'candidate')} tried and "
            "not recommended</summary><table><thead><tr><th>Candidate</th><th>Reason</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></details>"
        )
    if review.problems:
        items = "".join(f"<li>{_e(problem)}</li>" for problem in review.problems)
        parts.append(f"<h3>Not reviewed</h3><ul>{items}</ul>")
    parts.append("</section>")
    return "".join(parts)


def _live_summary(review: DatabaseReview) -> str:
    version = f"PostgreSQL {review.server_version}, " if review.server_version else ""
    planner = PLANNERS.get(review.planner, review.planner) or "the advisor did not run"
    items = [
        f"<li><b>Database:</b> <code>{_e(review.database)}</code> ({_e(version)}"
        f"{plural(review.tables, 'table')})</li>",
        f"<li><b>Workload:</b> {plural(review.workload_statements, 'statement')} from "
        f"{_e(review.workload_source or 'no source')}; judged with {_e(planner)}</li>",
    ]
    before, after = review.workload_cost_before, review.workload_cost_after
    if before > 0 and not review.recommendations:
        items.append(
            f"<li><b>Workload cost:</b> {before:,.1f} planner units; no index lowers it enough "
            "to be worth its size and write cost</li>"
        )
    elif before > 0:
        lower = round(100 * (before - after) / before)
        items.append(
            f"<li><b>Workload cost:</b> {before:,.1f} → {after:,.1f} planner units with the "
            f'recommended indexes (<span class="gain">{lower}% lower</span>)</li>'
        )
    return f'<ul class="facts">{"".join(items)}</ul>'


def _recommendation(
    recommendation: IndexRecommendation, advice: list[Finding], anchors: dict[int, str]
) -> str:
    finding = next(
        (f for f in advice if f.fix is not None and f.fix.code == recommendation.ddl), None
    )
    # the finding's card carries its anchor; this block links to it
    link = _link(finding, anchors, "DBA401") + " · " if finding is not None else ""
    rows = "".join(
        f"<tr><td><code>{_e(one_line(st.query, 120))}</code></td><td>{st.calls:,.0f}</td>"
        f"<td>{st.cost_before:,.1f} → {st.cost_after:,.1f}</td><td>"
        + (
            f"{_e(milliseconds(st.ms_before))} → {_e(milliseconds(st.ms_after))}"
            if st.ms_before is not None and st.ms_after is not None
            else "-"
        )
        + "</td></tr>"
        for st in recommendation.statements
    )
    table = (
        "<table><thead><tr><th>Statement</th><th>Calls</th><th>Planner cost before → after</th>"
        f"<th>Measured before → after</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    return (
        f'<div class="index">{link}<span class="prio prio-{_e(recommendation.priority)}">'
        f"{_e(recommendation.priority)} priority</span> <b><code>{_e(recommendation.table)}"
        f"</code></b> · {_e(human_bytes(recommendation.size_bytes))} · "
        f"{_prose(recommendation.reason)}{_plain_code(recommendation.ddl, 'fix')}{table}</div>"
    )


def _existing(review: DatabaseReview) -> str:
    if not review.existing_indexes:
        return '<h3>Already indexed</h3><p class="note">No index in the reviewed schema.</p>'
    rows = "".join(
        f"<tr><td><code>{_e(i.table)}</code></td><td><code>{_e(i.name)}</code></td>"
        f"<td><code>{_e(i.definition)}</code></td><td>{_e(i.backs_constraint or '-')}</td>"
        f"<td>{_e(human_bytes(i.size_bytes)) if i.size_bytes is not None else '-'}</td>"
        f"<td>{f'{i.scans:,}' if i.scans is not None else '-'}</td></tr>"
        for i in sorted(review.existing_indexes, key=lambda i: (i.table, i.name))
    )
    return (
        f"<h3>Already indexed</h3><details><summary>"
        f"{plural(len(review.existing_indexes), 'index', 'indexes')}</summary><table><thead><tr>"
        "<th>Table</th><th>Index</th><th>Definition</th><th>Backs</th><th>Size</th>"
        f"<th>Scans</th></tr></thead><tbody>{rows}</tbody></table></details>"
    )


# --- connection management review ------------------------------------------------------------

SETTING_RULES: dict[str, tuple[str, ...]] = {
    "max_connections": ("DBA503", "DBA504"),
    "statement_timeout": ("DBA501",),
    "idle_in_transaction_session_timeout": ("DBA502", "DBA505"),
}


def _connections(
    audit: Audit, ranked: list[Finding], names: dict[str, str], anchors: dict[int, str]
) -> str:
    pools = [f for f in ranked if f.rule == "DBA201"]
    server = [f for f in ranked if is_server_finding(f)]
    parts = ['<section id="connections"><h2>Connection management review</h2>']
    parts.append("<h3>Pool settings in code</h3>")
    if pools:
        for finding in pools:
            parts.append(
                '<div class="dbfinding">'
                + _link(finding, anchors, f"<code>{_e(finding.function or finding.path)}</code>")
                + f" (<code>{_e(finding.path)}:{finding.line}</code>): {_prose(finding.message)}"
            )
            if finding.fix is not None and finding.fix.code:
                parts.append(f'<p class="fixtext"><b>Use:</b> {_prose(finding.fix.summary)}</p>')
                parts.append(_plain_code(finding.fix.code, "fix"))
            parts.append("</div>")
    else:
        parts.append(
            '<p class="note">No engine or pool created with library defaults was found '
            "(DBA201).</p>"
        )
    review = audit.database
    parts.append("<h3>Server settings</h3>")
    if review is None or review.source != "live":
        parts.append(
            '<p class="note">Not reviewed: run with <code>--db URL</code> to check '
            "<code>statement_timeout</code>, <code>idle_in_transaction_session_timeout</code> "
            "and the headroom under <code>max_connections</code>.</p>"
        )
    else:
        rows = []
        for name, value in review.settings:
            related = [f for f in server if f.rule in SETTING_RULES.get(name, ())]
            advice = "; ".join(
                _link(f, anchors, _prose(f.fix.summary if f.fix is not None else f.message))
                for f in related
            )
            rows.append(
                f"<tr><td><code>{_e(name)}</code></td><td>{_e(value)}</td>"
                f"<td>{advice or 'no finding'}</td></tr>"
            )
        parts.append(
            "<table><thead><tr><th>Setting</th><th>Current</th><th>Recommended</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )
        if review.connections_by_state:
            states = "".join(
                f"<tr><td>{_e(state)}</td><td>{count:,}</td></tr>"
                for state, count in review.connections_by_state
            )
            parts.append(
                "<h3>Connections by state</h3><table><thead><tr><th>State</th>"
                f"<th>Connections</th></tr></thead><tbody>{states}</tbody></table>"
            )
    parts.extend(_db_finding(f, names, anchors) for f in server)
    parts.append("</section>")
    return "".join(parts)


# --- metrics table ---------------------------------------------------------------------------


def _metrics_table(audit: Audit) -> str:
    if not audit.metrics:
        return ""
    basis = metrics_basis(audit.metrics)
    title = {
        "measured": "Measured",
        "modelled": "Modelled from measured per-query latency",
        "partly modelled": "Measured, partly modelled",
    }[basis]
    timing = timing_label(audit.metrics)
    rows = []
    for metric in audit.metrics:
        label = "measured" if metric.measured else "after modelled"
        rows.append(
            f"<tr><td><code>{_e(metric.name)}</code></td><td>{metric.queries_before:,} → "
            f"{metric.queries_after:,}</td><td>{_e(milliseconds(metric.ms_before))} → "
            f'{_e(milliseconds(metric.ms_after))}</td><td class="gain">'
            f"{_e(percent_change(metric.ms_before, metric.ms_after))}</td><td>{label}</td></tr>"
        )
    totals = metric_totals(audit.metrics)
    rows.append(
        f"<tr><td><b>all {plural(totals.operations, 'operation')}</b></td>"
        f"<td><b>{totals.queries_before:,} → {totals.queries_after:,}</b></td>"
        f"<td><b>{_e(milliseconds(totals.ms_before))} → {_e(milliseconds(totals.ms_after))}"
        f'</b></td><td class="gain">{_e(percent_change(totals.ms_before, totals.ms_after))}'
        "</td><td></td></tr>"
    )
    return (
        f'<section id="metrics"><h2>Performance metrics: before and after ({_e(title)})</h2>'
        "<table><thead><tr><th>Operation</th><th>Queries</th>"
        f"<th>{_e(timing.capitalize())}</th><th>Change</th><th>Basis</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


# --- priority, testing, checklist, conclusion ------------------------------------------------


def _action(action: content.Action, anchors: dict[int, str]) -> str:
    finding = action.finding
    title = f"<b>{_prose(action.title)}</b>"
    if finding is not None:
        title = _link(finding, anchors, f"<b><code>{_e(action.title)}</code></b>")
    where = f" ({_prose(action.where)})" if action.where else ""
    gain = f' <span class="gain">{_e(action.gain)}</span>' if action.gain else ""
    code = _plain_code(action.code, "fix") if action.code else ""
    return f"<li>{title}{where}: {_prose(action.text)}{gain}{code}</li>"


def _priority(phases: list[content.Phase], anchors: dict[int, str]) -> str:
    out = ['<section id="priority"><h2>Implementation priority</h2>']
    start = 1
    for phase in phases:
        items = "".join(_action(action, anchors) for action in phase.actions)
        out.append(f'<h3>{_e(phase.title)}</h3><ol class="phase" start="{start}">{items}</ol>')
        start += len(phase.actions)
    out.append("</section>")
    return "".join(out)


def _testing(audit: Audit, tests: RegressionPlan, anchors: dict[int, str]) -> str:
    if not audit.findings:
        return ""
    parts = [
        '<section id="testing"><h2>Testing strategy</h2>',
        '<p class="note">Each fixed operation gets a test that fails when its query count '
        "climbs back above what the fix reaches. Python: dbaudit's <code>assert_max_queries"
        "</code> pytest fixture (fixtures named after the function's parameters come from your "
        "<code>conftest.py</code>). TypeScript: Vitest with a query counter (fixtures from "
        f"<code>{_e(regression_tests.FIXTURES_MODULE)}.ts</code>). A budget is the count dbaudit "
        "works out for the fixed code; a failing test lists every query it saw.</p>",
    ]
    for number, test in enumerate(tests.tests, start=1):
        parts.append(_test_card(number, test, anchors))
    # database findings: one row per rule (the live review checks them all again)
    by_finding = {id(s.finding): s for s in tests.safeguards}
    rows = []
    for item in content.collapse_database([s.finding for s in tests.safeguards], least=2):
        if isinstance(item, content.FindingGroup):
            on = ", ".join(f"<code>{_e(subject)}</code>" for subject in item.subjects)
            rows.append(
                f"<tr><td>{_link(item.first, anchors, _e(item.rule))}</td>"
                f"<td>{_e(item.label)} on {on}</td>"
                f"<td>{_safeguard(item.least_severe, tests)}</td></tr>"
            )
        else:
            finding = by_finding[id(item)].finding
            rows.append(
                f"<tr><td>{_link(finding, anchors, _e(finding.rule))}</td>"
                f"<td><code>{_e(finding.function or content.subject(finding))}</code></td>"
                f"<td>{_safeguard(finding, tests)}</td></tr>"
            )
    parts.append(
        "<h3>What keeps each finding fixed</h3><table><thead><tr><th>Rule</th><th>Operation"
        f"</th><th>Kept fixed by</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )
    return "".join(parts)


def _test_card(number: int, test: RegressionTest, anchors: dict[int, str]) -> str:
    kept = ", ".join(_link(f, anchors, f"{_e(f.rule)} line {f.line}") for f in test.findings)
    return (
        f'<div class="test" id="test-{number}"><h3>Test {number}: <code>{_e(test.operation)}'
        f"</code> stays at {_e(queries(str(test.budget)))}</h3>"
        f'<p class="where">Save as <code>{_e(test.save_as)}</code> · keeps fixed: {kept}</p>'
        f"{_plain_code(test.code, 'test')}</div>"
    )


def _checklist(audit: Audit, anchors: dict[int, str]) -> str:
    parts = [
        '<section id="checklist"><h2>Code review checklist</h2>',
        '<p class="note">Ticked: already passed by this codebase. Open items link to their '
        "findings.</p>",
    ]
    for title, results in content.checklist(audit):
        items = []
        for result in results:
            text = _prose(result.item.text)
            if result.state == "open":
                links = ", ".join(
                    _group_link(item, anchors)
                    if isinstance(item, content.FindingGroup)
                    else _link(
                        item,
                        anchors,
                        f"{_e(item.rule)} <code>{_e(content.subject_or_function(item))}</code>",
                    )
                    for item in content.collapse_database(list(result.findings))
                )
                items.append(f'<li class="open">{text}: {links}</li>')
            elif result.state == "pass":
                note = f'<span class="note">({_prose(result.note)})</span>'
                items.append(f'<li class="pass">{text} {note}</li>')
            else:
                items.append(
                    f'<li class="unverified">{text} <span class="note">(not verified: '
                    f"{_prose(result.note)})</span></li>"
                )
        parts.append(f'<h3>{_e(title)}</h3><ul class="checklist">{"".join(items)}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _conclusion(
    audit: Audit, phases: list[content.Phase], tests: RegressionPlan, anchors: dict[int, str]
) -> str:
    actions = "".join(_action(a, anchors) for a in content.immediate_actions(phases))
    impact = []
    if audit.metrics:
        totals = metric_totals(audit.metrics)
        basis = metrics_basis(audit.metrics)
        impact.append(
            f"{totals.queries_before:,} → {totals.queries_after:,} queries and "
            f"{milliseconds(totals.ms_before)} → {milliseconds(totals.ms_after)} "
            f"({timing_label(audit.metrics)}) over {plural(totals.operations, 'operation')}, "
            f"{basis}"
        )
    else:
        total = total_improvement(f for f in audit.findings if f.query_cost)
        if total is not None:
            label = "measured" if total.measured else f"estimate at N = {ASSUMED_LOOP_SIZE}"
            impact.append(
                f"{total.before:,} → {total.after:,} queries in the flagged operations "
                f"({total.percent_fewer}% fewer, {label})"
            )
    review = audit.database
    if review is not None and review.recommendations and review.workload_cost_before > 0:
        impact.append(
            f"workload planner cost {review.workload_cost_before:,.1f} → "
            f"{review.workload_cost_after:,.1f} with "
            f"{plural(len(review.recommendations), 'index', 'indexes')}"
        )
    if tests.tests:
        impact.append(f"{plural(len(tests.tests), 'regression test')} keep the fixes in place")
    items = "".join(f"<li>{_e(item)}</li>" for item in impact)
    return (
        f'<section id="conclusion"><h2>Conclusion</h2><p>{_prose(content.summary(audit))}</p>'
        "<h3>Immediate action items</h3>"
        f'<ol class="phase">{actions}</ol><h3>Expected overall impact</h3><ul>{items}</ul>'
        "</section>"
    )


def _skipped(audit: Audit) -> str:
    if not audit.skipped:
        return ""
    skipped = not_analyzed(audit)
    broken = [s for s in skipped if not skipped_by_design(s)]
    by_design = [s for s in skipped if skipped_by_design(s)]
    partly = analyzed_partly(audit)
    parts = ['<section id="skipped"><h2>Files not analyzed</h2>']
    if broken:
        rows = "".join(
            f"<tr><td><code>{_e(s.path)}</code></td><td>{_e(s.reason)}</td></tr>" for s in broken
        )
        parts.append(
            f"<table><thead><tr><th>File</th><th>Reason</th></tr></thead><tbody>{rows}</tbody>"
            "</table>"
        )
    if by_design:
        # an empty or oversized file was left out on purpose: summarised, still listed
        reasons = Counter(s.reason.split(" (")[0] for s in by_design)
        summary = ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
        items = "".join(f"<li><code>{_e(s.path)}</code>: {_e(s.reason)}</li>" for s in by_design)
        parts.append(
            f'<p class="note">Skipped by design: {_e(summary)}.</p>'
            f"<details><summary>Files skipped by design</summary><ul>{items}</ul></details>"
        )
    if partly:
        items = "".join(f"<li><code>{_e(s.path)}</code>: {_e(s.reason)}</li>" for s in partly)
        parts.append(
            f'<p class="note">Partly analyzed (audited as far as the parser recovered, and '
            f"counted among the files audited): {plural(len(partly), 'file')}.</p>"
            f"<details><summary>Files partly analyzed</summary><ul>{items}</ul></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _footer(audit: Audit) -> str:
    if audit.metrics or not any(f.evidence is None for f in audit.findings):
        note = "Query counts and times marked measured come from running the code."
    else:
        note = (
            f"Numbers marked estimate were not measured: loops are assumed to run "
            f"{ASSUMED_LOOP_SIZE} times. Measure them with <code>pytest --dbaudit</code>."
        )
    return (
        f'<footer><div class="wrap">Generated by dbaudit {_e(__version__)}. {note}</div></footer>'
    )
