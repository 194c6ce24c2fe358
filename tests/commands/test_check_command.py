"""``dbaudit check``: exit codes, severities and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbaudit.cli import main

LOOP = """\
from sqlalchemy import select


async def load(session, ids):
    rows = []
    for item_id in ids:
        rows.append(await session.scalar(select(Item).where(Item.id == item_id)))
    return rows
"""

SECOND_LOOP = """

async def load_again(session, keys):
    found = []
    for key in keys:
        found.append(await session.scalar(select(Item).where(Item.key == key)))
    return found
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "items.py").write_text(LOOP)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_high_finding_fails_at_the_default_threshold(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "app/items.py:7:" in out and "DBA101" in out
    assert "check failed: 1 new finding(s) at or above low" in out


def test_fail_on_critical_passes_a_high_finding(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "--fail-on", "critical", "--no-cache"]) == 0
    assert "check passed: no new finding at or above critical" in capsys.readouterr().out


def test_info_never_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "app", "--fail-on", "info", "--no-cache"]) == 2
    assert "info findings never fail a check" in capsys.readouterr().err


def test_baseline_accepts_old_findings_and_fails_on_new_ones(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "--write-baseline", "baseline.json", "--no-cache"]) == 0
    assert "wrote baseline of 1 finding(s)" in capsys.readouterr().err
    assert main(["check", "app", "--baseline", "baseline.json", "--no-cache"]) == 0
    assert "(1 accepted by baseline baseline.json)" in capsys.readouterr().out
    # moving the code down does not invalidate the entry
    (project / "app" / "items.py").write_text("# a comment\n\n\n" + LOOP)
    assert main(["check", "app", "--baseline", "baseline.json", "--no-cache"]) == 0
    capsys.readouterr()
    # a second loop is new
    (project / "app" / "items.py").write_text(LOOP + SECOND_LOOP)
    assert main(["check", "app", "--baseline", "baseline.json", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "load_again" in out and "check failed: 1 new finding(s)" in out


def test_baseline_and_fail_on_from_pyproject(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.dbaudit]\nbaseline = 'ci/baseline.json'\nfail-on = 'medium'\n"
    )
    (project / "ci").mkdir()
    assert main(["check", "app", "--write-baseline", "ci/baseline.json", "--no-cache"]) == 0
    (project / "app" / "items.py").write_text(LOOP + SECOND_LOOP)
    assert main(["check", "app", "--no-cache", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["check"]["fail_on"] == "medium"
    assert document["check"]["accepted_by_baseline"] == 1
    assert [f["function"] for f in document["findings"]] == ["load_again"]


def test_missing_baseline_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "--baseline", "nope.json", "--no-cache"]) == 2
    assert "baseline file nope.json does not exist" in capsys.readouterr().err


def test_clean_code_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "app" / "items.py").write_text(
        "from sqlalchemy import select\n\n\nasync def load(session, ids):\n"
        "    return (await session.scalars(select(Item).where(Item.id.in_(ids)))).all()\n"
    )
    assert main(["check", "app", "--no-cache"]) == 0
    assert "check passed" in capsys.readouterr().out


def test_unanalyzable_files_give_exit_3_when_nothing_new_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "app" / "bad.py").write_bytes(b"x = '\xff'\n")
    assert main(["check", "app", "--fail-on", "critical", "--no-cache"]) == 3
    assert "app/bad.py: not valid UTF-8" in capsys.readouterr().out


SARIF_SCHEMA = Path(__file__).parents[1] / "report" / "schemas" / "sarif-schema-2.1.0.json"


def test_one_step_gates_and_writes_sarif_for_code_scanning(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import jsonschema

    (project / "app" / "items.py").write_text(LOOP + SECOND_LOOP)
    assert main(["check", "app", "--write-baseline", "base.json", "--no-cache"]) == 0
    (project / "app" / "more.py").write_text(LOOP.replace("def load(", "def load_more("))
    code = main(
        ["check", "app", "--baseline", "base.json", "-f", "sarif", "-o", "out.sarif", "--no-cache"]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert "check failed: 1 new finding(s) at or above low" in captured.out
    assert "app/more.py:7:" in captured.out  # the CI log shows what failed
    assert "wrote sarif report to out.sarif" in captured.err
    document = json.loads((project / "out.sarif").read_text())
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(document)
    run = document["runs"][0]
    results = run["results"]
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results] == [
        "app/more.py"
    ]
    assert results[0]["baselineState"] == "new"
    check = run["properties"]["dbauditCheck"]
    assert check["failed"] is True and check["accepted_by_baseline"] == 2


def test_json_to_a_file_and_sarif_on_stdout_when_passing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "-f", "json", "-o", "check.json", "--no-cache"]) == 1
    document = json.loads((project / "check.json").read_text())
    assert document["check"]["failed"] is True
    assert [f["rule"] for f in document["findings"]] == ["DBA101"]
    capsys.readouterr()
    assert main(["check", "app", "--fail-on", "critical", "-f", "sarif", "--no-cache"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["properties"]["dbauditCheck"]["failed"] is False
    assert "baselineState" not in json.dumps(sarif)


def test_write_baseline_with_an_output_file_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "--write-baseline", "b.json", "-o", "x.sarif"]) == 2
    assert "--write-baseline writes no report" in capsys.readouterr().err
    assert not (project / "b.json").exists()


def test_an_unwritable_output_file_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "app", "-f", "sarif", "-o", "missing/dir/x.sarif", "--no-cache"]) == 2
    assert "cannot write missing/dir/x.sarif" in capsys.readouterr().err


TS_FIXTURE = Path(__file__).parents[1] / "fixtures" / "ts_render_platform" / "naive"


def test_a_typescript_app_gates_with_a_baseline_and_sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.copytree(TS_FIXTURE, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")
    assert main(["check", ".", "--write-baseline", "base.json", "--no-cache"]) == 0
    services = tmp_path / "app" / "lib" / "services"
    moved = "// moved down by a comment\n\n" + (services / "chains.ts").read_text()
    (services / "chains.ts").write_text(moved)
    assert main(["check", ".", "--baseline", "base.json", "--no-cache"]) == 0
    (services / "extra.ts").write_text(
        'import { RendersDAL } from "@/lib/dal/renders";\n\n'
        "export async function chainsRenders(chainIds: number[]) {\n"
        "  const out = [];\n"
        "  for (const id of chainIds) {\n"
        "    out.push(await RendersDAL.getByChainId(id));\n"
        "  }\n"
        "  return out;\n"
        "}\n"
    )
    capsys.readouterr()
    argv = ["check", ".", "--baseline", "base.json", "-f", "sarif", "-o", "x.sarif", "--no-cache"]
    assert main(argv) == 1
    assert "lib/services/extra.ts:6:" in capsys.readouterr().out
    results = json.loads((tmp_path / "app" / "x.sarif").read_text())["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["DBA102"]
    assert results[0]["baselineState"] == "new"
