"""``dbaudit check --runtime EVENTS.json``: the CI gate over static and runtime findings together.

Every events file here is real: a small pytest suite runs in a subprocess against the test
PostgreSQL with ``--dbaudit-json`` (as a CI job would), then ``dbaudit check`` reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbaudit.cli import main

# owners: an N+1 the static audit sees too (DBA102 at line 8: the loop calls a helper that
# queries); by_owner: one only the runtime sees (line 16: the query is reached through getattr)
DAL = (Path(__file__).parent / "fixtures" / "runtime_gate" / "dal.py").read_text()

# A third N+1, only at runtime, added after a baseline was written.
NEW_DAL = """

def names_of(conn, ids):
    run = getattr(conn, "execute")
    found = []
    for item_id in ids:
        found.append(run("SELECT id, owner FROM items WHERE id = %s", (item_id,)).fetchone())
    return found
"""

NEW_TEST = """

def test_names_of(conn):
    from app.dal import names_of

    assert len(names_of(conn, range(ITEMS))) == ITEMS
"""

# DBAUDIT_TEST_ITEMS: how many items the loops visit (the counts a re-run may change);
# DBAUDIT_TEST_DELAY_S: seconds every query against items waits in the server (the timings).
CONFTEST = """\
import os

import psycopg
import pytest

import dbaudit.runtime


@pytest.fixture()
def conn():
    raw = psycopg.connect(os.environ["DBAUDIT_TEST_PG"], autocommit=True)
    raw.execute("CREATE TEMP TABLE items_data (id int PRIMARY KEY, owner int)")
    raw.execute("INSERT INTO items_data SELECT g, g % 4 FROM generate_series(0, 39) g")
    delay = float(os.environ.get("DBAUDIT_TEST_DELAY_S", "0"))
    raw.execute(
        "CREATE TEMP VIEW items AS SELECT id, owner FROM items_data, "
        f"LATERAL (SELECT pg_sleep({delay})) AS delay"
    )
    yield dbaudit.runtime.instrument(raw)
    raw.close()
"""

TESTS = """\
import os

from app.dal import by_owner, owners

ITEMS = int(os.environ.get("DBAUDIT_TEST_ITEMS", "6"))


def test_owners(conn):
    assert owners(conn, range(ITEMS)) == [i % 4 for i in range(ITEMS)]


def test_by_owner(conn):
    assert len(by_owner(conn, range(ITEMS))) == ITEMS


def test_without_queries():
    assert True
"""

# A loaded machine could make any statement "slow" (DBA302): not in these runs.
INI = (
    "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    "dbaudit_slow_query_ms = 60000\n"
)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text('"""The app."""\n')
    (tmp_path / "app" / "dal.py").write_text(DAL)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(CONFTEST)
    (tmp_path / "tests" / "test_app.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text(INI)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_suite(
    project: Path, pg_url: str, events: str, *, items: int = 6, delay_s: float = 0.0
) -> Path:
    """``pytest --dbaudit-json events`` in a subprocess in ``project``, as a CI step runs it."""
    env = {
        **os.environ,
        "DBAUDIT_TEST_PG": pg_url,
        "DBAUDIT_TEST_ITEMS": str(items),
        "DBAUDIT_TEST_DELAY_S": str(delay_s),
    }
    env.pop("PYTEST_ADDOPTS", None)
    pytest_argv = ["-q", "-p", "no:cacheprovider", "--dbaudit-json", events, "tests"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_argv],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return project / events


def check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["check", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def findings_of(document: dict[str, object]) -> list[tuple[str, str, str, bool]]:
    """(rule, function, source, has runtime evidence) of each finding of a JSON report."""
    findings = document["findings"]
    assert isinstance(findings, list)
    return [(f["rule"], f["function"], f["source"], f["evidence"] is not None) for f in findings]


def test_static_and_runtime_findings_gate_together_each_problem_once(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suite(project, pg_url, "events.json")
    assert main(["check", "app", "--runtime", "events.json", "--no-cache"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    # the loop both ways is one finding: the static one, confirmed with what the test measured
    assert out.count("app/dal.py:8:") == 1
    assert "confirmed at runtime: 6 queries" in out
    # what only the runtime saw gates too
    assert "app/dal.py:16:" in out and "source: runtime" in out
    assert "check failed: 2 new finding(s) at or above low" in out
    assert "3 unit(s) in events.json; 1 static finding(s) confirmed, 1 seen only" in captured.err

    code, document = check_json(capsys, "app", "--runtime", "events.json", "--no-cache")
    assert code == 1
    assert findings_of(document) == [
        ("DBA102", "owners", "static", True),
        ("DBA101", "by_owner", "runtime", True),
    ]
    # without the events file the same check sees only the static finding
    code, document = check_json(capsys, "app", "--no-cache")
    assert code == 1
    assert findings_of(document) == [("DBA102", "owners", "static", False)]


def test_a_baseline_from_one_run_accepts_a_rerun_with_other_timings_and_counts(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_suite(project, pg_url, "first.json")
    argv = ["check", "app", "--runtime", "first.json", "--no-cache"]
    assert main([*argv, "--write-baseline", "baseline.json"]) == 0
    assert "wrote baseline of 2 finding(s)" in capsys.readouterr().err
    assert main(["check", "--runtime", "first.json", "--write-baseline", "runtime.json"]) == 0
    capsys.readouterr()

    # the re-run: the code moved down, the loops visit twice as many items, and every query
    # waits in the server, so no count, line or time of the first run is the same
    (project / "app" / "dal.py").write_text('"""Data access."""\n\n\n' + DAL)
    second = run_suite(project, pg_url, "second.json", items=12, delay_s=0.002)
    before = [json.loads(first.read_text()), json.loads(second.read_text())]
    queries = [[u["queries"] for u in doc["units"]] for doc in before]
    assert queries == [[6, 6, 0], [12, 12, 0]]
    lines = [[f["line"] for u in doc["units"] for f in u["findings"]] for doc in before]
    assert lines == [[8, 16], [11, 19]]

    code, document = check_json(
        capsys, "app", "--runtime", "second.json", "--baseline", "baseline.json", "--no-cache"
    )
    assert code == 0
    check = document["check"]
    assert isinstance(check, dict) and check["accepted_by_baseline"] == 2
    assert document["findings"] == []
    # runtime findings alone, against a baseline written from runtime findings alone
    assert main(["check", "--runtime", "second.json", "--baseline", "runtime.json"]) == 0
    assert "(2 accepted by baseline runtime.json)" in capsys.readouterr().out

    # a new N+1 that only the tests show is new against both baselines
    with (project / "app" / "dal.py").open("a") as handle:
        handle.write(NEW_DAL)
    with (project / "tests" / "test_app.py").open("a") as handle:
        handle.write(NEW_TEST)
    run_suite(project, pg_url, "third.json", items=9)
    code, document = check_json(
        capsys, "app", "--runtime", "third.json", "--baseline", "baseline.json", "--no-cache"
    )
    assert code == 1
    assert findings_of(document) == [("DBA101", "names_of", "runtime", True)]
    assert main(["check", "--runtime", "third.json", "--baseline", "runtime.json"]) == 1
    out = capsys.readouterr().out
    assert "in names_of" in out and "check failed: 1 new finding(s)" in out


def test_runtime_findings_alone_gate_without_a_path(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suite(project, pg_url, "events.json")
    code, document = check_json(capsys, "--runtime", "events.json")
    assert code == 1
    # no static audit: the loop in owners is the runtime's own finding
    assert findings_of(document) == [
        ("DBA101", "owners", "runtime", True),
        ("DBA101", "by_owner", "runtime", True),
    ]
    assert document["files"] == []
    # six queries per loop are medium: --fail-on high lets them through
    assert main(["check", "--runtime", "events.json", "--fail-on", "high"]) == 0
    assert "check passed: no new finding at or above high" in capsys.readouterr().out
    # --ignore and --min-severity apply to runtime findings
    assert main(["check", "--runtime", "events.json", "--ignore", "DBA101"]) == 0
    assert main(["check", "--runtime", "events.json", "--min-severity", "high"]) == 0
    assert main(["check", "--runtime", "events.json", "--select", "DBA3"]) == 0
    # the pytest plugin's missing-index check (--dbaudit-explain) is a runtime rule too
    assert main(["check", "--runtime", "events.json", "--ignore", "DBA401"]) == 1
    capsys.readouterr()


def test_fail_on_and_baseline_come_from_pyproject_without_a_path(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suite(project, pg_url, "events.json")
    (project / "ci").mkdir()
    assert main(["check", "--runtime", "events.json", "--write-baseline", "ci/base.json"]) == 0
    (project / "pyproject.toml").write_text(
        "[tool.dbaudit]\nbaseline = 'ci/base.json'\nfail-on = 'high'\n"
    )
    code, document = check_json(capsys, "--runtime", "events.json")
    assert code == 0
    assert document["check"] == {
        "fail_on": "high",
        "baseline": str(project / "ci" / "base.json"),
        "accepted_by_baseline": 2,
        "failed": False,
    }
    # --isolated reads no [tool.dbaudit]
    assert main(["check", "--runtime", "events.json", "--isolated"]) == 1
    capsys.readouterr()


def test_several_events_files_and_a_suite_run_from_a_subfolder(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cd backend && pytest --dbaudit-json events.json``, then the check from the root."""
    backend = project / "backend"
    backend.mkdir()
    for name in ("app", "tests", "pytest.ini"):
        (project / name).rename(backend / name)
    run_suite(backend, pg_url, "events.json")
    run_suite(backend, pg_url, "again.json", items=8)
    argv = ["backend", "--no-cache", "--runtime", "backend/events.json"]
    code, document = check_json(capsys, *argv)
    assert code == 1
    assert findings_of(document) == [
        ("DBA102", "owners", "static", True),
        ("DBA101", "by_owner", "runtime", True),
    ]
    findings = document["findings"]
    assert isinstance(findings, list)
    # the profiler's paths were relative to backend/: made relative to here, like the static
    assert [f["path"] for f in findings] == ["backend/app/dal.py", "backend/app/dal.py"]
    assert [h["path"] for h in findings[1]["call_chain"]] == [
        "backend/tests/test_app.py",
        "backend/app/dal.py",
    ]
    assert main(["check", *argv, "--write-baseline", "baseline.json"]) == 0
    capsys.readouterr()
    # two files (--runtime repeated, or several after one): one problem is still one finding
    for more in (["--runtime", "backend/again.json"], ["backend/again.json"]):
        code, document = check_json(capsys, *argv, *more)
        assert code == 1 and len(findings_of(document)) == 2
        code, document = check_json(capsys, *argv, *more, "--baseline", "baseline.json")
        assert code == 0 and document["findings"] == []


# the slow statement is the application's (one a test sends itself is test code: advisory)
SLOW_APP = """\
def count_slowly(conn):
    return conn.execute("SELECT pg_sleep(0.02), count(*) FROM items").fetchone()
"""

SLOW_TESTS = """\
def test_slow(conn):
    from app.slow import count_slowly

    count_slowly(conn)
"""


def test_slow_queries_gate_unless_ignored(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """DBA302 depends on the machine's speed; a check can leave it out by its runtime code."""
    (project / "app" / "dal.py").write_text('"""Nothing here yet."""\n')
    (project / "app" / "slow.py").write_text(SLOW_APP)
    (project / "tests" / "test_app.py").write_text(SLOW_TESTS)
    (project / "pytest.ini").write_text(INI.replace("60000", "1"))  # 20 ms sleep: always over
    run_suite(project, pg_url, "events.json")
    code, document = check_json(capsys, "--runtime", "events.json")
    assert code == 1
    assert findings_of(document) == [("DBA302", "count_slowly", "runtime", True)]
    assert main(["check", "--runtime", "events.json", "--ignore", "DBA302"]) == 0
    assert main(["check", "app", "--runtime", "events.json", "--ignore", "DBA3", "--no-cache"]) == 0
    # a runtime-only code in --select keeps the static audit's findings out too
    (project / "app" / "dal.py").write_text(DAL)
    assert main(["check", "app", "--runtime", "events.json", "--ignore", "DBA3", "--no-cache"]) == 1
    capsys.readouterr()
    code, document = check_json(
        capsys, "app", "--runtime", "events.json", "--select", "DBA302", "--no-cache"
    )
    assert code == 1
    assert findings_of(document) == [("DBA302", "count_slowly", "runtime", True)]


SARIF_SCHEMA = Path(__file__).parent / "report" / "schemas" / "sarif-schema-2.1.0.json"


def test_sarif_carries_the_new_runtime_finding_for_code_scanning(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    run_suite(project, pg_url, "events.json")
    assert main(["check", "app", "--no-cache", "--write-baseline", "static.json"]) == 0
    argv = ["check", "app", "--runtime", "events.json", "--baseline", "static.json"]
    assert main([*argv, "-f", "sarif", "-o", "out.sarif", "--no-cache"]) == 1
    captured = capsys.readouterr()
    assert "check failed: 1 new finding(s) at or above low (1 accepted by baseline" in captured.out
    document = json.loads((project / "out.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    run = document["runs"][0]
    [result] = run["results"]
    assert result["ruleId"] == "DBA101" and result["baselineState"] == "new"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app/dal.py"
    assert location["region"]["startLine"] == 16
    assert result["properties"]["evidence"]["queries"] == 6
    assert run["properties"]["dbauditCheck"]["accepted_by_baseline"] == 1


# -- bad input: one line on stderr, exit 2, never a traceback ---------------------------------


def events_document(**changes: object) -> str:
    return json.dumps({"format": "dbaudit.runtime.events", "version": 1, "units": [], **changes})


BAD_EVENTS = {
    "missing": (None, "missing.json: no such file"),
    "not JSON": ("{ not json", "not JSON"),
    "newer version": (events_document(version=2), "events file version 2; this dbaudit reads 1"),
    "other format": (
        json.dumps({"tool": "dbaudit", "version": 1, "findings": []}),
        "not a dbaudit runtime events file",
    ),
    "malformed unit": (events_document(units=[{"queries": 3}]), "malformed unit"),
    "not UTF-8": (b"\xff\xfe{", "cannot read"),
}


@pytest.mark.parametrize("with_path", [False, True], ids=["runtime only", "with a PATH"])
@pytest.mark.parametrize("case", list(BAD_EVENTS))
def test_a_bad_events_file_is_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], case: str, with_path: bool
) -> None:
    content, message = BAD_EVENTS[case]
    path = project / "missing.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    argv = ["check", *(["app", "--no-cache"] if with_path else []), "--runtime", "missing.json"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dbaudit: error: ")
    assert message in lines[0]


def test_bad_events_in_the_console_script_never_show_a_traceback(project: Path) -> None:
    (project / "events.json").write_text(events_document(version=99))
    result = subprocess.run(
        [sys.executable, "-m", "dbaudit", "check", "app", "--runtime", "events.json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "dbaudit: error: events.json: events file version 99; this dbaudit reads 1\n"
    )


def test_an_events_file_with_no_unit_passes_and_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "events.json").write_text(events_document())
    assert main(["check", "--runtime", "events.json"]) == 0
    captured = capsys.readouterr()
    assert "check passed" in captured.out
    assert "events.json: no test or request was profiled (no unit)" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a PATH to audit, or --runtime EVENTS.json"),
        (["--runtime", "events.json", "app"], "--runtime app: a folder, not an events file"),
        (["--runtime", "events.json", "--jobs", "2"], "--jobs applies to the static audit"),
        (["--runtime", "events.json", "--exclude", "x"], "--exclude applies to the static audit"),
        (["--runtime", "events.json", "--ignore", "DBA9"], "unknown rule code 'DBA9' in --ignore"),
        (["app", "--runtime", "events.json", "--select", "X1"], "unknown rule code 'X1'"),
        (["app", "--runtime", "events.json", "--fail-on", "info"], "info findings never fail"),
    ],
)
def test_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (project / "events.json").write_text(events_document())
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err


def test_check_help_documents_the_runtime_gate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--runtime EVENTS.json" in out
    assert "pytest --dbaudit-json dbaudit-events.json" in out
    assert "dbaudit check app --runtime dbaudit-events.json --baseline" in out
    assert "2  usage error, or an events file that cannot be read" in out


# A test's own setup loop: the plugin reports it, located in test code, and does not fail it.
SETUP_LOOP_TEST = """\
import os

ITEMS = int(os.environ["DBAUDIT_TEST_ITEMS"])


def test_reads_each_item_itself(conn):
    for item_id in range(ITEMS):
        conn.execute("SELECT id, owner FROM items WHERE id = %s", (item_id,)).fetchone()
"""


def test_findings_the_plugin_located_in_test_code_are_advisory_in_the_gate(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "tests" / "test_app.py").write_text(SETUP_LOOP_TEST)
    events = run_suite(project, pg_url, "events.json")  # the suite passes: test code
    marked = [
        finding for unit in json.loads(events.read_text())["units"] for finding in unit["findings"]
    ]
    assert [f["rule"] for f in marked] == ["DBA101"] and marked[0]["test_code"]
    code, document = check_json(capsys, "--runtime", "events.json")
    assert code == 0  # as the static audit's findings in tests: info, never failing
    assert document["findings"] == []  # a check lists what fails it
    assert main(["report", "events.json", "--format", "json"]) == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert isinstance(findings, list)
    assert [(f["rule"], f["severity"]) for f in findings] == [("DBA101", "info")]
    assert "located in test code" in findings[0]["problem"]
