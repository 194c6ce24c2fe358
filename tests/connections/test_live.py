"""Live connection review against a real server: each finding and its concrete setting."""

from __future__ import annotations

import psycopg

from dbaudit.connections.live import _milliseconds, review_connections
from dbaudit.schema.live import connect


def rules(url: str, **options: object) -> dict[str, str]:
    with connect(url) as conn:
        review = review_connections(conn, **options)  # type: ignore[arg-type]
    return {f.rule: f.fix.code for f in review.findings if f.fix}


def test_timeouts_off_then_set(fresh_pg_url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(fresh_pg_url)["dbname"]
    found = rules(fresh_pg_url)
    assert found["DBA501"] == f"ALTER DATABASE {name} SET statement_timeout = '30s';"
    assert found["DBA502"] == (
        f"ALTER DATABASE {name} SET idle_in_transaction_session_timeout = '60s';"
    )
    with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} SET statement_timeout = '5s'")
        admin.execute(f"ALTER DATABASE {name} SET idle_in_transaction_session_timeout = '1min'")
    found = rules(fresh_pg_url)
    assert "DBA501" not in found and "DBA502" not in found


def test_connections_by_state_and_idle_in_transaction(fresh_pg_url: str) -> None:
    with psycopg.connect(fresh_pg_url) as idle:  # not autocommit: stays in a transaction
        idle.execute("SELECT 1")
        with connect(fresh_pg_url) as conn:
            review = review_connections(conn, idle_min_age_s=0)
        assert review.by_state.get("idle in transaction", 0) >= 1
        assert review.by_state.get("active", 0) >= 1  # the reviewing session itself
        stuck = next(f for f in review.findings if f.rule == "DBA505")
        assert "idle in a transaction for over 0s" in stuck.message
        assert review.to_json()["connections_by_state"] == review.by_state


def test_headroom_and_pools(fresh_pg_url: str) -> None:
    with connect(fresh_pg_url) as conn:
        review = review_connections(conn, pool_connections=100_000, busy_share=0.0)
    found = {f.rule: f for f in review.findings}
    assert found["DBA503"].message.startswith(f"{review.in_use} of {review.usable} usable")
    assert "pool_mode = transaction" in (found["DBA503"].fix.code if found["DBA503"].fix else "")
    assert "100000 connections" in found["DBA504"].message
    fix = found["DBA504"].fix.code if found["DBA504"].fix else ""
    assert "pool_size=" in fix and "pool_pre_ping=True" in fix
    with connect(fresh_pg_url) as conn:
        quiet = review_connections(conn, pool_connections=1, busy_share=2.0)
    assert not {"DBA503", "DBA504"} & {f.rule for f in quiet.findings}


def test_setting_units() -> None:
    assert [_milliseconds(v) for v in ("0", "250ms", "30s", "5min", "1h")] == [
        0,
        250,
        30_000,
        300_000,
        3_600_000,
    ]
