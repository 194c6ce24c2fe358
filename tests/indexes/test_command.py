"""``dbaudit indexes`` end to end through the CLI entry point."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dbaudit.cli import main
from dbaudit.db import PostgresServer, temporary_database

Snapshot = Callable[[str], object]

WORKLOAD = """\
-- calls: 100
SELECT * FROM renders WHERE user_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20;
-- calls: 50
SELECT * FROM renders WHERE chain_id = $1;
SELECT * FROM nowhere;
"""


@pytest.fixture()
def workload_file(tmp_path: Path) -> Path:
    path = tmp_path / "workload.sql"
    path.write_text(WORKLOAD)
    return path


def test_json_report(
    advisor_url: str, workload_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["indexes", "--db", advisor_url, "--workload", str(workload_file), "--json",
         "--rollback-indexes"]
    )  # fmt: skip
    assert code == 1  # a high-priority index is missing (--fail-on high by default)
    report = json.loads(capsys.readouterr().out)
    assert report["workload"] == str(workload_file)
    assert [a["ddl"] for a in report["advisor"]["advice"]] == [
        "CREATE INDEX CONCURRENTLY renders_user_id_status_created_at_idx "
        "ON renders (user_id, status, created_at DESC);",
        "CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);",
    ]
    assert report["advisor"]["skipped_queries"][0]["reason"] == "reads no table of this database"
    # the first advised index leads with renders.user_id: it answers that foreign key too
    assert report["advisor"]["advice"][0]["reason"].endswith(
        "; also indexes foreign key renders_user_id_fkey"
    )
    assert "DBA402" not in {f["rule"] for f in report["health"]}
    assert report["connections"]["max_connections"] > 0


def test_text_report_verbose(
    advisor_url: str, workload_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["indexes", "--db", advisor_url, "--workload", str(workload_file), "--verbose",
                 "--rollback-indexes"]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert "[high] CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);" in out
    assert "Not recommended" in out and "workload.sql#3: reads no table of this database" in out
    # the advised (user_id, status, created_at DESC) index answers renders_user_id_fkey
    assert "also indexes foreign key renders_user_id_fkey" in out
    assert "DBA402 foreign key renders_user_id_fkey" not in out


def test_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["indexes", "--db", "postgresql://me:hunter2@127.0.0.1:1/nothing"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "hunter2" not in err
    assert err.startswith("dbaudit: error: cannot connect to postgresql://me:***@127.0.0.1:1/")


def test_missing_workload_file_is_a_usage_error(
    advisor_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["indexes", "--db", advisor_url, "--workload", "/no/such.sql"]) == 2
    assert "cannot read workload file /no/such.sql" in capsys.readouterr().err


def test_empty_database_goes_on_with_connections(
    fresh_pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["indexes", "--db", fresh_pg_url]) == 0
    captured = capsys.readouterr()
    assert "has no tables to review" in captured.err
    assert "Connections" in captured.out


def test_no_workload_and_no_pg_stat_statements(
    advisor_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["indexes", "--db", advisor_url]) == 0
    captured = capsys.readouterr()
    assert "no workload given and pg_stat_statements is not installed" in captured.err
    assert "Index health" in captured.out


def test_runtime_events_file_as_workload(
    advisor_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dbaudit.runtime.export import FORMAT, VERSION

    event = {"sql": "SELECT * FROM renders WHERE chain_id = CAST(? AS BIGINT)", "fingerprint": "f"}
    unit = {"name": "test_chain", "queries": 50, "events": [event] * 50, "findings": []}
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "units": [unit]}))
    # --rollback-indexes: a server without HypoPG (the embedded one) still gets advice; where
    # HypoPG is installed the advisor prefers it all the same
    command = ["indexes", "--db", advisor_url, "--workload", str(path), "--json"]
    assert main([*command, "--rollback-indexes"]) == 1
    advice = json.loads(capsys.readouterr().out)["advisor"]["advice"]
    assert [a["ddl"] for a in advice] == [
        "CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);"
    ]
    assert advice[0]["queries"][0] == {
        "label": "test_chain",
        "query": "SELECT * FROM renders WHERE chain_id = CAST($1 AS BIGINT)",
        "calls": 50.0,
        "cost_before": advice[0]["queries"][0]["cost_before"],
        "cost_after": advice[0]["queries"][0]["cost_after"],
    }


def test_review_database_for_the_audit(advisor_url: str) -> None:
    from dbaudit.database_review import review_database
    from dbaudit.indexes.advisor import AdvisorSettings
    from dbaudit.indexes.workload import from_statements

    outcome = review_database(
        advisor_url,
        from_statements([("SELECT * FROM renders WHERE chain_id = $1", 5)]),
        settings=AdvisorSettings(allow_rollback_indexes=True),
    )
    assert outcome.workload_source == "given" and outcome.problems == []
    rules = [f.rule for f in outcome.findings()]
    assert rules[0] == "DBA401" and "DBA402" in rules and "DBA501" in rules
    assert all(f.source == "live" for f in outcome.findings())
    first = outcome.findings()[0]
    assert first.fix is not None and first.fix.code.startswith("CREATE INDEX CONCURRENTLY")
    assert first.path.startswith("db://dbaudit_tmp_")

    review = outcome.to_database_review()
    assert review.source == "live" and review.planner in ("hypopg", "rollback")
    assert review.workload_statements == 1 and review.tables == outcome.tables
    assert review.workload_cost_after < review.workload_cost_before
    (recommended,) = review.recommendations
    assert recommended.ddl == first.fix.code and recommended.table == "renders"
    (statement,) = recommended.statements
    assert statement.calls == 5 and statement.cost_after < statement.cost_before
    assert any(i.backs_constraint and i.table == "renders" for i in review.existing_indexes)
    assert dict(review.settings)["max_connections"].isdigit()
    assert "postgres:" not in review.database or "***" in review.database


@pytest.mark.parametrize(
    ("fail_on", "expected"), [("never", 0), ("critical", 0), ("HIGH", 1), ("low", 1)]
)
def test_exit_status_follows_fail_on(
    advisor_url: str,
    workload_file: Path,
    fail_on: str,
    expected: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["indexes", "--db", advisor_url, "--workload", str(workload_file), "--json",
                 "--rollback-indexes", "--fail-on", fail_on])  # fmt: skip
    severities = {f["severity"] for f in json.loads(capsys.readouterr().out)["health"]}
    assert "critical" not in severities  # so that "critical" has nothing to fail on
    assert code == expected


def test_fail_on_without_high_findings_exits_0(
    advisor_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "light.sql"
    path.write_text("SELECT * FROM tiny WHERE code = $1;\n")  # too small a table to index
    command = ["indexes", "--db", advisor_url, "--workload", str(path), "--json"]
    assert main([*command, "--rollback-indexes"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["advisor"]["advice"] == []
    assert all(f["severity"] in ("low", "medium", "info") for f in report["health"])


@pytest.mark.parametrize("fail_on", ["bogus", "info"])
def test_bad_fail_on_is_a_usage_error(
    advisor_url: str, fail_on: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["indexes", "--db", advisor_url, "--fail-on", fail_on]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--fail-on" in err


# A database of its own (the shared advisor database must stay without HypoPG): users is
# readable by the reader role below, renders is not.
PRIVILEGES_DDL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE renders (
    id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id), chain_id bigint
);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 20000) g;
INSERT INTO renders SELECT g, 1 + g % 20000, g / 50 FROM generate_series(1, 60000) g;
ANALYZE;
"""


@pytest.mark.usefixtures("hypopg")
def test_missing_select_privilege_is_one_line_and_the_rest_goes_on(
    pg_server: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = f"dbaudit_reader_{secrets.token_hex(4)}"
    workload = tmp_path / "workload.sql"
    workload.write_text(
        "SELECT * FROM renders WHERE chain_id = $1;\nSELECT * FROM users WHERE email = $1;\n"
    )
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION hypopg")  # installed, so a plain role can use it
            admin.execute(PRIVILEGES_DDL)
            admin.execute(f"CREATE ROLE {role} LOGIN; GRANT SELECT ON users TO {role}")
        reader = make_url(url)._replace(username=role, password=None)
        try:
            code = main(["indexes", "--db", reader.render_as_string(hide_password=False),
                         "--workload", str(workload), "--json", "--verify"])  # fmt: skip
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    advisor = report["advisor"]
    # The statement on the table it may not read: skipped with the server's one line ...
    assert advisor["skipped_queries"] == [
        {
            "label": "workload.sql#1",
            "query": "SELECT * FROM renders WHERE chain_id = $1",
            "reason": "planner rejected it: permission denied for table renders",
        }
    ]
    rejected = {r["ddl"]: r["reason"] for r in advisor["rejected"]}
    assert rejected["CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);"] == (
        "the planner accepted no workload statement on its table (see the statements skipped)"
    )
    # ... and the rest goes on: advice for the readable table, health checks, connections.
    assert [a["ddl"] for a in advisor["advice"]] == [
        "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);"
    ]
    assert advisor["notes"] == ["--verify could not measure: must be owner of table users"]
    assert [f["rule"] for f in report["health"]] == ["DBA402"]
    assert report["connections"]["max_connections"] > 0
    assert report["problems"] == [] and captured.err == ""
    assert code == 1  # the high-priority users_email_idx


def _indexes_run(url: str, workload: Path, *options: str) -> int:
    return main(["indexes", "--db", url, "--workload", str(workload), "--json", "--verify",
                 "--verbose", *options])  # fmt: skip


@pytest.mark.usefixtures("hypopg")
def test_a_full_run_leaves_the_catalog_as_it_was_hypopg(
    pg_server: PostgresServer,
    advisor_ddl: str,
    snapshot: Snapshot,
    workload_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(advisor_ddl)
        before = snapshot(url)
        assert _indexes_run(url, workload_file) == 1
        assert snapshot(url) == before  # HypoPG was created and rolled back too
    report = json.loads(capsys.readouterr().out)
    assert report["advisor"]["method"] == "hypopg"
    assert any(v["after_ms"] is not None for v in report["advisor"]["verification"])


def test_a_full_run_leaves_the_catalog_as_it_was_rollback_indexes(
    pg_server: PostgresServer,
    advisor_ddl: str,
    snapshot: Snapshot,
    workload_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The application's own role: it owns the tables (so it may build the trial indexes) but
    # is no superuser, so HypoPG cannot be created and --rollback-indexes is the path taken.
    role = f"dbaudit_owner_{secrets.token_hex(4)}"
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN; GRANT CREATE ON SCHEMA public TO {role}")
        owner = make_url(url)._replace(username=role, password=None)
        owner_url = owner.render_as_string(hide_password=False)
        try:
            with psycopg.connect(owner_url, autocommit=True) as conn:
                conn.execute(advisor_ddl)
            before = snapshot(url)
            assert _indexes_run(owner_url, workload_file, "--rollback-indexes") == 1
            assert snapshot(url) == before
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
    report = json.loads(capsys.readouterr().out)
    assert report["advisor"]["method"] == "rollback"
    assert any(v["after_ms"] is not None for v in report["advisor"]["verification"])
