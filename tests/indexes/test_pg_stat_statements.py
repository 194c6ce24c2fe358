"""pg_stat_statements as a workload, on a throwaway cluster of our own.

The shared server does not preload pg_stat_statements and must not be reconfigured, so this
module starts its own cluster (initdb as an unprivileged user, a free port, password auth,
``shared_preload_libraries=pg_stat_statements``) and removes it afterwards. The same cluster
proves that a wrong password gives one line without the password.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dbaudit.cli import main
from dbaudit.db import DatabaseUnavailable
from dbaudit.indexes.advisor import AdvisorSettings, advise
from dbaudit.indexes.workload import WorkloadError, from_pg_stat_statements
from dbaudit.schema.live import connect, load_schema

PASSWORD = "s3cret-Pw"
UNPRIVILEGED_USER = "postgres"


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15", "14", "13"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if candidate.exists():
            return str(candidate)
    pytest.skip(f"{name} not found: cannot start a throwaway PostgreSQL cluster")
    raise AssertionError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    owner: str | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            pytest.skip(f"running as root and no {UNPRIVILEGED_USER!r} user to run initdb")
        owner = UNPRIVILEGED_USER
    base = Path(tempfile.mkdtemp(prefix="dbaudit-pgss-"))
    data, sockets, pwfile = base / "data", base / "sock", base / "pw"
    sockets.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        shutil.chown(base, owner)
        shutil.chown(sockets, owner)
        shutil.chown(pwfile, owner)
    port = _free_port()
    subprocess.run(
        _as_owner(
            [_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
             f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
            owner,
        ),
        check=True, capture_output=True,
    )  # fmt: skip
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 "
        "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
    )
    subprocess.run(
        _as_owner([_bin("pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                   str(base / "log"), "start"], owner),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_owner([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_wrong_password_is_one_line_without_the_password(
    cluster_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = cluster_url.replace(PASSWORD, "not-the-password")
    with pytest.raises(DatabaseUnavailable) as error:
        connect(wrong)
    message = str(error.value)
    assert "\n" not in message and "not-the-password" not in message
    assert "password authentication failed" in message
    # Through the command: that one line, exit 2.
    assert main(["indexes", "--db", wrong]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not-the-password" not in err
    assert err.startswith("dbaudit: error: ") and "password authentication failed" in err


def test_workload_from_pg_stat_statements(cluster_url: str) -> None:
    with psycopg.connect(cluster_url, autocommit=True) as setup:
        setup.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL, "
            "kind text NOT NULL, at timestamptz NOT NULL)"
        )
        setup.execute(
            "INSERT INTO events SELECT g, g % 500, 'k' || (g % 9), now() - g * interval '1s' "
            "FROM generate_series(1, 50000) g"
        )
        setup.execute("ANALYZE events")
    with connect(cluster_url) as conn:
        with pytest.raises(WorkloadError, match="pg_stat_statements is not installed"):
            from_pg_stat_statements(conn)
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    # The application's traffic, with parameters as a driver sends them.
    with psycopg.connect(cluster_url, autocommit=True) as app:
        for account in range(40):
            app.execute(
                "SELECT * FROM events WHERE account_id = %s ORDER BY at DESC LIMIT 10", (account,)
            )
            app.execute("SELECT count(*) FROM events WHERE kind = %s", (f"k{account % 9}",))
    with connect(cluster_url) as conn:
        workload = from_pg_stat_statements(conn)
        feed = [q for q in workload if "FROM events WHERE account_id" in q.sql]
        assert len(feed) == 1
        assert feed[0].calls == 40 and "$1" in feed[0].sql
        assert feed[0].source == "pg_stat_statements"
        settings = AdvisorSettings(allow_rollback_indexes=True, verify=True)
        result = advise(conn, load_schema(conn), workload, settings)
    assert result.advice[0].ddl == (
        "CREATE INDEX CONCURRENTLY events_account_id_at_idx ON events (account_id, at DESC);"
    )
    assert result.advice[0].queries[0].calls == 40
    # --verify: pg_stat_statements keeps no values; they are drawn from pg_stats, and said.
    by_query = {v.query: v for v in result.verification}
    counted = by_query["SELECT count(*) FROM events WHERE kind = $1"]
    assert counted.before_ms is not None and counted.after_ms is not None
    assert counted.samples == "$1 from pg_stats of events.kind (most common values)"
    (paged,) = [v for v in result.verification if "FROM events WHERE account_id" in v.query]
    assert paged.before_ms is None and paged.reason == (
        "no sample values: $2 is a LIMIT: no column statistics to draw a value from"
    )
    # Statements of other shapes (CREATE, ANALYZE, catalog reads) are skipped with a reason.
    assert all(s.reason for s in result.skipped)
