"""Literal values are parameters (issue #5): statements that differ only in the values written
into their SQL (f-strings, Django's ``qs[a:b]``) share a fingerprint and have no parameters, and
were reported as DBA301 "the same statement with the same parameters".

Real statements under ``dbaudit.runtime.profile()`` through an instrumented sqlite3 connection,
a SQLAlchemy engine and asyncpg on PostgreSQL, in pairs: literal pages and chunks are neither
duplicates nor N+1s, an f-string N+1 is DBA101, and true duplicates (literal or bound) are
still DBA301.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from dbaudit.runtime import instrument, profile, uninstrument
from dbaudit.runtime.unit import Unit

ROWS = 350  # ids 1..350, grp = id % 7: three full pages of 100 and a short one
IDS = list(range(1, ROWS + 1))


def rules(unit: Unit) -> list[str]:
    # what the loops do, not how fast the machine ran them: a first asyncpg statement (type
    # introspection) can pass the 100 ms slow-query threshold on a busy machine (DBA302 has
    # tests of its own)
    return sorted(f.rule for f in unit.findings if f.rule != "DBA302")


def chunks(size: int) -> Iterator[list[int]]:
    for start in range(0, ROWS, size):
        yield IDS[start : start + size]


def listed(values: list[int]) -> str:
    return ", ".join(map(str, values))


# --- sqlite3 (the DB-API proxy) -----------------------------------------------------------------


@pytest.fixture()
def db() -> Iterator[sqlite3.Connection]:
    connection = instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER, seen INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?, ?, 0)", [(i, i % 7) for i in IDS])
    yield connection
    connection.close()


def test_f_string_pages_are_neither_duplicates_nor_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as offsets:
        offset = 0
        while rows := db.execute(
            f"SELECT id FROM t ORDER BY id LIMIT 100 OFFSET {offset}"
        ).fetchall():
            offset += len(rows)
    with profile() as sliced:  # Django's qs[a:b]: a bound filter, LIMIT and OFFSET inlined
        offset = 0
        while db.execute(
            f"SELECT id FROM t WHERE grp < ? ORDER BY id LIMIT 20 OFFSET {offset}", (3,)
        ).fetchall():
            offset += 20
    with profile() as keyset:
        last = 0
        while rows := db.execute(
            f"SELECT id FROM t WHERE id > {last} ORDER BY id LIMIT 100"
        ).fetchall():
            last = rows[-1][0]
    assert [offsets.query_count, sliced.query_count, keyset.query_count] == [5, 9, 5]
    assert rules(offsets) == rules(sliced) == rules(keyset) == []


def test_literal_in_chunks_are_neither_duplicates_nor_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as reads:
        for chunk in chunks(100):
            db.execute(f"SELECT id FROM t WHERE id IN ({listed(chunk)})").fetchall()
    with profile() as writes:
        for chunk in chunks(100):
            db.execute(f"UPDATE t SET seen = 1 WHERE id IN ({listed(chunk)})")
    assert [reads.query_count, writes.query_count] == [4, 4]
    assert rules(reads) == rules(writes) == []


def test_f_string_n_plus_one_is_dba101_with_its_batch_fix(db: sqlite3.Connection) -> None:
    with profile() as unit:
        for item in IDS[:10]:
            db.execute(f"SELECT * FROM t WHERE id = {item}").fetchone()
    assert rules(unit) == ["DBA101"]
    (finding,) = unit.findings
    assert finding.evidence is not None and finding.evidence.queries == 10
    assert "10 different parameter sets" in finding.message
    assert finding.fix is not None and finding.fix.code == "SELECT * FROM t WHERE id IN (?)"


def test_literal_per_item_shapes_are_still_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as latest:  # a LIMIT per parent: the parent key varies, not a page
        for grp in range(7):
            db.execute(f"SELECT id FROM t WHERE grp = {grp} ORDER BY id DESC LIMIT 5").fetchall()
    with profile() as single_in:  # one key per IN list
        for item in IDS[:10]:
            db.execute(f"SELECT id FROM t WHERE id IN ({item})").fetchall()
    with profile() as per_parent:  # a constant literal list beside a parent key
        for grp in range(7):
            db.execute(f"SELECT id FROM t WHERE grp = {grp} AND id IN (1, 2, 3, 4)").fetchall()
    with profile() as mixed:  # a bound constant beside a literal key: a loop over that key
        for item in IDS[:5]:
            db.execute(f"SELECT id FROM t WHERE grp = ? AND id = {item}", (1,)).fetchall()
    units = (latest, single_in, per_parent, mixed)
    assert [rules(unit) for unit in units] == [["DBA101"]] * 4


def test_true_duplicates_are_still_dba301(db: sqlite3.Connection) -> None:
    with profile() as literal:  # the same literal SQL text, three times
        for _ in range(3):
            db.execute("SELECT id FROM t WHERE grp = 3 ORDER BY id LIMIT 5").fetchall()
    with profile() as bound:  # the same statement with the same bound parameters
        for _ in range(3):
            db.execute("SELECT id FROM t WHERE grp = ? ORDER BY id LIMIT 5", (3,)).fetchall()
    with profile() as respelled:  # one text with its values inlined in two spellings
        db.execute("SELECT id FROM t WHERE id IN (1, 2, 3)").fetchall()
        db.execute("select id from t where id in (1,2,3)").fetchall()
    assert rules(literal) == rules(bound) == rules(respelled) == ["DBA301"]
    assert "ran 3 times" in literal.findings[0].message
    assert "ran 3 times" in bound.findings[0].message


def test_literals_are_on_the_fingerprint_not_in_param_hashes() -> None:
    """The sequential detector reads ``param_hashes`` only: a literal comes from no result
    (two literal reads in one task are still DBA105: the asyncpg test below)."""
    connection = instrument(sqlite3.connect(":memory:"))
    try:
        with profile() as unit:
            connection.execute("SELECT 1 WHERE 2 = 2").fetchall()
    finally:
        connection.close()
    (event,) = unit.events
    assert event.param_hashes == ()
    assert event.fingerprint.values == (1, 2, 2)


# --- SQLAlchemy (sqlite) --------------------------------------------------------------------------


@pytest.fixture()
def sa() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    with engine.begin() as setup:
        setup.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER)"))
        setup.execute(
            text("INSERT INTO t VALUES (:id, :grp)"), [{"id": i, "grp": i % 7} for i in IDS]
        )
    instrument(engine)
    with engine.connect() as connection:
        yield connection
    uninstrument(engine)
    engine.dispose()


def test_sqlalchemy_literal_pages_chunks_and_n_plus_one(sa: Connection) -> None:
    with profile() as batched:
        offset = 0
        while sa.execute(text(f"SELECT id FROM t ORDER BY id LIMIT 100 OFFSET {offset}")).all():
            offset += 100
        for chunk in chunks(100):
            sa.execute(text(f"SELECT id FROM t WHERE id IN ({listed(chunk)})")).all()
    with profile() as n_plus_one:
        for item in IDS[:5]:
            sa.execute(text(f"SELECT grp FROM t WHERE id = {item}")).all()
    with profile() as duplicate:
        for _ in range(3):
            sa.execute(text("SELECT grp FROM t WHERE id = 7")).all()
    assert batched.query_count == 5 + 4
    assert rules(batched) == []
    assert rules(n_plus_one) == ["DBA101"]
    assert rules(duplicate) == ["DBA301"]


# --- PostgreSQL through asyncpg (the postgres dialect; results seen) --------------------------


@pytest.fixture()
async def pg(pg_url: str) -> AsyncIterator[str]:
    connection = await asyncpg.connect(pg_url)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS rt_literal; CREATE TABLE rt_literal (id int PRIMARY KEY, grp int)"
        )
        await connection.executemany(
            "INSERT INTO rt_literal VALUES ($1, $2)", [(i, i % 7) for i in IDS]
        )
        yield pg_url
        await connection.execute("DROP TABLE IF EXISTS rt_literal")
    finally:
        await connection.close()


async def test_asyncpg_literal_statements(pg: str) -> None:
    connection = instrument(await asyncpg.connect(pg))
    try:
        async with profile() as offsets:
            offset = 0
            while rows := await connection.fetch(
                f"SELECT id FROM rt_literal ORDER BY id LIMIT 100 OFFSET {offset}"
            ):
                offset += len(rows)
        async with profile() as sliced:  # a bound filter, the slice inlined (Django's shape)
            offset = 0
            while await connection.fetch(
                f"SELECT id FROM rt_literal WHERE grp < $1 ORDER BY id LIMIT 20 OFFSET {offset}", 3
            ):
                offset += 20
        async with profile() as keyset:  # a literal cursor: the previous page's last id
            last = 0
            while rows := await connection.fetch(
                f"SELECT id FROM rt_literal WHERE id > {last} ORDER BY id LIMIT 100"
            ):
                last = rows[-1]["id"]
        async with profile() as in_chunks:
            for chunk in chunks(100):
                await connection.fetch(f"SELECT id FROM rt_literal WHERE id IN ({listed(chunk)})")
        async with profile() as n_plus_one:
            for item in IDS[:5]:
                await connection.fetch(f"SELECT grp FROM rt_literal WHERE id = {item}")
        async with profile() as duplicate:
            for _ in range(3):
                await connection.fetch("SELECT grp FROM rt_literal WHERE id = 7")
        async with profile() as sequential:  # two independent literal reads, one task
            await connection.fetch("SELECT grp FROM rt_literal WHERE id = 7")
            await connection.fetch("SELECT id FROM rt_literal WHERE grp = 3 LIMIT 5")
    finally:
        await connection.close()
    batches = (offsets, sliced, keyset, in_chunks)
    assert [u.query_count for u in batches] == [5, 9, 5, 4]
    for unit in batches:
        assert rules(unit) == [], unit.events[0].fingerprint.text
    assert rules(n_plus_one) == ["DBA101"]
    assert rules(duplicate) == ["DBA301"]
    assert rules(sequential) == ["DBA105"]
