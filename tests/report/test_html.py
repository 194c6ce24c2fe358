"""The HTML report: structure, escaping, charts, and a real browser (headless Chromium).

The browser tests need Debian's ``chromium``; without it they skip, unless
``DBAUDIT_REQUIRE_CHROMIUM=1`` (CI) makes a missing browser a failure.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

import dbaudit.reference.render_platform as platform
from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.cli import main
from dbaudit.findings import (
    Audit,
    CallHop,
    Finding,
    Fix,
    GoodPractice,
    OperationMetric,
    Severity,
    SkippedFile,
)
from dbaudit.report import FORMATS, html

AUDIT_DATE = date(2026, 1, 15)
APP = Path(platform.__file__).parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


class Elements(HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Elements:
    parser = Elements()
    parser.feed(document)
    parser.close()
    return parser


def _report(audit: Audit) -> str:
    return html.render(audit, today=AUDIT_DATE)


# --- structure -------------------------------------------------------------------------------


def test_html_report_matches_golden(sample_audit: Audit, golden) -> None:
    golden.check("sample.html", _report(sample_audit))


def test_reference_app_html_matches_golden(golden) -> None:
    options = AuditOptions(use_cache=False, jobs=1, cwd=str(APP), use_project_config=False)
    golden.check("reference-naive.html", _report(run_static_audit(["naive"], options)))


def test_one_self_contained_file_that_loads_nothing(sample_audit: Audit) -> None:
    document = _report(sample_audit)
    tags = parse(document).tags
    assert "html" in FORMATS
    assert document.startswith("<!DOCTYPE html>")
    assert [tag for tag, _ in tags if tag in ("link", "img", "iframe", "object", "embed")] == []
    assert all("src" not in attrs for tag, attrs in tags if tag == "script")
    assert "url(" not in document and "@import" not in document
    assert "http://" not in document and "https://" not in document


def test_content_security_policy_allows_only_the_inline_style_and_script(
    sample_audit: Audit,
) -> None:
    document = _report(sample_audit)
    csp = next(
        attrs["content"]
        for tag, attrs in parse(document).tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    style = re.search(r"<style>(.*?)</style>", document, re.S)
    script = re.search(r"<script>(.*?)</script>", document, re.S)
    assert style is not None and script is not None

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert "default-src 'none'" in csp
    assert f"style-src 'sha256-{digest(style.group(1))}'" in csp
    assert f"script-src 'sha256-{digest(script.group(1))}'" in csp
    assert "unsafe-inline" not in csp


def test_sections_cards_and_charts(sample_audit: Audit) -> None:
    document = _report(sample_audit)
    ids = {attrs.get("id") for _, attrs in parse(document).tags}
    assert {"charts", "chart-severity", "chart-queries", "chart-time", "findings"} <= ids
    assert {"details", "optimized", "priority", "skipped"} <= ids
    assert "<title>Database Performance Audit: app</title>" in document
    assert "2026-01-15" in document
    # 52 measured queries -> 3 after the fix
    assert '<div class="value">94%</div>' in document
    assert "52 → 3 queries in the flagged operations (measured)" in document


def test_severity_chart_draws_one_bar_per_severity_present(sample_audit: Audit) -> None:
    document = _report(sample_audit)
    chart = document[document.index('id="chart-severity"') : document.index('id="chart-queries"')]
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"><title>(\d+) (\w+)</title>', chart)
    assert sorted(bars) == sorted(
        [
            (html.SEVERITY_COLOURS[Severity.HIGH], "1", "high"),
            (html.SEVERITY_COLOURS[Severity.MEDIUM], "1", "medium"),
            (html.SEVERITY_COLOURS[Severity.INFO], "1", "info"),
        ]
    )


def test_query_and_time_charts_from_findings_label_what_was_measured(sample_audit: Audit) -> None:
    document = _report(sample_audit)
    queries = document[document.index('id="chart-queries"') : document.index('id="chart-time"')]
    assert "RenderChainService.delete_chain: 52 queries now" in queries
    assert "RenderChainService.delete_chain: 3 queries after the fix" in queries
    assert "measured at runtime" in queries
    time = document[document.index('id="chart-time"') : document.index('id="findings"')]
    # 412.5 ms for the loop's 52 queries; they become one batched query at the same time per
    # query (7.93 ms)
    assert "RenderChainService.delete_chain: 412 ms now" in time
    assert "RenderChainService.delete_chain: 7.93 ms after the fix" in time
    assert "after modelled" in time


def test_charts_from_measured_operation_metrics() -> None:
    metrics = (
        OperationMetric("get_user_projects", 51, 2, 38.0, 3.1),
        OperationMetric("delete_chain", 52, 2, 61.5, 4.25),
    )
    document = _report(Audit(roots=("app",), metrics=metrics))
    queries = document[document.index('id="chart-queries"') : document.index('id="chart-time"')]
    assert "both sides measured" in queries
    assert "get_user_projects: 51 queries now" in queries
    assert "delete_chain: 2 queries after the fix" in queries
    start = document.index('id="chart-time"')
    time = document[start : document.index("</section>", start)]
    assert "get_user_projects: 38 ms now" in time
    assert "delete_chain: 4.25 ms after the fix" in time
    assert '<div class="value">96%</div>' in document  # 103 -> 4 queries
    modelled = _report(
        Audit(metrics=(OperationMetric("get_user_projects", 51, 2, 38.0, 1.5, measured=False),))
    )
    assert "before measured, after modelled" in modelled


def test_without_measurements_time_is_not_drawn_and_counts_are_estimates() -> None:
    finding = Finding(
        "DBA101",
        Severity.HIGH,
        "query in a loop",
        "a/dal.py",
        3,
        4,
        function="get_all",
        query_cost="1 + N",
        fixed_query_cost="2",
        code="for x in xs:\n    await s.get(X, x)",
    )
    document = _report(Audit(roots=("a",), findings=[finding]))
    assert "estimate: no database was measured; loops assumed to run 50 times" in document
    assert "get_all: 51 queries now" in document
    assert "Not measured: time needs a runtime profile" in document
    assert "(≈51 at N = 50)" in document
    assert '<span class="tag">estimate</span>' in document


def test_chart_scale_breaks_a_bar_that_dwarfs_the_rest() -> None:
    assert html.chart_scale([2551, 3, 52, 3, 51, 2]) == (65.0, True)
    assert html.chart_scale([52, 3, 51, 2]) == (52, False)
    assert html.chart_scale([50, 3, 10, 2]) == (50, False)  # 5 times: still readable
    assert html.chart_scale([]) == (1.0, False)
    rows = [html.ChartRow("huge", 2551, 3), html.ChartRow("small", 52, 3)]
    chart = html.before_after_chart(rows, "queries", "t")
    assert chart.count("<path ") == 1  # one break mark, on the 2,551 bar
    assert ">2,551</text>" in chart  # the number stays exact


def test_findings_table_rows_and_file_filter(sample_audit: Audit) -> None:
    elements = parse(_report(sample_audit)).tags
    rows = [attrs for tag, attrs in elements if tag == "tr" and "data-severity" in attrs]
    assert [(r["data-severity"], r["data-file"]) for r in rows] == [
        ("high", "app/services/render_chain.py"),
        ("medium", "app/services/profile_stats.py"),
        ("info", "app/actions/projects.py"),
    ]
    boxes = [a["value"] for t, a in elements if t == "input" and a.get("data-filter")]
    assert boxes == ["high", "medium", "info"]
    options = [a["value"] for t, a in elements if t == "option"]
    assert options == [
        "",
        "app/actions/projects.py",
        "app/services/profile_stats.py",
        "app/services/render_chain.py",
    ]
    cards = [a for t, a in elements if t == "article"]
    assert [c["data-file"] for c in cards] == [r["data-file"] for r in rows]


def test_common_folder() -> None:
    assert html.common_folder(["src/app/a.py", "src/app/dal/b.py"]) == "src/app/"
    assert html.common_folder(["a.py", "src/b.py"]) == ""
    assert html.common_folder(["db://x/t", "src/b.py"]) == ""
    assert html.common_folder([]) == ""


def test_code_excerpt_numbers_and_highlights_the_problem_lines() -> None:
    finding = Finding(
        "DBA102",
        Severity.HIGH,
        "m",
        "app/s.py",
        10,
        11,
        code="for p in ps:\n    x = 1\n    y = 2\n    await helper(p)\n    z = 3\n",
        call_chain=(CallHop("app/s.py", 13, "f", "calls helper"), CallHop("app/d.py", 11, "h")),
    )
    lines = re.findall(
        r'<span class="ln( \w+)?"><span class="no">(\d+)</span>', html.code_excerpt(finding)
    )
    assert lines == [(" hl", "10"), (" hl", "11"), ("", "12"), (" hop", "13"), ("", "14")]


# --- escaping --------------------------------------------------------------------------------

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"


def hostile_audit() -> Audit:
    finding = Finding(
        rule="DBA101",
        severity=Severity.HIGH,
        message=f"query in `{HOSTILE}` loop {HOSTILE}",
        path=f"app/{HOSTILE}.py",
        line=2,
        end_line=3,
        function=HOSTILE,
        query_cost=HOSTILE,
        fixed_query_cost=HOSTILE,
        code=f"</code></pre>{HOSTILE}\nx = '{HOSTILE}'",
        problem=HOSTILE,
        fix=Fix(HOSTILE, f"</pre>{HOSTILE}", HOSTILE),
        call_chain=(CallHop(HOSTILE, 3, HOSTILE, HOSTILE),),
    )
    return Audit(
        roots=(HOSTILE,),
        findings=[finding],
        good_practices=[GoodPractice(HOSTILE, HOSTILE, 1, 2, HOSTILE, HOSTILE, HOSTILE, HOSTILE)],
        skipped=[SkippedFile(HOSTILE, HOSTILE)],
        metrics=(OperationMetric(HOSTILE, 3, 1, 2.0, 1.0),),
    )


def test_text_from_the_audited_code_cannot_become_markup() -> None:
    document = _report(hostile_audit())
    elements = parse(document)
    tags = [tag for tag, _ in elements.tags]
    assert tags.count("script") == 1  # ours, at the end
    assert "img" not in tags
    for _, attrs in elements.tags:
        assert not [name for name in attrs if name.startswith("on")]
    # and the text survives, readable, as text
    assert HOSTILE in "".join(elements.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&gt;&lt;img" in document


# --- the audit command -----------------------------------------------------------------------


def test_audit_command_writes_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "items.py").write_text(
        "from sqlalchemy import select\n\n\n"
        "async def load(session, ids):\n"
        "    rows = []\n"
        "    for item_id in ids:\n"
        "        rows.append(await session.scalar(select(Item).where(Item.id == item_id)))\n"
        "    return rows\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "app", "--format", "html", "-o", "out.html", "--no-cache"]) == 0
    document = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert 'data-file="app/items.py"' in document
    assert "load: 50 queries now" in document  # cost N, loops assumed at 50


# --- a real browser --------------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("DBAUDIT_REQUIRE_CHROMIUM") == "1":
            pytest.fail("DBAUDIT_REQUIRE_CHROMIUM=1 but no chromium on PATH")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


def run_chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="dbaudit-chromium-") as profile:
        return subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def console_messages(stderr: str) -> list[str]:
    """Console output Chromium logs with --enable-logging=stderr: errors, CSP violations."""
    return [line for line in stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]


def dump_dom(path: Path, fragment: str = "") -> tuple[str, list[str]]:
    done = run_chromium(path.as_uri() + fragment, "--enable-logging=stderr", "--v=0", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, console_messages(done.stderr)


def _body_attribute(dom: str, name: str) -> str | None:
    body = next(attrs for tag, attrs in parse(dom).tags if tag == "body")
    return body.get(name)


def test_browser_renders_the_reference_app_report_without_console_errors(tmp_path: Path) -> None:
    chromium()
    audit = run_static_audit([str(APP / "naive")], AuditOptions(use_cache=False, jobs=1))
    page = tmp_path / "audit.html"
    page.write_text(html.render(audit), encoding="utf-8")
    dom, console = dump_dom(page)
    assert console == []
    # the filter script ran: every finding shown
    assert _body_attribute(dom, "data-shown") == str(len(audit.findings))


def test_browser_applies_the_filter_from_the_url_fragment(
    sample_audit: Audit, tmp_path: Path
) -> None:
    chromium()
    page = tmp_path / "audit.html"
    page.write_text(_report(sample_audit), encoding="utf-8")
    dom, console = dump_dom(page, "#severity=high,info&file=app/actions/projects.py")
    assert console == []
    assert _body_attribute(dom, "data-shown") == "1"
    rows = [a for t, a in parse(dom).tags if t == "tr" and "data-severity" in a]
    assert [("hidden" in r, r["data-file"]) for r in rows] == [
        (True, "app/services/render_chain.py"),
        (True, "app/services/profile_stats.py"),
        (False, "app/actions/projects.py"),
    ]


def test_browser_console_check_catches_errors_and_the_policy_blocks_the_network(
    sample_audit: Audit, tmp_path: Path
) -> None:
    chromium()
    page = tmp_path / "audit.html"
    tampered = _report(sample_audit).replace(
        "</main>", '<img src="https://example.invalid/pixel.png"></main>'
    )
    page.write_text(tampered, encoding="utf-8")
    _, console = dump_dom(page)
    assert any("Content Security Policy" in line for line in console), console


def _pixels_near(image: object, colour: str, tolerance: int = 4) -> int:
    from PIL import Image

    assert isinstance(image, Image.Image)
    target = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    rgb = image.convert("RGB")
    return sum(
        count
        for count, pixel in rgb.getcolors(maxcolors=1 << 24) or []
        if all(
            abs(channel - want) <= tolerance for channel, want in zip(pixel, target, strict=True)
        )
    )


def test_screenshot_shows_the_charts_drawn(sample_audit: Audit, tmp_path: Path) -> None:
    chromium()
    from PIL import Image

    audit = replace(
        sample_audit,
        metrics=(
            OperationMetric("get_user_projects", 51, 2, 38.0, 3.0),
            OperationMetric("delete_chain", 52, 2, 61.0, 4.0),
            OperationMetric("get_render_with_context", 4, 1, 5.0, 1.5),
        ),
    )
    document = _report(audit)
    # only the header, summary cards and charts: badges further down share the chart colours
    charts_only = (
        document[: document.index('<section id="findings">')]
        + document[document.index("</main>") :]
    )
    page = tmp_path / "charts.html"
    page.write_text(charts_only, encoding="utf-8")
    shot = tmp_path / "charts.png"
    done = run_chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1280,1600")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image = Image.open(shot)
    for severity in (Severity.HIGH, Severity.MEDIUM, Severity.INFO):
        assert _pixels_near(image, html.SEVERITY_COLOURS[severity]) > 300, severity
    for absent in (Severity.CRITICAL, Severity.LOW):
        assert _pixels_near(image, html.SEVERITY_COLOURS[absent]) < 50, absent
    # before/after bars of two charts, far more than the legend swatches (11 x 11 each)
    assert _pixels_near(image, html.BEFORE_COLOUR) > 4000
    assert _pixels_near(image, html.AFTER_COLOUR) > 800
    assert _pixels_near(image, html.RULE_COLOUR) > 300


def test_checklist_and_files_skipped_by_design(sample_audit: Audit) -> None:
    audit = replace(
        sample_audit,
        skipped=[*sample_audit.skipped, SkippedFile("app/big.py", "too large (3 MiB)")],
    )
    document = _report(audit)
    checklist = document[document.index('id="checklist"') : document.index('id="conclusion"')]
    assert (
        '<li class="open">Writes of many rows are one statement (<code>UPDATE ... WHERE id IN '
        "(...)</code>, a multi-row <code>INSERT</code>, <code>executemany</code>): "
        '<a href="#finding-1">DBA103 <code>RenderChainService.delete_chain</code></a></li>'
        in checklist
    )
    assert '<li class="pass">No queries inside loops, directly or through helpers' in checklist
    assert '<li class="unverified">Foreign keys have an index' in checklist
    skipped = document[document.index('id="skipped"') :]
    assert "<td><code>app/legacy.py</code></td>" in skipped
    assert "<td><code>app/big.py</code></td>" not in skipped  # by design: summarised
    assert "Skipped by design: too large: 1." in skipped
    assert "<li><code>app/big.py</code>: too large (3 MiB)</li>" in skipped


def test_browser_filters_when_the_reader_changes_severity_and_file(
    sample_audit: Audit, tmp_path: Path
) -> None:
    chromium()
    document = _report(sample_audit)
    # a stand-in for the reader's clicks, allowed by adding its hash to the page's policy
    clicks = (
        "document.querySelector('input[value=\"high\"]').click();"
        'var files = document.getElementById("file-filter");'
        'files.value = "app/services/profile_stats.py";'
        'files.dispatchEvent(new Event("change"));'
        'document.body.setAttribute("data-fragment", window.location.hash);'
    )
    digest = base64.b64encode(hashlib.sha256(clicks.encode()).digest()).decode()
    document = document.replace("script-src '", f"script-src 'sha256-{digest}' '", 1)
    document = document.replace("</body>", f"<script>{clicks}</script></body>")
    page = tmp_path / "audit.html"
    page.write_text(document, encoding="utf-8")
    dom, console = dump_dom(page)
    assert console == []
    assert _body_attribute(dom, "data-shown") == "1"
    assert _body_attribute(dom, "data-fragment") == (
        "#severity=medium%2Cinfo&file=app%2Fservices%2Fprofile_stats.py"
    )
    visible = [a["data-file"] for t, a in parse(dom).tags if t == "tr" and "data-severity" in a]
    hidden = [a["data-file"] for t, a in parse(dom).tags if t == "tr" and "hidden" in a]
    assert set(visible) - set(hidden) == {"app/services/profile_stats.py"}


def test_header_names_the_runtime_profile_when_static_findings_were_confirmed(
    sample_audit: Audit,
) -> None:
    confirmed = [f for f in sample_audit.findings if f.evidence is not None]
    assert confirmed and all(f.source == "static" for f in confirmed)
    document = _report(replace(sample_audit, findings=confirmed))
    assert "· static analysis, runtime profile</p>" in document
    document = _report(replace(sample_audit, findings=[replace(confirmed[0], evidence=None)]))
    assert "· static analysis</p>" in document


# --- the whole audit -------------------------------------------------------------------------


def test_live_audit_html_matches_golden(live_audit: Audit, golden) -> None:
    golden.check("live.html", _report(live_audit))


def test_live_audit_has_every_section_and_unique_ids(live_audit: Audit) -> None:
    document = _report(live_audit)
    ids = [attrs["id"] for _, attrs in parse(document).tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    expected = {"database", "connections", "metrics", "priority", "testing", "checklist"}
    assert expected | {"conclusion", "test-1", "test-2"} <= set(ids)
    database = document[document.index('id="database"') : document.index('id="connections"')]
    assert "CREATE INDEX CONCURRENTLY ON renders (chain_id) WHERE chain_id IS NOT NULL" in database
    assert "2,310.0 → 8.4" in database and "12.4 ms → 0.31 ms" in database
    assert "already served by users_email_key" in database
    connections = document[document.index('id="connections"') : document.index('id="metrics"')]
    assert "<td><code>statement_timeout</code></td><td>0</td>" in connections
    assert "<tr><td>idle in transaction</td><td>1</td></tr>" in connections
    testing = document[document.index('id="testing"') : document.index('id="checklist"')]
    assert "from app.services.profile_stats import ProfileStatsService" in testing
    checklist = document[document.index('id="checklist"') : document.index('id="conclusion"')]
    assert '<li class="pass">No duplicate, unused or invalid indexes' in checklist


def test_time_chart_says_what_the_milliseconds_measure(live_audit: Audit) -> None:
    """The demo times whole calls: the chart must not call that time in the database."""
    document = _report(live_audit)
    start = document.index('id="chart-time"')
    time = document[start : document.index("</section>", start)]
    assert "<h3>Time per call (ms)</h3>" in time
    assert "in the database" not in time
    assert "time per call, application code and network included" in time
    in_database = replace(
        live_audit, metrics=tuple(replace(m, timed="database") for m in live_audit.metrics)
    )
    document = _report(in_database)
    assert "<h3>Time in the database per operation (ms)</h3>" in document
    unspecified = replace(
        live_audit, metrics=tuple(replace(m, timed="unspecified") for m in live_audit.metrics)
    )
    assert "<h3>Time per operation (ms)</h3>" in _report(unspecified)


def test_metrics_table_labels_modelled_rows(live_audit: Audit) -> None:
    modelled = replace(
        live_audit,
        metrics=(*live_audit.metrics[:1], replace(live_audit.metrics[1], measured=False)),
    )
    document = _report(modelled)
    table = document[document.index('id="metrics"') : document.index('id="priority"')]
    assert "(Measured, partly modelled)</h2>" in table
    assert "<td>after modelled</td>" in table and "<td>measured</td>" in table


def test_browser_renders_the_live_audit_without_console_errors(
    live_audit: Audit, tmp_path: Path
) -> None:
    chromium()
    page = tmp_path / "audit.html"
    page.write_text(_report(live_audit), encoding="utf-8")
    dom, console = dump_dom(page)
    assert console == []
    assert _body_attribute(dom, "data-shown") == str(len(live_audit.findings))


def test_database_section_without_a_database(sample_audit: Audit) -> None:
    from dbaudit.findings import DatabaseReview, ExistingIndex

    none = _report(sample_audit)
    section = none[none.index('id="database"') : none.index('id="connections"')]
    assert "No database or schema was reviewed. Run <code>dbaudit audit app --db" in section
    review = DatabaseReview(
        "app/models.py",
        source="static",
        tables=2,
        existing_indexes=(ExistingIndex("users", "users_pkey", "PRIMARY KEY (id)"),),
    )
    static = _report(replace(sample_audit, database=review))
    section = static[static.index('id="database"') : static.index('id="connections"')]
    assert "Schema read from the models in <code>app/models.py</code>" in section
    assert "<h3>Foreign keys without an index</h3>" in section
    assert "<td><code>users_pkey</code></td>" in section
    assert "Recommended indexes" not in section
    assert "· static analysis, runtime profile, schema from the models</p>" in static
