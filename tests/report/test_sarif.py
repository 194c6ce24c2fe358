"""SARIF 2.1.0: validated against the official OASIS schema (vendored in ``schemas/``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import dbaudit.reference.render_platform as platform
from dbaudit import __version__
from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.cli import main
from dbaudit.findings import Audit, Finding, Fix, Severity, SkippedFile
from dbaudit.report import FORMATS, render, sarif
from dbaudit.rules.registry import RULES

SCHEMA_PATH = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
APP = Path(platform.__file__).parent


@cache
def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def assert_valid_sarif(document: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    messages = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]
    assert not errors, "\n".join(messages)


def _run(document: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = document["runs"][0]
    return run


def test_sarif_matches_golden(sample_audit: Audit, golden) -> None:
    golden.check("sample.sarif", sarif.render(sample_audit))


def test_the_schema_rejects_what_it_should() -> None:
    # the validator is not a rubber stamp: a result without a message is invalid SARIF
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{}]}]}
    assert list(_validator().iter_errors(broken))


def test_sample_audit_is_valid_sarif(sample_audit: Audit) -> None:
    assert_valid_sarif(sarif.to_dict(sample_audit))
    assert_valid_sarif(sarif.to_dict(sample_audit, source_root="/home/dev/app"))


def reference_audit() -> Audit:
    """The naive reference app, paths relative to the app's folder wherever pytest runs."""
    options = AuditOptions(use_cache=False, jobs=1, cwd=str(APP), use_project_config=False)
    return run_static_audit(["naive"], options)


def test_reference_app_sarif_matches_golden(golden) -> None:
    golden.check("reference-naive.sarif", sarif.render(reference_audit()))


def test_reference_app_audit_is_valid_sarif() -> None:
    audit = reference_audit()
    document = sarif.to_dict(audit)
    assert_valid_sarif(document)
    results = _run(document)["results"]
    assert len(results) == len(audit.findings) >= 5
    assert any("relatedLocations" in r for r in results)  # helpers' call chains


def test_driver_lists_every_rule_with_help_from_its_docs(sample_audit: Audit) -> None:
    driver = _run(sarif.to_dict(sample_audit))["tool"]["driver"]
    assert driver["name"] == "dbaudit"
    assert driver["version"] == __version__
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert set(rules) >= {rule.code for rule in RULES}
    dba101 = rules["DBA101"]
    assert dba101["name"] == "query-in-loop"
    assert dba101["shortDescription"]["text"] == "Query in a loop."
    assert dba101["fullDescription"]["text"].startswith("Finds a database call made directly")
    assert "## Why is this bad?" in dba101["help"]["markdown"]
    # reST-style literals turned into Markdown, code fences kept
    assert "``for``" not in dba101["help"]["markdown"]
    assert "a `for`, `while`" in dba101["help"]["markdown"]
    assert "```python\n" in dba101["help"]["markdown"]
    assert dba101["defaultConfiguration"]["level"] == "error"
    assert rules["DBA105"]["defaultConfiguration"]["level"] == "warning"
    assert rules["DBA110"]["defaultConfiguration"]["level"] == "note"


def test_result_has_location_region_fingerprint_and_costs(sample_audit: Audit) -> None:
    run = _run(sarif.to_dict(sample_audit))
    result = run["results"][0]
    finding = sample_audit.findings[0]
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == "DBA103"
    assert result["level"] == "error"  # high
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": "app/services/render_chain.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert physical["region"] == {"startLine": 14, "endLine": 16, "startColumn": 9}
    assert result["partialFingerprints"] == {"dbauditBaselineKey/v1": finding.baseline_key()}
    assert result["properties"]["queryCost"] == "2 + N"
    assert result["properties"]["fixedQueryCost"] == "3"
    assert result["properties"]["evidence"] == {
        "queries": 52,
        "totalMs": 412.5,
        "unit": "test_delete_chain",
    }
    text = result["message"]["text"]
    assert text.startswith("UPDATE per render inside a loop over renders")
    assert "2 + N queries, 3 queries after the fix" in text
    assert "Measured at runtime: 52 queries, 412 ms in test_delete_chain" in text


def test_every_call_chain_hop_is_a_related_location_and_a_code_flow_step(
    sample_audit: Audit,
) -> None:
    result = _run(sarif.to_dict(sample_audit))["results"][0]
    related = result["relatedLocations"]
    assert [r["physicalLocation"]["artifactLocation"]["uri"] for r in related] == [
        "app/services/render_chain.py",
        "app/dal/render_chains.py",
    ]
    assert [r["physicalLocation"]["region"]["startLine"] for r in related] == [15, 31]
    assert related[1]["message"]["text"] == (
        "RenderChainsDAL.remove_render: session.execute(update(Render))"
    )
    flow = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert [step["location"] for step in flow] == related
    no_chain = _run(sarif.to_dict(sample_audit))["results"][1]
    assert "relatedLocations" not in no_chain and "codeFlows" not in no_chain


def test_skipped_files_are_tool_notifications(sample_audit: Audit) -> None:
    invocation = _run(sarif.to_dict(sample_audit))["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes] == [
        "app/legacy.py",
        "app/latin.py",
    ]
    assert notes[0]["message"]["text"] == "not analyzed: syntax error (line 3): invalid syntax"
    assert notes[0]["level"] == "warning"
    by_design = Audit(skipped=[SkippedFile("app/empty.py", "empty file")])
    invocation = _run(sarif.to_dict(by_design))["invocations"][0]
    assert invocation["toolExecutionNotifications"][0]["level"] == "note"


def test_live_and_unregistered_rules_absolute_paths_and_odd_names_stay_valid() -> None:
    live = Finding(
        "DBA401",
        Severity.HIGH,
        "missing index on renders: 3 queries filter on chain_id",
        "db://app/renders",
        0,
        0,
        fix=Fix("create the index", "CREATE INDEX ON renders (chain_id);", "sql"),
        source="live",
    )
    odd = Finding(
        "DBA301",
        Severity.MEDIUM,
        "the same query twice",
        "/srv/my app/ünïcode #1.py",
        3,
        2,  # an end before the start is clamped
        function="<lambda>",
        source="runtime",
    )
    audit = Audit(
        roots=("/srv",), findings=[live, odd], skipped=[SkippedFile("/srv/x y.py", "too large")]
    )
    document = sarif.to_dict(audit, source_root="/srv/my app")
    assert_valid_sarif(document)
    run = _run(document)
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["DBA401"]["shortDescription"]["text"] == "missing index on renders"
    assert rules["DBA301"]["defaultConfiguration"]["level"] == "warning"
    first, second = run["results"]
    assert "physicalLocation" not in first["locations"][0]
    assert first["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "db://app/renders"
    artifact = second["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "file:///srv/my%20app/%C3%BCn%C3%AFcode%20%231.py"}
    assert second["locations"][0]["physicalLocation"]["region"]["endLine"] == 3
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///srv/my%20app/"}}


def test_empty_audit_is_valid_sarif_with_no_results() -> None:
    document = sarif.to_dict(Audit())
    assert_valid_sarif(document)
    assert _run(document)["results"] == []


def test_render_dispatch_records_the_working_directory(
    sample_audit: Audit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "sarif" in FORMATS
    monkeypatch.chdir(tmp_path)
    document = json.loads(render(sample_audit, "sarif"))
    assert document["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == (
        tmp_path.as_uri() + "/"
    )
    assert_valid_sarif(document)


def test_audit_command_writes_sarif(
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
    assert main(["audit", "app", "--format", "sarif", "-o", "out.sarif", "--no-cache"]) == 0
    document = json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))
    assert_valid_sarif(document)
    (result,) = _run(document)["results"]
    assert result["ruleId"] == "DBA101"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/items.py"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 7


def test_runtime_report_command_writes_valid_sarif_with_sub_millisecond_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from dbaudit.runtime import instrument, profile
    from dbaudit.runtime.export import write

    monkeypatch.chdir(tmp_path)
    connection = instrument(sqlite3.connect(":memory:"))
    with profile("tests/test_api.py::test_list") as unit:
        for key in range(4):
            connection.execute("SELECT ? + 1", (key,)).fetchone()
    write(tmp_path / "events.json", [unit])
    assert main(["report", "events.json", "-f", "sarif", "-o", "out.sarif"]) == 0
    document = json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))
    assert_valid_sarif(document)
    (result,) = _run(document)["results"]
    assert result["properties"]["source"] == "runtime"
    assert result["properties"]["evidence"]["queries"] == 4
    # an in-memory query takes microseconds: the message must not round them to "0 ms"
    spent = result["properties"]["evidence"]["totalMs"]
    text = result["message"]["text"]
    assert f"Measured at runtime: 4 queries, {sarif.milliseconds(spent)} in tests/test_api" in text
    assert spent == 0 or ", 0 ms" not in text


def test_milliseconds() -> None:
    assert [sarif.milliseconds(v) for v in (412.5, 23.84, 1.5, 0.093, 0)] == [
        "412 ms",
        "23.8 ms",
        "1.5 ms",
        "0.09 ms",
        "0 ms",
    ]


def test_live_audit_is_valid_sarif_with_named_database_rules(live_audit: Audit) -> None:
    document = sarif.to_dict(live_audit)
    assert_valid_sarif(document)
    rules = {rule["id"]: rule for rule in _run(document)["tool"]["driver"]["rules"]}
    assert rules["DBA402"]["name"] == "foreign-key-without-index"
    assert rules["DBA501"]["name"] == "no-statement-timeout"
