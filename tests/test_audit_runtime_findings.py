"""``dbaudit audit --runtime`` treats runtime findings as ``dbaudit check --runtime`` does.

Both commands fold runtime findings in through ``dbaudit.complete_audit.fold_runtime``: rule
selection (the runtime's own codes accepted), paths from an events file written in a subfolder,
and ``# dbaudit: ignore`` comments. Most events files here are written from findings (what the
profiler writes, field for field: ``finding_to_dict``), so each case fixes the lines it needs;
one test runs a real pytest suite against PostgreSQL to show the runtime's lines are the ones a
comment sits on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbaudit.cli import main
from dbaudit.findings import CallHop, Finding, RuntimeEvidence, Severity
from dbaudit.runtime.export import FORMAT, VERSION, finding_to_dict

# owners: an N+1 the static audit sees too (DBA102 at line 8: the loop calls a helper that
# queries); by_owner: one only the runtime sees (line 16: the query is reached through getattr)
DAL = (Path(__file__).parent / "fixtures" / "runtime_gate" / "dal.py").read_text()

TEST = "tests/test_app.py"


def runtime_finding(
    rule: str,
    line: int,
    function: str,
    *,
    queries: int = 6,
    severity: Severity = Severity.MEDIUM,
    path: str = "app/dal.py",
    test: str = "test_app",
) -> Finding:
    """A runtime finding as the detectors write it: at the call site, with the chain from the
    test and the run's counts and times in its message."""
    return Finding(
        rule=rule,
        severity=severity,
        message=f"the same query ran {queries} times from one call site ({queries * 0.3:.1f} ms)",
        path=path,
        line=line,
        end_line=line,
        function=function,
        call_chain=(
            CallHop(TEST, 9, test),
            CallHop(path, line, function),
        ),
        source="runtime",
        query_cost=str(queries),
        fixed_query_cost="1",
        evidence=RuntimeEvidence(queries, queries * 0.3, f"{TEST}::{test}", "f00"),
    )


# every runtime rule an events file can hold, at lines of DAL
N_PLUS_ONE_BOTH_WAYS = runtime_finding("DBA101", 8, "owners", test="test_owners")
N_PLUS_ONE_RUNTIME_ONLY = runtime_finding(
    "DBA101", 16, "by_owner", queries=12, severity=Severity.HIGH, test="test_by_owner"
)
SLOW = runtime_finding("DBA302", 2, "owner_of", queries=1, test="test_owners")
MISSING_INDEX = runtime_finding("DBA401", 16, "by_owner", queries=12, test="test_by_owner")


def write_events(path: Path, *findings: Finding, unit_queries: int = 20) -> str:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "units": [
            {
                "name": f"{TEST}::test_app",
                "queries": unit_queries,
                "db_time_ms": 9.0,
                "events": [],
                "findings": [finding_to_dict(f) for f in findings],
            }
        ],
    }
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text('"""The app."""\n')
    (tmp_path / "app" / "dal.py").write_text(DAL)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def audit_json(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[tuple[str, int, str, str]], str]:
    """Exit status, (rule, line, function, source) of each finding, and stderr."""
    code = main(["audit", *argv, "--no-cache", "-f", "json"])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"] if captured.out else []
    return (
        code,
        [(f["rule"], f["line"], f["function"], f["source"]) for f in findings],
        captured.err,
    )


def check_json(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[tuple[str, int, str, str]], str]:
    code = main(["check", *argv, "-f", "json"])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"] if captured.out else []
    return (
        code,
        [(f["rule"], f["line"], f["function"], f["source"]) for f in findings],
        captured.err,
    )


ALL = (N_PLUS_ONE_BOTH_WAYS, N_PLUS_ONE_RUNTIME_ONLY, SLOW, MISSING_INDEX)


# -- 1. the runtime's rule codes are rule codes --------------------------------------------------


@pytest.mark.parametrize("code", ["DBA302", "DBA301", "DBA401", "DBA3"])
def test_audit_accepts_the_runtimes_rule_codes_without_runtime_files(
    project: Path, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    status, findings, err = audit_json(capsys, "app", "--ignore", code)
    assert (status, err) == (0, "")
    assert findings == [("DBA102", 8, "owners", "static")]
    # selecting runtime rules only leaves the static audit's findings out
    status, findings, err = audit_json(capsys, "app", "--select", code)
    assert (status, findings, err) == (0, [], "")


def test_an_unknown_code_is_still_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "app", "--ignore", "DBA9", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbaudit: error: unknown rule code 'DBA9' in --ignore")
    assert "the runtime's rules are DBA101, DBA103, DBA105, DBA301, DBA302, DBA401" in err


def test_pyproject_codes_of_runtime_rules_apply_to_a_check_without_a_path(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(project / "events.json", *ALL)
    (project / "pyproject.toml").write_text('[tool.dbaudit]\nignore = ["DBA302", "DBA401"]\n')
    code, findings, _ = check_json(capsys, "--runtime", "events.json")
    assert code == 1
    assert findings == [("DBA101", 8, "owners", "runtime"), ("DBA101", 16, "by_owner", "runtime")]
    # and a typo there is one line, as the scan makes it with a PATH
    (project / "pyproject.toml").write_text('[tool.dbaudit]\nignore = ["DBA9"]\n')
    assert main(["check", "--runtime", "events.json"]) == 2
    assert "unknown rule code 'DBA9' in ignore" in capsys.readouterr().err


def test_pyproject_codes_of_runtime_rules_with_a_path(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(project / "events.json", *ALL)
    (project / "pyproject.toml").write_text('[tool.dbaudit]\nignore = ["DBA302"]\n')
    status, findings, _ = audit_json(capsys, "app", "--runtime", "events.json")
    assert status == 0
    assert "DBA302" not in [rule for rule, *_ in findings]


def test_check_imports_no_private_name() -> None:
    import dbaudit.commands.check as check

    assert not [name for name in vars(check) if name in {"_rule_selected", "known_rule_codes"}]


# -- 2. --select, --ignore and --min-severity apply to runtime findings, in audit as in check ---


def test_audit_runtime_findings_follow_select_ignore_and_min_severity(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(project / "events.json", *ALL)
    argv = ("app", "--runtime", "events.json")
    status, findings, err = audit_json(capsys, *argv)
    assert status == 0
    assert findings == [
        ("DBA302", 2, "owner_of", "runtime"),
        ("DBA102", 8, "owners", "static"),  # confirmed by the runtime's DBA101 at line 8
        ("DBA101", 16, "by_owner", "runtime"),
        ("DBA401", 16, "by_owner", "runtime"),
    ]
    assert "dbaudit: runtime: 1 unit(s) in events.json; 1 static finding(s) confirmed, " in err
    assert "3 seen only at runtime, 0 suppressed inline, 0 filtered out" in err

    _, findings, err = audit_json(capsys, *argv, "--ignore", "DBA302,DBA401")
    assert findings == [("DBA102", 8, "owners", "static"), ("DBA101", 16, "by_owner", "runtime")]
    assert "1 seen only at runtime, 0 suppressed inline, 2 filtered out" in err
    _, findings, _ = audit_json(capsys, *argv, "--select", "DBA3")
    assert findings == [("DBA302", 2, "owner_of", "runtime")]
    # codes are codes: with the static DBA102 left out, the runtime's DBA101 confirms nothing
    # and is a finding of its own (a comment naming DBA102 would silence both: see below)
    _, findings, _ = audit_json(capsys, *argv, "--select", "DBA1", "--ignore", "DBA102")
    assert findings == [("DBA101", 8, "owners", "runtime"), ("DBA101", 16, "by_owner", "runtime")]
    high = [("DBA102", 8, "owners", "static"), ("DBA101", 16, "by_owner", "runtime")]
    _, findings, _ = audit_json(capsys, *argv, "--min-severity", "high")
    assert findings == high
    # the same from [tool.dbaudit] (no runtime code there: the scan reads that table too)
    (project / "pyproject.toml").write_text('[tool.dbaudit]\nmin-severity = "high"\n')
    _, findings, _ = audit_json(capsys, *argv)
    assert findings == high


def test_check_and_audit_keep_the_same_findings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(project / "events.json", *ALL)
    for options in ([], ["--ignore", "DBA3"], ["--select", "DBA101,DBA4"]):
        argv = ("app", "--runtime", "events.json", *options)
        _, audited, _ = audit_json(capsys, *argv)
        _, checked, _ = check_json(capsys, *argv, "--no-cache")
        assert audited == checked, options


# -- 3. an events file written in a subfolder ---------------------------------------------------


def test_audit_reads_the_paths_of_a_suite_run_from_a_subfolder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cd backend && pytest --dbaudit-json events.json``, then the audit from the root."""
    backend = project / "backend"
    backend.mkdir()
    for name in ("app", "tests"):
        (project / name).rename(backend / name)
    write_events(backend / "events.json", *ALL)
    code = main(
        ["audit", "backend", "--runtime", "backend/events.json", "--no-cache", "-f", "json"]
    )
    assert code == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    # the static audit's paths, the runtime's made relative to here like them
    assert {f["path"] for f in findings} == {"backend/app/dal.py"}
    runtime_only = [f for f in findings if f["source"] == "runtime"]
    assert len(runtime_only) == 3
    for finding in runtime_only:
        assert [h["path"] for h in finding["call_chain"]] == [
            "backend/tests/test_app.py",
            "backend/app/dal.py",
        ]
    # the loop seen both ways is still one finding, confirmed
    [static] = [f for f in findings if f["source"] == "static"]
    assert static["evidence"]["queries"] == 6


def test_a_path_that_names_a_file_from_here_is_kept(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "ci").mkdir()
    write_events(project / "ci" / "events.json", *ALL)
    status, findings, _ = audit_json(capsys, "app", "--runtime", "ci/events.json")
    assert status == 0 and len(findings) == 4
    assert main(["audit", "app", "--runtime", "ci", "--no-cache"]) == 2
    assert "--runtime ci: a folder, not an events file" in capsys.readouterr().err


# -- 4. # dbaudit: ignore silences runtime findings, as it silences static ones ----------------


def with_comments(project: Path, comments: dict[int, str]) -> None:
    lines = DAL.splitlines()
    for number, comment in comments.items():
        lines[number - 1] += f"  {comment}"
    (project / "app" / "dal.py").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("comments", "left", "silenced"),
    [
        # on the finding's line, naming its rule, or bare
        ({16: "# dbaudit: ignore[DBA101]"}, ["DBA302", "DBA102", "DBA401"], 1),
        ({16: "# dbaudit: ignore"}, ["DBA302", "DBA102"], 2),
        # on the loop's header: its body is covered, as for a static finding
        ({15: "# dbaudit: ignore[DBA101, DBA401]"}, ["DBA302", "DBA102"], 2),
        # on the function's def line
        ({1: "# dbaudit: ignore[DBA302]"}, ["DBA102", "DBA101", "DBA401"], 1),
        # the static rule the runtime finding confirms: the loop is silenced both ways (the
        # static finding by the scan, its runtime twin here)
        ({8: "# dbaudit: ignore[DBA102]"}, ["DBA302", "DBA101", "DBA401"], 1),
        # another rule's code silences nothing here
        ({16: "# dbaudit: ignore[DBA105]"}, ["DBA302", "DBA102", "DBA101", "DBA401"], 0),
    ],
)
def test_inline_comments_silence_runtime_findings_in_audit_and_check(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    comments: dict[int, str],
    left: list[str],
    silenced: int,
) -> None:
    with_comments(project, comments)
    write_events(project / "events.json", *ALL)
    status, audited, err = audit_json(capsys, "app", "--runtime", "events.json")
    assert status == 0
    assert [rule for rule, *_ in audited] == left
    assert f"{silenced} suppressed inline" in err
    _, checked, err = check_json(capsys, "app", "--runtime", "events.json", "--no-cache")
    assert checked == audited
    assert f"{silenced} suppressed inline" in err
    # without a PATH the check reads the comments too (the loop in owners is then the
    # runtime's own finding)
    _, alone, _ = check_json(capsys, "--runtime", "events.json")
    assert [rule for rule, *_ in alone] == [r.replace("DBA102", "DBA101") for r in left]


def test_a_comment_silences_nothing_outside_its_line_or_block(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_comments(project, {12: "# dbaudit: ignore"})  # by_owner's def: its body only
    (project / "app" / "other.py").write_text('"""No comment here."""\n' + "\n" * 20)
    elsewhere = runtime_finding("DBA101", 16, "load", path="app/other.py")
    write_events(project / "events.json", *ALL, elsewhere)
    _, findings, err = audit_json(capsys, "app", "--runtime", "events.json")
    assert findings == [
        ("DBA302", 2, "owner_of", "runtime"),
        ("DBA102", 8, "owners", "static"),
        ("DBA101", 16, "load", "runtime"),  # the same line number, in another file
    ]
    assert "2 suppressed inline" in err


# the real profiler: its lines are the lines the comments sit on

CONFTEST = """\
import os

import psycopg
import pytest

import dbaudit.runtime


@pytest.fixture()
def conn():
    raw = psycopg.connect(os.environ["DBAUDIT_TEST_PG"], autocommit=True)
    raw.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, owner int)")
    raw.execute("INSERT INTO items SELECT g, g % 4 FROM generate_series(0, 39) g")
    yield dbaudit.runtime.instrument(raw)
    raw.close()
"""

TESTS = """\
from app.dal import by_owner, owners


def test_owners(conn):
    assert owners(conn, range(6)) == [i % 4 for i in range(6)]


def test_by_owner(conn):
    assert len(by_owner(conn, range(6))) == 6
"""


DBAUDIT_JSON = ("--dbaudit-json", "events.json", "tests")


def test_a_real_run_is_silenced_where_the_static_audit_would_be(
    project: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "tests" / "conftest.py").write_text(CONFTEST)
    (project / "tests" / "test_app.py").write_text(TESTS)
    (project / "pytest.ini").write_text("[pytest]\ndbaudit_slow_query_ms = 60000\n")
    with_comments(project, {8: "# dbaudit: ignore[DBA102]", 15: "# dbaudit: ignore"})
    env = {**os.environ, "DBAUDIT_TEST_PG": pg_url}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DBAUDIT_JSON],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = json.loads((project / "events.json").read_text())
    lines = sorted((f["rule"], f["line"]) for u in recorded["units"] for f in u["findings"])
    assert lines == [("DBA101", 8), ("DBA101", 16)]
    status, findings, err = audit_json(capsys, "app", "--runtime", "events.json")
    assert (status, findings) == (0, [])
    assert "0 seen only at runtime, 2 suppressed inline" in err
    assert main(["check", "app", "--runtime", "events.json", "--no-cache"]) == 0
    assert main(["check", "--runtime", "events.json"]) == 0
    assert "check passed" in capsys.readouterr().out
