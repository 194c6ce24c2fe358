"""``dbaudit demo`` end to end, in a subprocess, against a real PostgreSQL.

Checks the JSON document's structure, that every operation needs fewer statements (the round
trips of the operations table) optimized than naive, that both variants agree, that the
temporary databases are gone, that the static findings are confirmed at runtime with the
operations table's query counts, that the live review advises indexes (with HypoPG on the local
server, with real indexes rolled back on the embedded one, which has no HypoPG), that the
terminal tells the story in order, and that the reports (``audit.md``, ``audit.html``) carry the
naive app's findings, the runtime confirmation, the index advice and the measured numbers. Every
run works in a temporary directory, since the reports go into the current directory by default.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dbaudit.commands.demo import _signals_deferred
from dbaudit.db import PostgresServer
from dbaudit.db.harness import libpq_url
from dbaudit.reference.render_platform.operations import OPERATIONS

FAST = ["--repeat", "2", "--clients", "2", "--calls-per-client", "1"]
QUICKEST = ["--repeat", "1", "--clients", "0"]
# The network delay changes timings only; 0 ms keeps the slow naive calls short.
NO_DELAY = ["--delay-ms", "0"]
ROUND_TRIPS = {operation.name: operation.naive_round_trips for operation in OPERATIONS}


def _demo(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbaudit", "demo", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _measured_rows(markdown: str) -> dict[str, tuple[str, str]]:
    """Operation -> (statements, median ms) cells of the report's before/after table, as
    ``"51 → 2"`` and ``"120 → 6.25"`` (the reporter writes each number with its unit)."""
    section = markdown.split("## Performance Metrics Summary", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = re.match(
            r"\| `(\w+)` \| ([\d,]+) \| ([\d,]+) \| ([\d.,]+) ms \| ([\d.,]+) ms \|", line
        )
        if found:
            name, before, after, before_ms, after_ms = (
                part.replace(",", "") for part in found.groups()
            )
            rows[name] = (f"{before} → {after}", f"{before_ms} → {after_ms}")
    return rows


def _rounding(shown: str) -> float:
    """Half a unit of the last digit shown: ``120`` 0.5, ``15.4`` 0.05, ``6.25`` 0.005."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return 0.5 * 10**-decimals + 1e-9


def _check_naive_findings_named(markdown: str) -> None:
    """The report names the naive app's N+1 in the projects service, with its file and rule."""
    assert "render_platform/naive/services/projects.py" in markdown
    block = markdown.split("render_platform/naive/services/projects.py", 1)[1]
    assert "DBA102" in block
    assert "Database Performance Audit Report" in markdown


def _check_runtime_and_review(document: dict[str, Any], markdown: str) -> None:
    """The JSON's runtime confirmation and live review, and the report that carries both."""
    runtime = document["runtime"]
    # the profiled queries are the operations table's, exactly
    assert {op["name"]: op["queries"] for op in runtime["operations"]} == ROUND_TRIPS
    assert len(runtime["confirmed"]) > 0
    assert runtime["static_findings"] == document["audit"]["naive"]["findings"]
    assert all(item["reason"] for item in runtime["unconfirmed"])
    # the N+1 the runtime's DBA101 saw in the projects service: 1 + N, the N in the loop
    [projects] = [f for f in runtime["confirmed"] if f["function"] == "user_project_overviews"]
    loop_queries = ROUND_TRIPS["get_user_projects"] - 1
    assert projects["evidence"]["queries"] == loop_queries
    assert projects["evidence"]["unit"] == "get_user_projects"
    review = document["review"]
    assert review["planner"] in ("hypopg", "rollback")
    assert review["tables"] == 10
    assert review["findings_by_rule"]["DBA401"] >= 1
    assert review["workload_cost_after"] < review["workload_cost_before"]

    assert f"confirmed at runtime: {loop_queries} queries" in markdown
    review_section = markdown.split("## Database Indexing Review", 1)[1].split("\n## ", 1)[0]
    for index in review["recommendations"]:
        assert index["ddl"] in review_section


def _databases(server: PostgresServer) -> set[str]:
    with psycopg.connect(server.url) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}


def _check_document(document: dict[str, Any], delay: str) -> None:
    operations = document["operations"]
    assert len(operations) >= 7
    names = {operation["name"] for operation in operations}
    assert {"get_user_projects", "delete_chain", "get_render_with_context"} <= names
    assert document["settings"]["delays_ms"] == [float(delay)]
    assert document["select1_rtt"][0]["delay_ms"] == float(delay)
    overhead = document["checkout_overhead_round_trips"]
    assert set(overhead) == {"naive", "optimized"}
    assert all(value >= 0 for value in overhead.values())
    for operation in operations:
        naive, optimized = operation["naive"], operation["optimized"]
        label = operation["name"]
        assert operation["results_equal"] is True, label
        # Statements are the round trips of the operations table (cursor events).
        assert naive["statements"] > optimized["statements"], label
        # The wire sees every statement, plus BEGIN/ROLLBACK, prepares and pre-pings.
        assert naive["wire_round_trips"] >= naive["statements"], label
        assert optimized["wire_round_trips"] >= optimized["statements"], label
        assert naive["statements"] == operation["expected_statements"]["naive"], label
        assert optimized["statements"] == operation["expected_statements"]["optimized"], label
        for variant in (naive, optimized):
            assert variant["latency"][f"{delay}ms"]["samples"] == 2
            assert variant["latency"][f"{delay}ms"]["median_ms"] > 0
        if operation["writes"]:
            assert operation["no_concurrency_reason"]
            assert naive["throughput"] is None
        else:
            assert naive["throughput"]["calls"] == 2
            assert optimized["throughput"]["per_second"] > 0


def test_demo_json_on_the_resolved_server(pg_server: PostgresServer, tmp_path: Path) -> None:
    before = _databases(pg_server)
    # the default delay, 1 ms
    completed = _demo("--json", *FAST, "--output-dir", "reports", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    _check_document(document, "1")
    temporary = set(document["temporary_databases"])
    assert len(temporary) == 2
    assert not temporary & before
    assert not temporary & _databases(pg_server), "temporary databases were left behind"

    audit = document["audit"]
    naive, optimized = audit["naive"], audit["optimized"]
    assert naive["paths"] == ["render_platform/naive", "render_platform/schema.py"]
    assert naive["findings_at_or_above_low"] > 0
    assert sum(naive["by_severity"].values()) == naive["findings"]
    assert any(
        item["rule"] == "DBA102" and "render_platform/naive/services/projects.py" in item["paths"]
        for item in naive["by_rule"]
    )
    assert optimized["findings_at_or_above_low"] == 0
    assert optimized["good_practices"] > 0
    reports = tmp_path / "reports"
    assert audit["reports"] == {
        "markdown": str(reports / "audit.md"),
        "html": str(reports / "audit.html"),
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reports"]

    markdown = (reports / "audit.md").read_text(encoding="utf-8")
    _check_naive_findings_named(markdown)
    _check_runtime_and_review(document, markdown)
    # the report's measured numbers are the ones the JSON document measured
    expected = {
        operation["name"]: (
            f"{operation['naive']['statements']} → {operation['optimized']['statements']}",
            (
                operation["naive"]["latency"]["1ms"]["median_ms"],
                operation["optimized"]["latency"]["1ms"]["median_ms"],
            ),
        )
        for operation in document["operations"]
    }
    shown = _measured_rows(markdown)
    assert shown.keys() == expected.keys()
    for name, (statements, (before_ms, after_ms)) in expected.items():
        shown_statements, shown_ms = shown[name]
        assert shown_statements == statements, name
        # as many digits as the size deserves in the report; the JSON keeps four decimals and
        # rounds them once already, so allow the last digit shown to round
        for part, measured in zip(shown_ms.split(" → "), (before_ms, after_ms), strict=True):
            assert float(part) == pytest.approx(measured, abs=_rounding(part) + 0.0001), name
    html = (reports / "audit.html").read_text(encoding="utf-8")
    assert "both sides measured against the database" in html
    assert all(name in html for name in expected)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--delay-ms", "-1", "--delay-ms must be 0 or more"),
        ("--repeat", "0", "--repeat must be at least 1"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(
    flag: str, value: str, message: str, tmp_path: Path
) -> None:
    completed = _demo(flag, value, cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [f"dbaudit: error: {message}, not {value}"]


def test_an_output_dir_that_is_a_file_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a directory")
    completed = _demo("--output-dir", "taken", cwd=tmp_path)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("dbaudit: error: --output-dir taken: ")
    assert completed.stdout == ""


def test_output_dir_and_no_report_together_give_one_line_and_exit_2(tmp_path: Path) -> None:
    completed = _demo("--no-report", "--output-dir", "reports", cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "dbaudit: error: --output-dir and --no-report cannot be used together"
    ]
    assert list(tmp_path.iterdir()) == []


def test_no_report_writes_nothing(tmp_path: Path) -> None:
    completed = _demo("--json", *QUICKEST, *NO_DELAY, "--no-report", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["audit"]["reports"] is None
    assert list(tmp_path.iterdir()) == []
    # the runtime confirmation and the live review run without reports too
    assert document["runtime"]["confirmed"]
    assert document["review"]["recommendations"]


def test_no_database_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    completed = _demo(
        "--json",
        cwd=tmp_path,
        env={
            "DBAUDIT_DATABASE": "env",
            "DBAUDIT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x",
        },
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dbaudit: error: no PostgreSQL server available; tried env")
    assert completed.stdout == ""


@pytest.mark.embedded_server
def test_demo_on_the_embedded_server_prints_plain_text_and_writes_the_reports(
    tmp_path: Path,
) -> None:
    completed = _demo(*QUICKEST, *NO_DELAY, cwd=tmp_path, env={"DBAUDIT_DATABASE": "embedded"})
    assert completed.returncode == 0, completed.stderr
    header = completed.stderr.splitlines()[0]
    assert header.startswith("dbaudit demo: reference render platform on embedded PostgreSQL")
    out = completed.stdout
    assert "\x1b[" not in out  # no terminal escapes in a pipe
    lines = out.splitlines()
    naive = next(line for line in lines if line.startswith("naive app "))
    assert re.search(r": \d+ findings \(\d+ critical, \d+ high", naive), naive
    assert any(
        line.split()[:1] == ["DBA102"] and "services/projects.py" in line for line in lines
    ), out
    optimized = next(line for line in lines if line.startswith("optimized app "))
    assert "no findings at low or above" in optimized
    assert re.search(r"\d+ good practices", optimized)
    # the story in order: static, runtime confirmation, live review, measured table, files
    steps = [
        "Static audit of the bundled reference app",
        "Confirmed at runtime (the naive operations under dbaudit's profiler)",
        "Live review of the naive database",
        "Before → after at 0 ms one-way delay (1 calls each)",
        f"  {tmp_path / 'audit.md'}",
    ]
    assert [out.index(step) for step in steps] == sorted(out.index(step) for step in steps)
    found = re.search(r"^(\d+) of (\d+) static findings confirmed at runtime", out, re.M)
    assert found is not None and int(found.group(1)) > 0, out
    projects = next(line for line in lines if "user_project_overviews" in line)
    assert f"confirmed: {ROUND_TRIPS['get_user_projects'] - 1} queries" in projects
    # pgserver's PostgreSQL has no HypoPG: the demo judges indexes on its own database
    assert "planner: real indexes built inside a transaction that is rolled back" in out
    assert any(
        re.match(r"  (high|medium) ", line) and "CREATE INDEX CONCURRENTLY" in line
        for line in lines
    ), out
    rows = [line.split() for line in lines if line.startswith("get_user_projects")]
    assert rows[0][1:4] == ["51", "→", "2"]  # statements in the latency table
    assert "naive and optimized returned identical results for all" in out
    assert f"  {tmp_path / 'audit.md'}" in lines
    assert f"  {tmp_path / 'audit.html'}" in lines

    markdown = (tmp_path / "audit.md").read_text(encoding="utf-8")
    _check_naive_findings_named(markdown)
    assert "confirmed at runtime: " in markdown
    assert "CREATE INDEX CONCURRENTLY" in markdown
    assert "## Database Indexing Review" in markdown
    assert "(dbaudit demo)" not in markdown  # the reporter's table is the only one
    measured = _measured_rows(markdown)
    assert measured["get_user_projects"][0] == "51 → 2"
    assert measured["delete_chain"][0] == "52 → 1"
    assert (tmp_path / "audit.html").stat().st_size > 0


def test_ctrl_c_drops_the_temporary_databases(pg_server: PostgresServer, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dbaudit", "demo", "--repeat", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        # the test's own server, so its databases are the ones checked (without this, on a
        # machine with no PostgreSQL the demo would start a second embedded server)
        env={**os.environ, "DBAUDIT_DATABASE": "env", "DBAUDIT_DATABASE_URL": pg_server.url},
    )
    try:
        assert process.stderr is not None
        header = process.stderr.readline()
        found = re.search(r"temporary databases (\S+) and (\S+),", header)
        assert found is not None, header
        names = set(found.groups())
        assert names <= _databases(pg_server)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "dbaudit: interrupted" in stderr.splitlines()
    assert "Traceback" not in stderr
    assert not names & _databases(pg_server), "temporary databases were left behind"


def test_no_right_to_create_a_database_gives_one_line_and_exit_2(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    role = f"dbaudit_nocreatedb_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server.url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        url = libpq_url(make_url(pg_server.url).set(username=role))
        completed = _demo(
            "--json",
            cwd=tmp_path,
            env={"DBAUDIT_DATABASE": "env", "DBAUDIT_DATABASE_URL": url},
        )
    finally:
        with psycopg.connect(pg_server.url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("dbaudit: error: cannot create a temporary database on ")
    assert "permission denied" in lines[0]


@pytest.mark.embedded_server
def test_ctrl_c_stops_the_embedded_server_and_removes_its_directory(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dbaudit", "demo", "--repeat", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DBAUDIT_DATABASE": "embedded"},
    )
    try:
        assert process.stderr is not None
        header = process.stderr.readline()
        found = re.search(r"host=([^)\s]+)\)", header)
        assert found is not None, header
        data_dir = Path(unquote(found.group(1)))
        assert data_dir.is_dir()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "dbaudit: interrupted" in stderr.splitlines()
    assert "Traceback" not in stderr
    assert not data_dir.exists(), "the embedded server's directory was left behind"
    assert not _processes_mentioning(str(data_dir)), "the embedded server is still running"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if text in command:
            found.append(command)
    return found


def test_a_ctrl_c_while_the_event_loop_is_built_waits_until_it_is_whole() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), _signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the interpreter handles signals between bytecodes
            pass
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigterm_while_the_event_loop_is_built_exits_once_it_is_whole() -> None:
    from dbaudit.cli import _exit_on_sigterm

    before = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # as the CLI installs it
    try:
        finished = []
        with pytest.raises(SystemExit) as exited, _signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the interpreter handles signals between bytecodes
                pass
            finished.append(True)
        assert finished == [True]
        assert exited.value.code == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is _exit_on_sigterm
    finally:
        signal.signal(signal.SIGTERM, before)


def test_no_ctrl_c_no_interrupt() -> None:
    with _signals_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
