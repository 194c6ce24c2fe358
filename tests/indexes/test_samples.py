"""Sample values for $n parameters from pg_stats (for --verify)."""

from __future__ import annotations

import re

import psycopg

from dbaudit.indexes.samples import draw_samples, parameter_uses


def _uses(sql: str) -> list[tuple[int, str, str | None]]:
    return [(u.number, u.use, u.column) for u in parameter_uses(sql).values()]


def test_parameter_uses() -> None:
    assert _uses(
        "SELECT * FROM t WHERE a = $1::bigint AND b IN ($2, $3) AND $4 < c "
        "AND d BETWEEN $5 AND $6 AND e = ANY($7) ORDER BY a LIMIT $8"
    ) == [
        (1, "equal", "a"),
        (2, "in", "b"),
        (3, "in", "b"),
        (4, "lower", "c"),  # $4 < c: a lower bound of c
        (5, "lower", "d"),
        (6, "upper", "d"),
        (7, "any", "e"),
        (8, "limit", None),
    ]
    assert _uses("UPDATE t SET a = $1 WHERE id = CAST($2 AS int)") == [
        (1, "other", None),
        (2, "equal", "id"),
    ]
    assert _uses("SELECT * FROM t WHERE lower(a) = $1 OR b LIKE $2") == [
        (1, "other", None),
        (2, "other", None),
    ]
    assert parameter_uses("SELECT FROM WHERE") == {}


def test_values_come_from_the_statistics_and_are_not_reported(advisor_url: str) -> None:
    with psycopg.connect(advisor_url, autocommit=True) as conn:
        feed = draw_samples(
            conn,
            "SELECT * FROM renders WHERE user_id = $1 AND status = $2 ORDER BY created_at DESC",
        )
        assert feed.reason == "" and feed.params is not None
        user_id, status = feed.params
        assert 1 <= int(user_id) <= 20 and status in ("done", "failed", "queued", "running")
        assert feed.description == (
            "$1 from pg_stats of renders.user_id (most common values); "
            "$2 from pg_stats of renders.status (most common values)"
        )
        # the values themselves are data: never reported ("$1" is no value)
        words = set(re.findall(r"(?<![$\w])\w+", feed.description))
        assert user_id not in words and status not in words

        batch = draw_samples(conn, "SELECT * FROM renders WHERE chain_id IN ($1, $2, $3, $4)")
        assert batch.params is not None and len(set(batch.params)) == 4
        assert batch.description == (
            "$1..$4 from pg_stats of renders.chain_id (histogram median outwards)"
        )

        window = draw_samples(
            conn, "SELECT count(*) FROM renders WHERE created_at >= $1 AND created_at < $2"
        )
        assert window.params is not None
        low, high = window.params
        (rows,) = conn.execute(  # type: ignore[misc]
            "SELECT count(*) FROM renders WHERE created_at >= %s AND created_at < %s", (low, high)
        ).fetchone()
        assert 0 < rows < 60_000 * 0.2  # about a tenth of the table


def test_no_usable_sample_says_why(advisor_url: str) -> None:
    with psycopg.connect(advisor_url, autocommit=True) as conn:
        cases = {
            "SELECT * FROM renders WHERE user_id = $1 LIMIT $2": (
                "$2 is a LIMIT: no column statistics to draw a value from"
            ),
            "SELECT * FROM renders WHERE status LIKE $1": (
                "$1 is used with LIKE: no column statistics to draw a value from"
            ),
            "SELECT * FROM renders WHERE status > $1": (
                "no histogram for renders.status to draw a range from"
            ),
            "SELECT * FROM renders WHERE id = $2": "$1 is not compared to anything",
        }
        for sql, reason in cases.items():
            drawn = draw_samples(conn, sql)
            assert (drawn.params, drawn.reason) == (None, reason), sql


def test_a_column_never_analyzed_has_no_sample(fresh_pg_url: str) -> None:
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE fresh (id int, v int)")
        conn.execute("INSERT INTO fresh SELECT g, g FROM generate_series(1, 100) g")
        drawn = draw_samples(conn, "SELECT * FROM fresh WHERE v = $1")
    assert drawn.params is None
    assert drawn.reason == "no statistics for fresh.v (never analyzed, or no SELECT on it)"
