"""``dbaudit demo`` end to end, in a subprocess, against a real PostgreSQL.

Checks the JSON document's structure, that every operation needs fewer statements (the round
trips of the operations table) optimized than naive, that both variants agree, and that the
temporary databases are gone.
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

from dbaudit.db import PostgresServer
from dbaudit.db.harness import libpq_url

FAST = ["--repeat", "2", "--clients", "2", "--calls-per-client", "1"]
# The network delay changes timings only; 0 ms keeps the slow naive calls short.
NO_DELAY = ["--delay-ms", "0"]


def _demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbaudit", "demo", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
        check=False,
    )


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


def test_demo_json_on_the_resolved_server(pg_server: PostgresServer) -> None:
    before = _databases(pg_server)
    completed = _demo("--json", *FAST)  # the default delay, 1 ms
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    _check_document(document, "1")
    temporary = set(document["temporary_databases"])
    assert len(temporary) == 2
    assert not temporary & before
    assert not temporary & _databases(pg_server), "temporary databases were left behind"


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--delay-ms", "-1", "--delay-ms must be 0 or more"),
        ("--repeat", "0", "--repeat must be at least 1"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(flag: str, value: str, message: str) -> None:
    completed = _demo(flag, value)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [f"dbaudit: error: {message}, not {value}"]


def test_no_database_gives_one_line_and_exit_2() -> None:
    completed = _demo(
        "--json",
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


def test_demo_on_the_embedded_server_prints_plain_text_when_piped() -> None:
    completed = _demo(*FAST, *NO_DELAY, env={"DBAUDIT_DATABASE": "embedded"})
    assert completed.returncode == 0, completed.stderr
    header = completed.stderr.splitlines()[0]
    assert header.startswith("dbaudit demo: reference render platform on embedded PostgreSQL")
    out = completed.stdout
    assert "\x1b[" not in out  # no terminal escapes in a pipe
    assert "Before → after at 0 ms one-way delay (2 calls each)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("get_user_projects")]
    assert rows[0][1:4] == ["51", "→", "2"]  # statements in the latency table
    assert "naive and optimized returned identical results for all" in out


def test_ctrl_c_drops_the_temporary_databases(pg_server: PostgresServer) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dbaudit", "demo", "--repeat", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    pg_server: PostgresServer,
) -> None:
    role = f"dbaudit_nocreatedb_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server.url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        url = libpq_url(make_url(pg_server.url).set(username=role))
        completed = _demo("--json", env={"DBAUDIT_DATABASE": "env", "DBAUDIT_DATABASE_URL": url})
    finally:
        with psycopg.connect(pg_server.url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("dbaudit: error: cannot create a temporary database on ")
    assert "permission denied" in lines[0]


def test_ctrl_c_stops_the_embedded_server_and_removes_its_directory() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dbaudit", "demo", "--repeat", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
