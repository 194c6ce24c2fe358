"""Acceptance: ``dbaudit audit`` of the reference app's naive variant with ``--runtime`` and
``--db``, on a real PostgreSQL holding the naive schema and data.

The runtime events file is what the profiler wrote while the naive operations ran (as
``pytest --dbaudit-json`` would), recorded on a scratch copy of the database; the reviewed
database is a fresh load of the same data (writes leave no dead rows behind for the advisor).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from dbaudit.cli import main
from dbaudit.db import PostgresServer, sqlalchemy_url, temporary_database
from dbaudit.demo.reference_audit import reference_app_dir, variant_paths
from dbaudit.reference.render_platform import naive
from dbaudit.reference.render_platform.datagen import Dataset, Scale, generate
from dbaudit.reference.render_platform.operations import OPERATIONS
from dbaudit.reference.render_platform.schema import create_schema
from dbaudit.runtime import Unit, instrument, profile, uninstrument
from dbaudit.runtime.export import write

# Scale.demo()'s 30 users leave every table under the size where a sequential scan is as fast
# as any index; 400 put renders, projects and render chains over it and load in about a second.
SCALE = replace(Scale.demo(), users=400)
DDL_TARGET = re.compile(r" ON (\w+) \((\w+)")


@dataclass(frozen=True, slots=True)
class Reference:
    url: str
    events: str
    app: Path  # the folder holding render_platform/


async def _load(url: str) -> Dataset:
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        await create_schema(engine, "naive")
    finally:
        await engine.dispose()
    dataset = await generate(url, SCALE, seed=0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return dataset


async def _profile_naive_operations(url: str, dataset: Dataset) -> list[Unit]:
    units = []
    for op in OPERATIONS:
        engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
        async with engine.connect():
            pass  # the dialect's first-connect queries are no part of the operation
        instrument(engine)
        try:
            async with profile(op.name) as unit:
                await op.call(naive.RenderPlatform(engine), dataset)
        finally:
            uninstrument(engine)
            await engine.dispose()
            if op.restore is not None:
                await op.restore(url, dataset)
        units.append(unit)
    return units


@pytest.fixture(scope="module")
def reference(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reference]:
    events = tmp_path_factory.mktemp("runtime") / "naive-events.json"
    with temporary_database(pg_server) as scratch:
        dataset = asyncio.run(_load(scratch))
        write(events, asyncio.run(_profile_naive_operations(scratch, dataset)))
    with temporary_database(pg_server) as url:
        assert asyncio.run(_load(url)) == dataset
        yield Reference(url, str(events), reference_app_dir().parent)


def _audit(
    reference: Reference, tmp_path: Path, *options: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.chdir(reference.app)
    out = tmp_path / "audit.json"
    argv = ["audit", *variant_paths("naive"), "--no-cache", "--db", reference.url]
    # --rollback-indexes: a server without HypoPG (the embedded one) still judges candidates
    argv += ["--rollback-indexes", *options, "-f", "json", "-o", str(out)]
    assert main(argv) == 0
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def _targets(ddls: list[str]) -> set[tuple[str, str]]:
    return {match.groups() for ddl in ddls if (match := DDL_TARGET.search(ddl))}


def test_static_runtime_and_live_findings_in_one_audit(
    reference: Reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _audit(reference, tmp_path, "--runtime", reference.events, monkeypatch=monkeypatch)
    findings = document["findings"]

    # static findings the profiler saw: confirmed, with what it measured
    confirmed = [f for f in findings if f["source"] == "static" and f["evidence"]]
    units = {f["evidence"]["unit"] for f in confirmed}
    assert {"get_user_projects", "get_user_chains_with_renders", "delete_chain"} <= units
    [overview] = [
        f
        for f in confirmed
        if f["evidence"]["unit"] == "get_user_projects"
        and f["path"].endswith("services/projects.py")
    ]
    assert overview["confidence"] == "high"
    assert overview["evidence"]["queries"] == 50
    assert overview["evidence"]["total_ms"] > 0
    # every N+1 the profiler measured is one the static audit reported: none is left over
    assert not [f for f in findings if f["source"] == "runtime" and f["rule"] == "DBA101"]

    # the live review: index advice with its DDL, as findings and in the database record
    advice = [f for f in findings if f["rule"] == "DBA401"]
    assert advice and all(f["source"] == "live" for f in advice)
    ddls = [f["fix"]["code"] for f in advice]
    assert all(ddl.startswith("CREATE INDEX CONCURRENTLY ") for ddl in ddls)
    assert {("renders", "project_id"), ("renders", "chain_id")} <= _targets(ddls)
    database = document["database"]
    assert database["source"] == "live"
    assert database["tables"] == 10
    assert database["planner"] in {"hypopg", "rollback"}
    assert database["workload_source"] == f"runtime events ({reference.events})"
    assert sorted(r["ddl"] for r in database["recommendations"]) == sorted(ddls)
    assert all(r["statements"] for r in database["recommendations"])
    assert "renders_pkey" in {i["name"] for i in database["existing_indexes"]}
    assert "max_connections" in database["settings"]
    assert "postgresql://" in database["database"]

    # before measured per operation, after modelled from the fixed query cost
    metrics = {m["name"]: m for m in document["metrics"]}
    projects = metrics["get_user_projects"]
    operation = next(op for op in OPERATIONS if op.name == "get_user_projects")
    assert projects["queries_before"] == operation.naive_round_trips
    assert projects["queries_after"] == 2  # the projects, then their renders in one query
    assert 0 < projects["ms_after"] < projects["ms_before"]
    assert projects["measured"] is False
    assert set(metrics) <= {op.name for op in OPERATIONS}


def test_without_runtime_events_the_static_audit_is_the_workload(
    reference: Reference,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = _audit(reference, tmp_path, monkeypatch=monkeypatch)
    database = document["database"]
    assert database["workload_source"].startswith("static audit (")
    ddls = [f["fix"]["code"] for f in document["findings"] if f["rule"] == "DBA401"]
    assert {("renders", "project_id"), ("renders", "chain_id")} <= _targets(ddls)
    labels = {s["label"] for r in database["recommendations"] for s in r["statements"]}
    assert any(
        label.startswith("RendersDAL.list_for_project (render_platform/naive/dal/renders.py:")
        for label in labels
    )
    skipped = "static workload: 1 operation(s) left out, the columns it sets are not known"
    assert any(p.startswith(skipped) for p in database["problems"])
    assert f"dbaudit: {skipped}" in capsys.readouterr().err
    assert document["metrics"] == []  # nothing was measured
