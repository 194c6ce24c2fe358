"""Candidate generation: pure, from statement shapes and a schema model."""

from __future__ import annotations

from dataclasses import replace

from dbaudit.indexes.candidates import (
    Candidate,
    covering_index,
    generate,
    serves_as_prefix,
    shape_candidates,
)
from dbaudit.schema.model import Column, ForeignKey, Index, IndexKey, Schema, Table
from dbaudit.sql.extract import extract

RENDERS = Table(
    "renders",
    columns=tuple(
        Column(n)
        for n in ("id", "user_id", "status", "created_at", "deleted_at", "is_public", "chain_id")
    ),
    indexes=(Index("renders_pkey", "renders", (IndexKey("id", "id"),), True, True),),
    foreign_keys=(ForeignKey("fk", "renders", ("chain_id",), "chains", ("id",)),),
    row_estimate=100_000,
)


def keys(candidate: Candidate) -> list[str]:
    return [k.render() for k in candidate.keys]


def test_equality_then_sort_with_direction() -> None:
    shape = extract(
        "SELECT * FROM renders WHERE user_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20"
    )
    found = {(tuple(keys(c)), c.predicate) for c in shape_candidates(shape, RENDERS)}
    assert (("user_id", "status", "created_at DESC"), None) in found
    assert (("user_id", "status"), None) in found
    assert (("user_id",), None) in found


def test_partial_index_for_constant_predicates() -> None:
    shape = extract(
        "SELECT * FROM renders WHERE is_public AND deleted_at IS NULL AND user_id = $1 "
        "ORDER BY created_at DESC LIMIT 10"
    )
    partial = [c for c in shape_candidates(shape, RENDERS) if c.predicate]
    assert [(keys(c), c.predicate) for c in partial] == [
        (["user_id", "created_at DESC"], "is_public = TRUE AND deleted_at IS NULL")
    ]
    assert partial[0].definition() == (
        "CREATE INDEX CONCURRENTLY renders_user_id_created_at_partial_idx ON renders "
        "(user_id, created_at DESC) WHERE is_public = TRUE AND deleted_at IS NULL"
    )


def test_range_after_equality_and_join_columns() -> None:
    shape = extract(
        "SELECT * FROM renders r JOIN chains c ON c.id = r.chain_id "
        "WHERE r.user_id = $1 AND r.created_at > $2"
    )
    found = [tuple(keys(c)) for c in shape_candidates(shape, RENDERS)]
    assert ("user_id", "created_at") in found
    assert ("chain_id",) in found and ("user_id", "chain_id") in found


def test_existing_index_covers_a_prefix_even_read_backwards() -> None:
    table = Table(
        "renders",
        columns=RENDERS.columns,
        indexes=(
            Index(
                "renders_user_created",
                "renders",
                (IndexKey("user_id", "user_id"), IndexKey("created_at", "created_at", True)),
            ),
        ),
        row_estimate=100_000,
    )
    forwards = Candidate("renders", (IndexKey("user_id", "user_id"),))
    backwards = Candidate(
        "renders",
        (IndexKey("user_id", "user_id", True), IndexKey("created_at", "created_at", False)),
    )
    mixed = Candidate(
        "renders",
        (IndexKey("user_id", "user_id"), IndexKey("created_at", "created_at", False)),
    )
    assert covering_index(table, forwards) is not None
    assert covering_index(table, backwards) is not None
    assert covering_index(table, mixed) is None


def test_generate_rejects_with_reasons_and_adds_foreign_keys() -> None:
    tiny = Table("tiny", columns=(Column("id"), Column("code")), row_estimate=10)
    schema = Schema(tables=(RENDERS, tiny))
    shapes = [
        extract("SELECT * FROM renders WHERE id = $1"),
        extract("SELECT * FROM tiny WHERE code = $1"),
        extract("SELECT * FROM renders WHERE nope = $1"),
        None,
    ]
    accepted, rejected = generate(shapes, schema)
    reasons = {tuple(keys(r.candidate)): r.reason for r in rejected}
    assert reasons[("id",)] == "covered by existing index renders_pkey (prefix)"
    assert reasons[("code",)].startswith("table too small (10 rows")
    assert reasons[("nope",)] == "column nope is not in table renders"
    assert [(keys(c), c.origin, motivated) for c, motivated in accepted] == [
        (["chain_id"], "foreign key", ())
    ]


def test_serves_as_prefix() -> None:
    narrow = Candidate("t", (IndexKey("a", "a"),))
    wide = Candidate("t", (IndexKey("a", "a"), IndexKey("b", "b", True)))
    partial = Candidate("t", (IndexKey("a", "a"), IndexKey("b", "b")), predicate="c IS NULL")
    assert serves_as_prefix(wide, narrow) and not serves_as_prefix(narrow, wide)
    assert not serves_as_prefix(partial, narrow)


def test_mostly_null_equality_column_gets_a_not_null_partial_variant() -> None:
    from dataclasses import replace

    sparse = replace(
        RENDERS,
        columns=tuple(
            replace(c, null_fraction=0.87 if c.name == "chain_id" else 0.0) for c in RENDERS.columns
        ),
    )
    shape = extract("SELECT * FROM renders WHERE chain_id = $1 ORDER BY created_at")
    found = {(tuple(keys(c)), c.predicate) for c in shape_candidates(shape, sparse)}
    assert (("chain_id",), "chain_id IS NOT NULL") in found
    assert (("chain_id", "created_at"), None) in found
    # Without statistics, or with few NULLs, no partial variant.
    assert all(c.predicate is None for c in shape_candidates(shape, RENDERS))
    user_shape = extract("SELECT * FROM renders WHERE user_id = $1")
    assert all(c.predicate is None for c in shape_candidates(user_shape, sparse))


# A wide table with statistics: id, account_id, status, amount are narrow, payload is wide.
EVENTS = Table(
    "events",
    columns=(
        Column("id", "bigint", False, 0.0, -1.0, 8),
        Column("account_id", "bigint", False, 0.0, 2000.0, 8),
        Column("status", "text", False, 0.0, 4.0, 7),
        Column("amount", "integer", False, 0.0, 5000.0, 4),
        Column("payload", "text", False, 0.0, -1.0, 300),
    ),
    indexes=(Index("events_pkey", "events", (IndexKey("id", "id"),), True, True),),
    row_estimate=200_000,
)


def _covering(sql: str, table: Table = EVENTS) -> list[Candidate]:
    from dbaudit.indexes.columns_read import columns_read

    reads = columns_read(sql).get(table.name)
    found = [c for c in shape_candidates(extract(sql), table, reads) if c.include]
    return list({c.identity: c for c in reversed(found)}.values())[::-1]  # first of each


def test_narrow_reads_of_a_wide_table_get_covering_variants() -> None:
    found = _covering("SELECT id, amount FROM events WHERE account_id = $1")
    assert [(keys(c), c.include, c.predicate) for c in found] == [
        (["account_id"], ("amount", "id"), None),
    ]
    assert found[0].definition() == (
        "CREATE INDEX CONCURRENTLY events_account_id_covering_idx ON events (account_id) "
        "INCLUDE (amount, id)"
    )
    assert found[0].origin.endswith(
        "covering: INCLUDE the other columns it reads (index-only scan)"
    )


def test_no_covering_variant_for_a_copy_of_the_table_or_without_statistics() -> None:
    assert _covering("SELECT * FROM events WHERE account_id = $1") == []
    assert _covering("SELECT payload FROM events WHERE account_id = $1") == []  # most of a row
    bare = replace(EVENTS, columns=tuple(replace(c, avg_width=None) for c in EVENTS.columns))
    assert _covering("SELECT id, amount FROM events WHERE account_id = $1", bare) == []


def test_a_partial_covering_index_need_not_store_its_predicate_column() -> None:
    found = _covering("SELECT id, amount FROM events WHERE status = 'open' AND account_id = $1")
    partial = [c for c in found if c.predicate]
    assert [(keys(c), c.include, c.predicate) for c in partial] == [
        (["account_id"], ("amount", "id"), "status = 'open'")
    ]


def test_existing_index_with_include_columns_covers_a_covering_candidate() -> None:
    with_include = replace(
        EVENTS,
        indexes=(
            *EVENTS.indexes,
            Index("events_acc", "events", (IndexKey("account_id", "account_id"),),
                  include=("amount", "id")),
        ),
    )  # fmt: skip
    wanted = Candidate("events", (IndexKey("account_id", "account_id"),), include=("id",))
    wider = Candidate("events", (IndexKey("account_id", "account_id"),), include=("payload",))
    assert covering_index(with_include, wanted) is not None
    assert covering_index(with_include, wider) is None
    assert covering_index(EVENTS, wanted) is None


def test_serves_as_prefix_with_include_columns() -> None:
    plain = Candidate("t", (IndexKey("a", "a"),))
    covering = Candidate("t", (IndexKey("a", "a"),), include=("b",))
    composite = Candidate("t", (IndexKey("a", "a"), IndexKey("b", "b")))
    assert serves_as_prefix(covering, plain) and not serves_as_prefix(plain, covering)
    assert serves_as_prefix(composite, covering)  # b is stored as a key
    assert not serves_as_prefix(covering, covering)
    # Same keys in opposite directions serve each other's order, but neither is wider.
    up = Candidate("t", (IndexKey("a", "a"), IndexKey("b", "b")))
    down = Candidate("t", (IndexKey("a", "a", True), IndexKey("b", "b", True)))
    assert not serves_as_prefix(up, down) and not serves_as_prefix(down, up)
