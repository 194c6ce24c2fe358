"""One Audit from the static audit, runtime events files and the code's schema (no database)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dbaudit.audit import AuditOptions, scan
from dbaudit.complete_audit import complete
from dbaudit.findings import Finding, RuntimeEvidence, Severity
from dbaudit.report import render
from dbaudit.runtime.export import FORMAT, VERSION, EventsFileError, finding_to_dict

LOOP = """\
from sqlalchemy import select

from app.models import Item


async def load(session, ids):
    rows = []
    for item_id in ids:
        rows.append(await session.scalars(select(Item).where(Item.owner_id == item_id)))
    return rows
"""

MODELS = """\
from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
    kind_id: Mapped[int] = mapped_column(ForeignKey("kinds.id"), index=True)
"""

DDL = """\
CREATE TABLE kinds (id bigint PRIMARY KEY, label text);
CREATE TABLE tags (id bigint PRIMARY KEY, item_id bigint REFERENCES items (id));
CREATE INDEX tags_item_id_idx ON tags (item_id);
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "dal.py").write_text(LOOP)
    (tmp_path / "app" / "models.py").write_text(MODELS)
    return tmp_path


def _static(root: Path) -> Any:
    return scan(["app"], AuditOptions(cwd=str(root), use_cache=False, use_project_config=False))


def _events(path: Path, *units: tuple[str, int, float, list[Finding]]) -> str:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "created": "2026-01-01T00:00:00Z",
        "units": [
            {
                "name": name,
                "queries": queries,
                "db_time_ms": ms,
                "events": [],
                "findings": [finding_to_dict(f) for f in findings],
            }
            for name, queries, ms, findings in units
        ],
    }
    path.write_text(json.dumps(document))
    return str(path)


def _runtime_n_plus_one(path: str, line: int) -> Finding:
    return Finding(
        rule="DBA101",
        severity=Severity.HIGH,
        message="N+1: the same query ran 20 times from one call site",
        path=path,
        line=line,
        end_line=line,
        source="runtime",
        query_cost="20",
        fixed_query_cost="1",
        evidence=RuntimeEvidence(20, 10.0, "tests/test_dal.py::test_load", "abc"),
    )


def test_static_findings_seen_at_runtime_are_confirmed_with_their_measurements(
    project: Path, tmp_path: Path
) -> None:
    events = _events(
        tmp_path / "events.json",
        ("tests/test_dal.py::test_load", 21, 12.0, [_runtime_n_plus_one("app/dal.py", 9)]),
        ("tests/test_dal.py::test_clean", 2, 1.0, []),
    )
    result = complete(_static(project), runtime_files=[events])
    [finding] = result.audit.findings
    assert (finding.rule, finding.source, finding.confidence) == ("DBA101", "static", "high")
    assert finding.evidence == RuntimeEvidence(
        20, 10.0, "tests/test_dal.py::test_load", "abc", unit_queries=21, unit_ms=12.0
    )
    [metric] = result.audit.metrics
    assert (metric.name, metric.queries_before, metric.queries_after) == (
        "tests/test_dal.py::test_load",
        21,
        2,
    )
    assert metric.ms_before == 12.0
    assert metric.ms_after == pytest.approx(12.0 - 19 * 0.5)
    assert not metric.measured


def test_a_runtime_finding_no_static_finding_explains_is_kept(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = _runtime_n_plus_one("app/views.py", 40)
    events = _events(tmp_path / "events.json", ("t", 21, 12.0, [elsewhere]))
    audit = complete(_static(project), runtime_files=[events]).audit
    assert sorted((f.source, f.path) for f in audit.findings) == [
        ("runtime", "app/views.py"),
        ("static", "app/dal.py"),
    ]
    assert next(f for f in audit.findings if f.source == "static").evidence is None


def test_an_unreadable_events_file_is_one_error_line(project: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(EventsFileError, match=r"broken\.json: not JSON"):
        complete(_static(project), runtime_files=[str(broken)])


def test_without_a_database_the_schema_comes_from_models_and_ddl_files(project: Path) -> None:
    (project / "app" / "schema").mkdir()
    (project / "app" / "schema" / "001_extra.sql").write_text(DDL)
    (project / "app" / "schema" / "seed.sql").write_text("INSERT INTO kinds VALUES (1, 'a');")
    audit = complete(_static(project)).audit
    database = audit.database
    assert database is not None
    assert (database.source, database.tables, database.planner) == ("static", 4, "")
    assert database.database == "app/schema/001_extra.sql, app/models.py"
    existing = {(i.table, i.name): i for i in database.existing_indexes}
    assert existing[("items", "ix_items_kind_id")].definition == (
        "CREATE INDEX ix_items_kind_id ON items (kind_id)"
    )
    assert existing[("items", "items_pkey")].backs_constraint == "items_pkey"
    assert ("tags", "tags_item_id_idx") in existing  # from the DDL file
    # the one foreign key no index serves, queried once per item in a loop: high
    [advice] = database.recommendations
    assert advice.ddl == "CREATE INDEX CONCURRENTLY items_owner_id_idx ON items (owner_id);"
    assert (advice.table, advice.priority, advice.size_bytes) == ("items", "high", 0)
    assert "load (app/dal.py:9) x10" in advice.reason
    assert "no planner judged it" in advice.reason
    assert database.problems == ()


def test_a_ddl_file_that_cannot_be_parsed_is_a_problem_not_a_failure(project: Path) -> None:
    (project / "app" / "bad.sql").write_text("CREATE TABLE (;")
    result = complete(_static(project))
    assert result.audit.database is not None
    assert result.audit.database.tables == 2  # the models' tables
    [problem] = result.problems
    assert problem.startswith("app/bad.sql: cannot parse DDL")


def test_without_a_schema_in_the_code_there_is_no_database_review(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "dal.py").write_text(LOOP)
    result = complete(_static(tmp_path))
    assert result.audit.database is None
    assert result.problems == ()


def _report_schema() -> dict[str, Any]:
    text = resources.files("dbaudit.report").joinpath("audit-report.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_the_json_report_carries_database_and_metrics_in_its_schema(
    project: Path, tmp_path: Path
) -> None:
    (project / "app" / "001.sql").write_text(DDL)
    events = _events(
        tmp_path / "events.json", ("t", 21, 12.0, [_runtime_n_plus_one("app/dal.py", 9)])
    )
    audit = complete(_static(project), runtime_files=[events]).audit
    document = json.loads(render(audit, "json"))
    schema = _report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert errors == []
    assert document["schema_version"] == "1.2"
    assert document["metrics"] == [
        {
            "name": "t",
            "queries_before": 21,
            "queries_after": 2,
            "ms_before": 12.0,
            "ms_after": 2.5,
            "measured": False,
        }
    ]
    assert document["database"]["source"] == "static"
    assert document["database"]["recommendations"][0]["statements"] == []
    # and the validator is not a rubber stamp
    document["database"]["recommendations"][0]["priority"] = "urgent"
    del document["metrics"][0]["measured"]
    messages = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(document)]
    assert any("urgent" in m for m in messages)
    assert any("'measured' is a required property" in m for m in messages)


def test_the_program_facts_are_served_from_the_analysis_cache(project: Path) -> None:
    options = AuditOptions(cwd=str(project), cache_dir=str(project / ".cache"))
    first = scan(["app"], options)
    again = scan(["app"], options)
    assert again.stats.analysis_from_cache and not first.stats.analysis_from_cache
    assert again.facts == first.facts
    [operation] = first.facts.operations
    assert (operation.label, operation.calls) == ("load (app/dal.py:9)", 10.0)
    assert first.facts.model_files == (("sqlalchemy", "app/models.py"),)
