from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from dbaudit.findings import Audit
from dbaudit.report import json as json_report
from dbaudit.report import render


def _schema() -> dict[str, Any]:
    text = resources.files("dbaudit.report").joinpath("audit-report.schema.json").read_text()
    return json.loads(text)


def _validate(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str) -> list[str]:
    """The subset of JSON Schema the report's schema uses; returns the errors found."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return _validate(value, root["$defs"][name], root, where)
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not _validate(value, s, root, where)]
        return [] if len(matches) == 1 else [f"{where}: matches {len(matches)} of oneOf"]
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "null": type(None), "boolean": bool}
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return [f"{where}: not an integer"]
    if kind == "number" and not isinstance(value, int | float):
        return [f"{where}: not a number"]
    if kind in types and not isinstance(value, types[kind]):
        return [f"{where}: not {kind}"]
    if isinstance(value, int | float) and "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: below minimum")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: too short")
    if isinstance(value, dict):
        errors += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in schema.get("properties", {}):
                errors += _validate(item, schema["properties"][key], root, f"{where}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _validate(item, schema["additionalProperties"], root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += _validate(item, schema["items"], root, f"{where}[{index}]")
    return errors


def test_json_report_matches_golden(sample_audit: Audit, golden) -> None:
    golden.check("sample.json", json_report.render(sample_audit))


def test_json_report_validates_against_its_schema(sample_audit: Audit) -> None:
    schema = _schema()
    assert _validate(json.loads(render(sample_audit, "json")), schema, schema, "$") == []
    assert _validate(json.loads(render(Audit(), "json")), schema, schema, "$") == []


def test_the_validator_catches_a_broken_report(sample_audit: Audit) -> None:
    schema = _schema()
    document = json.loads(render(sample_audit, "json"))
    del document["findings"][0]["query_cost"]
    document["findings"][1]["severity"] = "urgent"
    errors = _validate(document, schema, schema, "$")
    assert "$.findings[0]: missing query_cost" in errors
    assert any("urgent" in e for e in errors)


def test_findings_good_practices_and_skipped_are_separate_top_level_keys(
    sample_audit: Audit,
) -> None:
    document = json.loads(render(sample_audit, "json"))
    assert [f["rule"] for f in document["findings"]] == ["DBA103", "DBA105", "DBA110"]
    assert {p["kind"] for p in document["good_practices"]} == {"window function", "batched IN"}
    assert document["skipped"][0] == {
        "path": "app/legacy.py",
        "reason": "syntax error (line 3): invalid syntax",
        "by_design": False,
    }
    assert document["summary"]["files_not_analyzable"] == 2
    first = document["findings"][0]
    assert first["call_chain"][1] == {
        "path": "app/dal/render_chains.py",
        "line": 31,
        "function": "RenderChainsDAL.remove_render",
        "detail": "session.execute(update(Render))",
    }
    assert first["evidence"]["queries"] == 52
    assert first["column"] == 9
    assert document["summary"]["findings_by_severity"] == {
        "critical": 0,
        "high": 1,
        "medium": 1,
        "low": 0,
        "info": 1,
    }
    assert document["summary"]["files_by_layer"]["data access"] == 2


def test_schema_doc_lists_every_finding_key(sample_audit: Audit) -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "json-schema.md").read_text()
    document = json.loads(render(sample_audit, "json"))
    for key in document["findings"][0]:
        assert f"`{key}`" in doc, key
    for key in document:
        assert f"`{key}`" in doc, key
