"""Btree size estimates with deduplication, against indexes really built."""

from __future__ import annotations

from dataclasses import replace

import psycopg

from dbaudit.indexes.candidates import Candidate
from dbaudit.indexes.sizing import MAX_COVERING_GROWTH, covering_rejection, estimate_btree_bytes
from dbaudit.indexes.whatif import RollbackSession
from dbaudit.schema.live import load_schema
from dbaudit.schema.model import Column, IndexKey, Table


def _key(column: str, descending: bool = False) -> IndexKey:
    return IndexKey(column, column, descending)


CANDIDATES = (
    Candidate("renders", (_key("user_id"),)),  # 20 values: deduplicates
    Candidate("renders", (_key("status"),)),  # 4 text values
    Candidate("renders", (_key("created_at"),)),  # unique: no deduplication
    Candidate("renders", (_key("user_id"), _key("created_at", True))),
    Candidate("renders", (_key("chain_id"),), "chain_id IS NOT NULL"),
    Candidate("renders", (_key("created_at", True),), "deleted_at IS NULL"),  # 90% of rows
    Candidate("renders", (_key("user_id"),), include=("id",)),  # INCLUDE: no deduplication
    Candidate("renders", (_key("created_at"),), include=("user_id", "status")),
)


def test_estimates_are_close_to_the_built_size(advisor_url: str) -> None:
    with psycopg.connect(advisor_url, autocommit=True) as conn:
        schema = load_schema(conn)
        with RollbackSession(conn) as session:
            built = []
            for candidate in CANDIDATES:
                built.append(session.try_index(candidate))
                session.discard()
    for candidate, real in zip(CANDIDATES, built, strict=True):
        estimate = estimate_btree_bytes(candidate, schema.table("renders"))
        assert estimate is not None, candidate
        assert abs(estimate - real) <= max(0.25 * real, 2 * 8192), (candidate, estimate, real)


def test_deduplication_makes_low_cardinality_indexes_smaller() -> None:
    columns = (
        Column("id", "bigint", False, 0.0, -1.0, 8),
        Column("user_id", "bigint", False, 0.0, 100.0, 8),
        Column("score", "numeric", False, 0.0, 100.0, 8),
        Column("note", "text", True, 0.9, 10.0, 20),
    )
    table = Table("t", columns=columns, row_estimate=1_000_000)
    unique = estimate_btree_bytes(Candidate("t", (_key("id"),)), table)
    repeated = estimate_btree_bytes(Candidate("t", (_key("user_id"),)), table)
    numeric = estimate_btree_bytes(Candidate("t", (_key("score"),)), table)
    assert unique is not None and repeated is not None and numeric is not None
    assert repeated * 2 < unique  # 10,000 rows per value share one key
    assert numeric == unique  # numeric cannot deduplicate
    partial = estimate_btree_bytes(Candidate("t", (_key("note"),), "note IS NOT NULL"), table)
    assert partial is not None and partial < repeated
    # Without statistics, or with another predicate: no estimate.
    assert estimate_btree_bytes(Candidate("t", (_key("note"),), "note = 'x'"), table) is None
    bare = replace(table, columns=(Column("id", "bigint"),))
    assert estimate_btree_bytes(Candidate("t", (_key("id"),)), bare) is None
    assert estimate_btree_bytes(Candidate("t", (_key("id"),)), None) is None


def test_include_columns_widen_tuples_and_switch_deduplication_off() -> None:
    columns = (
        Column("id", "bigint", False, 0.0, -1.0, 8),
        Column("user_id", "bigint", False, 0.0, 100.0, 8),
        Column("amount", "integer", False, 0.0, 1000.0, 4),
    )
    table = Table("t", columns=columns, row_estimate=1_000_000)
    plain = estimate_btree_bytes(Candidate("t", (_key("user_id"),)), table)
    covering = Candidate("t", (_key("user_id"),), include=("amount",))
    sized = estimate_btree_bytes(covering, table)
    assert plain is not None and sized is not None and sized > 3 * plain
    assert covering_rejection(covering, table) == (
        f"covering variant: {sized / plain:.1f}x the size of the same keys without INCLUDE "
        f"(INCLUDE switches deduplication off; the limit is {MAX_COVERING_GROWTH:g}x)"
    )
    # A unique key does not deduplicate anyway: INCLUDE only adds its width.
    on_id = Candidate("t", (_key("id"),), include=("amount",))
    assert covering_rejection(on_id, table) is None
    assert covering_rejection(Candidate("t", (_key("id"),)), table) is None  # no INCLUDE
    bare = replace(table, columns=(Column("id", "bigint"), Column("amount", "integer")))
    assert covering_rejection(on_id, bare) == (
        "covering variant: no statistics to size it by (run ANALYZE)"
    )
