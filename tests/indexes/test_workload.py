"""Workloads from SQL text and files, merged by fingerprint; recorded from an engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dbaudit.db import sqlalchemy_url
from dbaudit.indexes.workload import (
    WorkloadError,
    from_file,
    from_sql_text,
    from_statements,
    merge,
    recording,
)


def test_calls_comments_and_merging_by_fingerprint() -> None:
    workload = from_sql_text(
        "-- calls: 40\nSELECT * FROM t WHERE a = 1;\n"
        "SELECT * FROM t WHERE a = 2;\n"
        "-- the feed\n-- calls=2.5\nSELECT * FROM t ORDER BY b DESC LIMIT 5;",
        label="w.sql",
    )
    assert [(q.calls, q.label, q.source) for q in workload] == [
        (41.0, "w.sql#1", "file"),
        (2.5, "w.sql#3", "file"),
    ]
    assert workload[0].sql == "SELECT * FROM t WHERE a = 1"


def test_statements_and_params_kept_on_merge() -> None:
    merged = merge(from_statements([("SELECT 1 FROM t WHERE id = $1", 3)]) * 2)
    assert len(merged) == 1 and merged[0].calls == 6


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="cannot read workload file"):
        from_file(tmp_path / "none.sql")
    (tmp_path / "w.sql").write_text("SELECT 1;")
    assert from_file(tmp_path / "w.sql")[0].label == "w.sql#1"


def test_recording_from_a_sqlalchemy_engine(pg_url: str) -> None:
    engine = create_engine(sqlalchemy_url(pg_url, "psycopg"))
    try:
        with recording(engine) as captured, engine.connect() as conn:
            for value in (1, 2, 3):
                conn.execute(text("SELECT :v AS v"), {"v": value})
        workload = merge(captured)
    finally:
        engine.dispose()
    (query,) = [q for q in workload if "AS v" in q.sql]
    assert query.calls == 3 and query.source == "profile"


def test_runtime_events_file(tmp_path: Path) -> None:
    import doctest
    import json

    import dbaudit.indexes.workload as workload_module
    from dbaudit.indexes.workload import from_events_file
    from dbaudit.runtime.export import FORMAT, VERSION

    assert doctest.testmod(workload_module).failed == 0
    event = {"sql": "SELECT * FROM renders WHERE chain_id = CAST(? AS BIGINT)", "fingerprint": "f1"}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "units": [
            {
                "name": "tests/test_chains.py::test_delete",
                "queries": 4,
                "events": [event, event, event, {**event, "ignored": True}],
                "findings": [],
            }
        ],
    }
    path = tmp_path / "events.json"
    path.write_text(json.dumps(document))
    (query,) = from_events_file(path)
    assert query.sql == "SELECT * FROM renders WHERE chain_id = CAST($1 AS BIGINT)"
    assert (query.calls, query.source, query.label) == (3, "profile", document["units"][0]["name"])
    path.write_text("{}")
    with pytest.raises(WorkloadError, match="not a dbaudit runtime events file"):
        from_events_file(path)
