"""The advisor end to end on a real database, on both what-if paths, leaving nothing behind."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dbaudit.db import PostgresServer, temporary_database
from dbaudit.indexes.advisor import (
    SIZE_BUILT,
    SIZE_DEDUPLICATED,
    AdvisorResult,
    AdvisorSettings,
    advise,
)
from dbaudit.indexes.whatif import WhatIfUnavailable
from dbaudit.indexes.workload import WorkloadQuery, from_statements
from dbaudit.schema.live import connect, load_schema

Snapshot = Callable[[str], object]

# The case Supabase's index_advisor and Dexter get wrong (issue 6): equality on two columns,
# sort on a third, descending, with a LIMIT.
FEED = "SELECT * FROM renders WHERE user_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20"
WORKLOAD = (
    (FEED, 100),
    ("SELECT * FROM renders WHERE chain_id = $1", 50),
    ("SELECT * FROM renders WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 10", 10),
    ("SELECT * FROM users WHERE email = $1", 10),
    ("SELECT * FROM tiny WHERE code = $1", 10),
)


def run(url: str, workload: object = WORKLOAD, **settings: object) -> AdvisorResult:
    queries = (
        workload
        if isinstance(workload, tuple) and isinstance(workload[0], WorkloadQuery)
        else from_statements(workload)
    )  # type: ignore[arg-type]
    with connect(url) as conn:
        return advise(conn, load_schema(conn), queries, AdvisorSettings(**settings))  # type: ignore[arg-type]


def ddls(result: AdvisorResult) -> list[str]:
    return [a.ddl for a in result.advice]


EXPECTED = {
    "CREATE INDEX CONCURRENTLY renders_user_id_status_created_at_idx "
    "ON renders (user_id, status, created_at DESC);",
    "CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);",
    "CREATE INDEX CONCURRENTLY renders_created_at_partial_idx "
    "ON renders (created_at DESC) WHERE deleted_at IS NULL;",
}


@pytest.mark.usefixtures("hypopg")
def test_hypopg_recommends_composites_with_direction_and_partial(
    advisor_url: str, snapshot: Snapshot
) -> None:
    before = snapshot(advisor_url)
    result = run(advisor_url, method="hypopg")
    assert snapshot(advisor_url) == before
    assert result.method == "hypopg"
    assert result.notes == (
        "HypoPG was not installed: it was created inside this run's transaction, "
        "which was rolled back",
    )
    extensions = before[2]  # the pg_extension rows: hypopg is not there before nor after
    assert all(name != "hypopg" for name, _version in extensions)  # type: ignore[attr-defined]
    assert set(ddls(result)) == EXPECTED
    feed = next(a for a in result.advice if "status, created_at DESC" in a.ddl)
    assert feed.priority == "high" and feed.est_size > 0
    # Sized from the statistics with deduplication; HypoPG's own figure is kept next to it.
    assert {a.size_source for a in result.advice} == {SIZE_DEDUPLICATED}
    assert all(a.planner_size > 0 for a in result.advice)
    (effect,) = [e for e in feed.queries if e.query == FEED]
    assert effect.calls == 100 and effect.cost_after * 10 < effect.cost_before
    assert result.workload_cost_after < result.workload_cost_before / 5


def test_rollback_path_recommends_the_same_and_leaves_nothing(
    advisor_url: str, snapshot: Snapshot
) -> None:
    before = snapshot(advisor_url)
    result = run(advisor_url, method="rollback", allow_rollback_indexes=True)
    assert snapshot(advisor_url) == before
    assert result.method == "rollback"
    assert set(ddls(result)) == EXPECTED
    # Real indexes: their own size is the size.
    assert {a.size_source for a in result.advice} == {SIZE_BUILT}
    assert all(a.est_size == a.planner_size > 0 for a in result.advice)


def test_every_rejection_and_skip_has_a_reason(advisor_url: str) -> None:
    result = run(advisor_url, method="rollback", allow_rollback_indexes=True)
    reasons = {r.ddl: r.reason for r in result.rejected}
    assert all(r.reason for r in result.rejected)
    assert reasons["CREATE INDEX CONCURRENTLY users_email_idx ON users (email);"] == (
        "covered by existing index users_email_key (prefix)"
    )
    assert reasons["CREATE INDEX CONCURRENTLY tiny_code_idx ON tiny (code);"].startswith(
        "table too small (20 rows"
    )
    user_id = reasons["CREATE INDEX CONCURRENTLY renders_user_id_idx ON renders (user_id);"]
    assert user_id.startswith(("superseded", "the recommended"))
    payload = json.loads(json.dumps(result.to_json()))
    assert all(item["reason"] for item in payload["rejected"])
    assert payload["advice"][0]["queries"][0]["cost_before"] > 0


def test_threshold_gives_its_reason(advisor_url: str) -> None:
    result = run(
        advisor_url,
        WORKLOAD[1:2],
        min_improvement=1.0,
        method="rollback",
        allow_rollback_indexes=True,
    )
    assert result.advice == ()
    reason = next(r.reason for r in result.rejected if "(chain_id)" in r.ddl)
    assert reason.startswith("saves 99.") and reason.endswith("under the 100% threshold")


def test_write_heavy_table_outweighs_a_rare_read(advisor_url: str) -> None:
    workload = (
        ("SELECT * FROM renders WHERE chain_id = $1", 1),
        (
            "INSERT INTO renders (id, user_id, status, created_at, chain_id) "
            "VALUES ($1, $2, $3, now(), $4)",
            100_000,
        ),
    )
    result = run(advisor_url, workload, method="rollback", allow_rollback_indexes=True)
    assert result.advice == ()
    reason = next(r.reason for r in result.rejected if "(chain_id)" in r.ddl)
    assert reason.startswith("write-heavy table: maintaining it costs 100000.0 per workload run")
    # An update that does not touch the indexed column keeps HOT updates: no write cost.
    hot = (
        ("SELECT * FROM renders WHERE chain_id = $1", 1000),
        ("UPDATE renders SET status = $1 WHERE id = $2", 100_000),
    )
    assert ddls(run(advisor_url, hot, method="rollback", allow_rollback_indexes=True)) == [
        "CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);"
    ]


def test_bad_statements_are_skipped_with_one_line_and_the_rest_goes_on(advisor_url: str) -> None:
    workload = (
        ("SELECT * FROM renders WHERE chain_id = $1", 10),
        ("SELECT * FROM renders WHERE user_id = $1 AND $2 IS NULL", 1),  # untyped $2
        ("SELECT * FROM renders WHERE no_such_column = 1", 1),
        ("SELECT FROM WHERE", 1),
        ("SELECT * FROM elsewhere WHERE id = 1", 1),
        ("VACUUM renders", 1),
    )
    result = run(advisor_url, workload, method="rollback", allow_rollback_indexes=True)
    reasons = [s.reason for s in result.skipped]
    assert all("\n" not in r for r in reasons)
    assert 'planner rejected it: column "no_such_column" does not exist' in reasons
    assert "reads no table of this database" in reasons
    assert "not a SELECT, INSERT, UPDATE or DELETE" in reasons
    with psycopg.connect(advisor_url) as conn:
        version = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
    if version < 160000:
        # PREPARE cannot type $2 in ``$2 IS NULL``; PostgreSQL 16's EXPLAIN (GENERIC_PLAN) can
        assert "planner rejected it: could not determine data type of parameter $2" in reasons
        assert ddls(result) == [
            "CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);"
        ]
        assert len(result.skipped) == 5
    else:
        assert ddls(result) == [
            "CREATE INDEX CONCURRENTLY renders_chain_id_idx ON renders (chain_id);",
            "CREATE INDEX CONCURRENTLY renders_user_id_idx ON renders (user_id);",
        ]
        assert len(result.skipped) == 4


def test_delete_counts_the_foreign_key_checks_it_causes(advisor_url: str) -> None:
    result = run(
        advisor_url,
        (("DELETE FROM users WHERE id = $1", 100),),
        method="rollback",
        allow_rollback_indexes=True,
    )
    (advice,) = result.advice
    assert advice.ddl == "CREATE INDEX CONCURRENTLY renders_user_id_idx ON renders (user_id);"
    assert advice.queries[0].label == "q1 (foreign key check renders_user_id_fkey)"


def test_verify_measures_with_sample_values(advisor_url: str) -> None:
    paged = "SELECT * FROM renders WHERE chain_id = $1 ORDER BY created_at LIMIT $2"
    workload = (
        WorkloadQuery(FEED, 100, params=(7, "done")),  # recorded with its values
        WorkloadQuery("SELECT * FROM renders WHERE chain_id = $1", 50),  # none kept
        WorkloadQuery(paged, 5),
    )
    result = run(advisor_url, workload, method="rollback", allow_rollback_indexes=True, verify=True)
    by_query = {v.query: v for v in result.verification}
    feed = by_query[FEED]
    assert feed.before_ms is not None and feed.after_ms is not None and feed.reason == ""
    assert feed.cost_after < feed.cost_before and feed.samples == ""
    # No values kept (pg_stat_statements, a runtime events file): drawn from pg_stats, and said.
    chain = by_query["SELECT * FROM renders WHERE chain_id = $1"]
    assert chain.before_ms is not None and chain.after_ms is not None and chain.reason == ""
    assert chain.samples == "$1 from pg_stats of renders.chain_id (histogram median outwards)"
    page = by_query[paged]
    assert page.before_ms is None and page.after_ms is None
    assert page.reason == (
        "no sample values: $2 is a LIMIT: no column statistics to draw a value from"
    )
    assert json.loads(json.dumps(result.to_json()))["verification"][1]["samples"] == chain.samples


def test_per_query_baseline_has_no_sort_direction(advisor_url: str) -> None:
    result = run(advisor_url, method="rollback", allow_rollback_indexes=True, strategy="per-query")
    assert result.advice
    assert not any("DESC" in d or "WHERE" in d for d in ddls(result))


def test_empty_database(fresh_pg_url: str) -> None:
    result = run(fresh_pg_url, method="rollback", allow_rollback_indexes=True)
    assert result.advice == () and result.rejected == ()
    assert {s.reason for s in result.skipped} == {"reads no table of this database"}


@pytest.fixture()
def unprivileged_url(pg_server: PostgresServer, advisor_url: str) -> Iterator[str]:
    """A login role that may read the tables but owns none and is no superuser."""
    role = f"dbaudit_reader_{secrets.token_hex(4)}"
    with psycopg.connect(advisor_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        # the embedded server's URL has an empty password (``postgres:@``): set the user properly
        as_role = make_url(advisor_url)._replace(username=role, password=None)
        yield as_role.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(advisor_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_missing_privileges_are_one_line_each(
    unprivileged_url: str, advisor_url: str, snapshot: Snapshot
) -> None:
    before = snapshot(advisor_url)
    with pytest.raises(WhatIfUnavailable) as error:
        run(unprivileged_url, method="auto")
    message = str(error.value)
    assert "\n" not in message
    assert "HypoPG cannot be created here" in message and "--rollback-indexes" in message
    result = run(unprivileged_url, method="auto", allow_rollback_indexes=True)
    assert result.advice == ()
    assert any(
        r.reason.startswith("could not be created: must be owner of table") for r in result.rejected
    )
    assert snapshot(advisor_url) == before


def test_minimum_share_of_the_workload_gives_its_reason(advisor_url: str) -> None:
    workload = ((FEED, 1), ("SELECT * FROM renders WHERE chain_id = $1", 1))
    result = run(
        advisor_url, workload, method="rollback", allow_rollback_indexes=True,
        min_workload_share=0.9,
    )  # fmt: skip
    assert result.advice == ()
    reason = next(r.reason for r in result.rejected if "(chain_id)" in r.ddl)
    assert "of the workload's cost" in reason and reason.endswith("under the 90% minimum")


@pytest.mark.usefixtures("hypopg")
def test_verify_without_ownership_keeps_the_advice(
    pg_server: PostgresServer, snapshot: Snapshot
) -> None:
    role = f"dbaudit_reader_{secrets.token_hex(4)}"
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "CREATE EXTENSION hypopg; CREATE TABLE t (id int PRIMARY KEY, v int);"
                "INSERT INTO t SELECT g, g % 5000 FROM generate_series(1, 50000) g; ANALYZE t;"
                f"CREATE ROLE {role} LOGIN; GRANT SELECT ON t TO {role};"
            )
        try:
            before = snapshot(url)
            reader = url.replace("postgres@", f"{role}@", 1)
            workload = (WorkloadQuery("SELECT * FROM t WHERE v = 7", 10),)
            result = run(reader, workload, method="hypopg", verify=True)
            assert [a.ddl for a in result.advice] == ["CREATE INDEX CONCURRENTLY t_v_idx ON t (v);"]
            assert result.verification == ()
            assert result.notes == ("--verify could not measure: must be owner of table t",)
            assert snapshot(url) == before
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


COVERING_DDL = """
CREATE TABLE events (
    id bigint PRIMARY KEY, account_id int NOT NULL, amount int NOT NULL,
    at timestamptz NOT NULL, payload text NOT NULL
);
INSERT INTO events
SELECT g, g % 2000, g % 1000, timestamptz '2026-01-01' - g * interval '1 minute', repeat('x', 200)
FROM generate_series(1, 200000) g;
CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, rank int NOT NULL, body text NOT NULL);
INSERT INTO items SELECT g, g / 7, (g::bigint * 7919) % 1000, repeat('y', 100)
FROM generate_series(1, 300000) g;
"""


@pytest.fixture(scope="module")
def vacuumed_url(pg_server: PostgresServer) -> Iterator[str]:
    """Tables with their visibility map set, as autovacuum leaves them: the planner then costs
    an index-only scan below a plain index scan."""
    with temporary_database(pg_server) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(COVERING_DDL)
            conn.execute("VACUUM ANALYZE")
        yield url


@pytest.mark.parametrize("method", ["auto", "rollback"])  # auto: HypoPG where it is installed
def test_covering_index_for_an_index_only_scan(
    vacuumed_url: str, snapshot: Snapshot, method: str
) -> None:
    before = snapshot(vacuumed_url)
    revenue = "SELECT sum(amount) FROM events WHERE account_id = $1 AND at >= $2"
    result = run(vacuumed_url, ((revenue, 100),), method=method, allow_rollback_indexes=True)
    assert snapshot(vacuumed_url) == before
    assert ddls(result) == [
        "CREATE INDEX CONCURRENTLY events_account_id_at_covering_idx "
        "ON events (account_id, at) INCLUDE (amount);"
    ]
    assert result.advice[0].reason.startswith("equality + range, covering: INCLUDE")
    reasons = {r.ddl: r.reason for r in result.rejected}
    # (account_id) repeats 100 times per value: INCLUDE would cost its deduplication.
    assert reasons[
        "CREATE INDEX CONCURRENTLY events_account_id_covering_idx "
        "ON events (account_id) INCLUDE (amount, at);"
    ].startswith("covering variant: ")
    assert reasons[
        "CREATE INDEX CONCURRENTLY events_account_id_at_idx ON events (account_id, at);"
    ].startswith(("the recommended", "superseded"))


def test_of_two_indexes_on_the_same_keys_the_planner_picks_which_stays(vacuumed_url: str) -> None:
    # items is stored in grp order. The planner scales a two-column index's correlation by
    # 0.75, so it costs heap visits through (grp) far below (grp, rank DESC): the composite is
    # chosen for the index-only scans of the second statement, and then the planner does better
    # keeping (grp) alone than keeping the composite alone.
    workload = (
        ("SELECT * FROM items WHERE grp = $1 ORDER BY rank DESC", 1000),
        ("SELECT rank FROM items WHERE grp = $1 ORDER BY rank DESC", 1000),
    )
    result = run(vacuumed_url, workload, allow_rollback_indexes=True)
    assert ddls(result) == ["CREATE INDEX CONCURRENTLY items_grp_idx ON items (grp);"]
    reason = next(r.reason for r in result.rejected if "(grp, rank DESC);" in r.ddl)
    assert reason.startswith(
        "it starts with the keys of the recommended items_grp_idx, which the planner does "
        "better with (workload cost "
    )
