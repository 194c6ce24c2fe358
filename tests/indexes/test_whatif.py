"""Planner sessions: generic plans for $n, hypothetical and rolled-back indexes, measuring."""

from __future__ import annotations

import psycopg
import pytest

from dbaudit.indexes.candidates import Candidate
from dbaudit.indexes.whatif import (
    CandidateFailed,
    HypoPGSession,
    PlannerRejected,
    RollbackSession,
    has_parameters,
    measure,
)
from dbaudit.schema.live import connect
from dbaudit.schema.model import IndexKey

CHAIN = Candidate("renders", (IndexKey("chain_id", "chain_id"),))
BY_CHAIN = "SELECT * FROM renders WHERE chain_id = $1"


def test_parameters_outside_string_literals() -> None:
    assert has_parameters("SELECT * FROM t WHERE a = $1")
    assert not has_parameters("SELECT '$1' FROM t")
    assert not has_parameters("SELECT 1")


@pytest.mark.parametrize("session_type", [RollbackSession, HypoPGSession])
def test_candidate_lowers_the_generic_plan_cost(
    advisor_url: str, session_type: type, request: pytest.FixtureRequest
) -> None:
    if session_type is HypoPGSession:
        request.getfixturevalue("hypopg")
    with connect(advisor_url) as conn, session_type(conn) as session:
        before = session.explain(BY_CHAIN)
        size = session.try_index(CHAIN)
        after = session.explain(BY_CHAIN)
        assert size > 0 and session.last_index_name
        assert session.last_index_name in after.index_names()
        assert after.total_cost * 10 < before.total_cost
        session.discard()
        assert session.explain(BY_CHAIN).total_cost == before.total_cost
        with pytest.raises(PlannerRejected, match="does not exist"):
            session.explain("SELECT * FROM renders WHERE nope = $1")
        # The session survives a rejected statement.
        assert session.explain(BY_CHAIN).total_cost == before.total_cost
        with pytest.raises(CandidateFailed):
            session.try_index(Candidate("renders", (IndexKey("nope", "nope"),)))


def test_writes_are_planned_not_run(advisor_url: str) -> None:
    with connect(advisor_url) as conn:
        count = conn.execute("SELECT count(*) FROM renders").fetchone()
        with RollbackSession(conn) as session:
            plan = session.explain("DELETE FROM renders WHERE chain_id = $1")
            assert plan.node_type == "ModifyTable" and plan.rows_written() > 0
        assert conn.execute("SELECT count(*) FROM renders").fetchone() == count


@pytest.mark.usefixtures("hypopg")
def test_existing_hypopg_is_used_and_kept(fresh_pg_url: str) -> None:
    with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
        admin.execute("CREATE EXTENSION hypopg")
        admin.execute("CREATE TABLE t (id int, v int)")
    with connect(fresh_pg_url) as conn:
        with HypoPGSession(conn) as session:
            session.try_index(Candidate("t", (IndexKey("v", "v"),)))
            session.keep()
            assert not session.created_extension
        (count,) = conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() or (None,)
        assert count == 0  # reset on the way out
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone()


def test_measure_runs_reads_only_with_values(advisor_url: str) -> None:
    statements: list[tuple[str, tuple[object, ...] | None]] = [
        (BY_CHAIN, (7,)),
        (BY_CHAIN, None),
        ("UPDATE renders SET status = 'x' WHERE id = 1", None),
        ("SELECT * FROM renders WHERE nope = 1", None),
    ]
    with connect(advisor_url) as conn:
        results = measure(conn, statements, [CHAIN])
    assert results[0].before_ms is not None and results[0].after_ms is not None
    assert results[1].reason == "has $n parameters and no sample values"
    assert results[2].reason == "writes data: not executed"
    assert "does not exist" in results[3].reason


def test_index_unusable_in_its_own_transaction_is_reported(fresh_pg_url: str) -> None:
    """HOT-updated rows another snapshot still sees: a real index built over them is ignored by
    the planner inside the transaction that built it (pg_index.indcheckxmin)."""
    from dbaudit.indexes.whatif import UNUSABLE_REASON, measure_with_sizes

    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL) WITH (fillfactor = 50);"
            "INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g; ANALYZE t"
        )
    value = Candidate("t", (IndexKey("v", "v"),))
    with (
        psycopg.connect(fresh_pg_url, autocommit=True) as reader,
        connect(fresh_pg_url) as conn,
    ):
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM t").fetchone()  # holds its snapshot
        conn.execute("UPDATE t SET v = v + 1 WHERE id <= 100")  # HOT: no index on v, room left
        with RollbackSession(conn) as session, pytest.raises(CandidateFailed) as failed:
            session.try_index(value)
        assert str(failed.value) == UNUSABLE_REASON
        (result,), _bytes = measure_with_sizes(
            conn, [("SELECT * FROM t WHERE v = 7", None)], [value]
        )
        assert result.before_ms is not None and result.after_ms is None
        assert result.reason == f"t_v_idx is {UNUSABLE_REASON}"
        reader.execute("ROLLBACK")
