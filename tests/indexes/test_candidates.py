"""Candidate generation: pure, from statement shapes and a schema model."""

from __future__ import annotations

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
