"""Batched reads and writes are not N+1 (issue #5: a false positive costs more than a miss).

Real loops under ``dbaudit.runtime.profile()`` on sqlite and PostgreSQL, in pairs: a loop that
reads pages (OFFSET, keyset) or chunks of many keys (``IN``, ``= ANY``) is not reported; the
per-item shapes that look like them (a LIMIT per parent, one key per ``IN``, chunks of one, a
page of one row) still are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from sqlalchemy import Integer, create_engine, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dbaudit.runtime import instrument, profile, uninstrument
from dbaudit.runtime.detect import DetectConfig, detect
from dbaudit.runtime.events import QueryEvent
from dbaudit.runtime.unit import Unit
from dbaudit.sql import fingerprint

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


def marks(n: int, style: str = "?") -> str:
    return (
        ", ".join(style.format(i + 1) for i in range(n)) if "{" in style else ", ".join([style] * n)
    )


# --- sqlite3 (the DB-API proxy: no row counts, no results seen) -------------------------------


@pytest.fixture()
def db() -> Iterator[sqlite3.Connection]:
    connection = instrument(sqlite3.connect(":memory:"))
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, grp INTEGER, seen INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?, ?, 0)", [(i, i % 7) for i in IDS])
    yield connection
    connection.close()


def test_offset_pages_are_not_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as literal_limit:
        offset = 0
        while rows := db.execute(
            "SELECT id FROM t ORDER BY id LIMIT 100 OFFSET ?", (offset,)
        ).fetchall():
            offset += len(rows)
    with profile() as bound_limit:
        offset = 0
        while rows := db.execute(
            "SELECT id FROM t ORDER BY id LIMIT ? OFFSET ?", (100, offset)
        ).fetchall():
            offset += 100
    with profile() as of_a_list:  # pages of the rows of a constant IN list
        offset = 0
        sql = "SELECT id FROM t WHERE grp IN (?, ?, ?) ORDER BY id LIMIT 50 OFFSET ?"
        while db.execute(sql, (0, 1, 2, offset)).fetchall():
            offset += 50
    assert [literal_limit.query_count, bound_limit.query_count, of_a_list.query_count] == [5, 5, 4]
    assert rules(literal_limit) == rules(bound_limit) == rules(of_a_list) == []


def test_keyset_pages_are_not_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as ascending:
        last = 0
        sql = "SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?"
        while rows := db.execute(sql, (last, 100)).fetchall():
            last = rows[-1][0]
    with profile() as descending:
        last = ROWS + 1
        sql = "SELECT id, grp FROM t WHERE grp >= ? AND id < ? ORDER BY id DESC LIMIT ?"
        while rows := db.execute(sql, (0, last, 100)).fetchall():
            last = rows[-1][0]
    assert ascending.query_count == descending.query_count == 5
    assert rules(ascending) == rules(descending) == []


def test_in_chunks_are_not_n_plus_one_nor_per_item_writes(db: sqlite3.Connection) -> None:
    with profile() as reads:
        for chunk in chunks(100):
            db.execute(
                f"SELECT id FROM t WHERE grp >= ? AND id IN ({marks(len(chunk))})", (0, *chunk)
            ).fetchall()
    with profile() as writes:
        for chunk in chunks(100):
            db.execute(f"UPDATE t SET seen = ? WHERE id IN ({marks(len(chunk))})", (1, *chunk))
        for chunk in chunks(100):  # an executemany per chunk: one round trip each, as before
            db.executemany("UPDATE t SET seen = ? WHERE id = ?", [(2, i) for i in chunk])
    with profile() as inserts:
        for chunk in chunks(50):
            values = ", ".join(["(?, ?)"] * len(chunk))
            db.execute(
                f"INSERT INTO t (id, grp) VALUES {values}",
                [v for i in chunk for v in (i + 1000, 3)],
            )
    assert reads.query_count == 4 and writes.query_count == 8 and inserts.query_count == 7
    assert rules(reads) == rules(writes) == rules(inserts) == []


def test_a_limit_per_parent_is_still_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as latest:  # the same LIMIT, a different parent key each time
        for grp in range(7):
            db.execute("SELECT id FROM t WHERE grp = ? ORDER BY id DESC LIMIT 5", (grp,)).fetchall()
    with profile() as bound:
        for grp in range(7):
            db.execute(
                "SELECT id FROM t WHERE grp = ? ORDER BY id DESC LIMIT ? OFFSET ?", (grp, 5, 0)
            ).fetchall()
    with profile() as after_each:  # "the next 5 after each item": a cursor, but one per item
        for item in range(1, 8):
            db.execute("SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?", (item, 5)).fetchall()
    with profile() as cursor_and_parent:  # a keyset shape whose parent key varies too
        for grp in range(7):
            db.execute(
                "SELECT id FROM t WHERE grp = ? AND id > ? ORDER BY id LIMIT ?",
                (grp, grp * 100, 100),
            ).fetchall()
    for unit in (latest, bound, after_each, cursor_and_parent):
        assert rules(unit) == ["DBA101"], unit.events[0].fingerprint.text


def test_one_key_per_statement_is_still_n_plus_one(db: sqlite3.Connection) -> None:
    with profile() as single_in:
        for i in IDS[:10]:
            db.execute("SELECT id FROM t WHERE id IN (?)", (i,)).fetchall()
    with profile() as chunks_of_one:  # a chunk loop of size 1 is a loop over keys
        for chunk in chunks(1):
            db.execute(f"SELECT id FROM t WHERE id IN ({marks(len(chunk))})", chunk).fetchall()
    with profile() as chunks_of_two:  # below the batch size: an item's two keys look alike
        for chunk in chunks(2):
            db.execute(f"SELECT id FROM t WHERE id IN ({marks(len(chunk))})", chunk).fetchall()
    with profile() as pages_of_one:  # a page of one row per query reads row by row
        for offset in range(10):
            db.execute("SELECT id FROM t ORDER BY id LIMIT ? OFFSET ?", (1, offset)).fetchall()
    with profile() as row_by_row:
        for i in IDS[:10]:
            db.execute("UPDATE t SET seen = ? WHERE id IN (?)", (1, i))
    for unit in (single_in, chunks_of_one, chunks_of_two, pages_of_one):
        assert rules(unit) == ["DBA101"], unit.events[0].fingerprint.text
    assert rules(row_by_row) == ["DBA103"]


def test_chunks_that_share_keys_or_differ_in_size_are_still_reported(
    db: sqlite3.Connection,
) -> None:
    with profile() as overlapping:  # each key read twice: no partition of one list
        for start in range(0, 300, 50):
            chunk = IDS[start : start + 100]
            db.execute(f"SELECT id FROM t WHERE id IN ({marks(len(chunk))})", chunk).fetchall()
    with profile() as per_parent:  # each parent's own keys, as many as it has
        for size in (3, 7, 4, 5):
            chunk = IDS[size * 10 : size * 11]
            db.execute(f"SELECT id FROM t WHERE id IN ({marks(len(chunk))})", chunk).fetchall()
    with profile() as constant_list:  # a bound list of statuses, a parent key per query
        for grp in range(7):
            db.execute(
                "SELECT id FROM t WHERE seen IN (?, ?, ?) AND grp = ?", (0, 1, 2, grp)
            ).fetchall()
    assert rules(overlapping) == rules(per_parent) == rules(constant_list) == ["DBA101"]


# --- SQLAlchemy on sqlite --------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "rt_batch_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grp: Mapped[int] = mapped_column(Integer)


@pytest.fixture()
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as setup:
        setup.add_all([Item(id=i, grp=i % 7) for i in IDS])
        setup.commit()
    instrument(engine)
    with Session(engine) as session:
        yield session
    uninstrument(engine)
    engine.dispose()


def test_orm_pages_and_chunks_are_not_n_plus_one(session: Session) -> None:
    with profile() as unit:
        offset = 0
        while page := session.scalars(
            select(Item).order_by(Item.id).limit(100).offset(offset)
        ).all():
            offset += 100
        last = 0
        while page := session.scalars(
            select(Item).where(Item.id > last).order_by(Item.id).limit(100)
        ).all():
            last = page[-1].id
        for chunk in chunks(100):
            session.scalars(select(Item).where(Item.id.in_(chunk))).all()
            session.execute(update(Item).where(Item.id.in_(chunk)).values(grp=0))
    assert unit.query_count == 5 + 5 + 4 + 4
    assert rules(unit) == []


def test_orm_limit_per_parent_is_still_n_plus_one(session: Session) -> None:
    with profile() as unit:
        for grp in range(7):
            session.scalars(
                select(Item).where(Item.grp == grp).order_by(Item.id.desc()).limit(5)
            ).all()
    assert rules(unit) == ["DBA101"]


# --- PostgreSQL: asyncpg (rows and results seen) and SQLAlchemy's asyncio layer ---------------


@pytest.fixture()
async def pg(pg_url: str) -> AsyncIterator[str]:
    connection = await asyncpg.connect(pg_url)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS rt_batch; CREATE TABLE rt_batch (id int PRIMARY KEY, grp int)"
        )
        await connection.executemany(
            "INSERT INTO rt_batch VALUES ($1, $2)", [(i, i % 7) for i in IDS]
        )
        yield pg_url
        await connection.execute("DROP TABLE IF EXISTS rt_batch")
    finally:
        await connection.close()


async def test_asyncpg_pages_and_chunks_are_not_n_plus_one(pg: str) -> None:
    connection = instrument(await asyncpg.connect(pg))
    try:
        async with profile() as offsets:
            offset = 0
            while rows := await connection.fetch(
                "SELECT id FROM rt_batch ORDER BY id LIMIT 100 OFFSET $1", offset
            ):
                offset += len(rows)
        async with profile() as keyset:  # a literal LIMIT: each cursor is the last row's id
            last = 0
            while rows := await connection.fetch(
                "SELECT id FROM rt_batch WHERE id > $1 ORDER BY id LIMIT 100", last
            ):
                last = rows[-1]["id"]
        async with profile() as row_keyset:  # a row value: (grp, id) of the last row
            last = (-1, 0)
            sql = (
                "SELECT grp, id FROM rt_batch WHERE (grp, id) > ($1, $2) ORDER BY grp, id LIMIT $3"
            )
            while rows := await connection.fetch(sql, *last, 100):
                last = (rows[-1]["grp"], rows[-1]["id"])
        async with profile() as in_chunks:
            for chunk in chunks(100):
                await connection.fetch(
                    f"SELECT id FROM rt_batch WHERE id IN ({marks(len(chunk), '${}')})", *chunk
                )
        async with profile(keep_params=True) as any_chunks:  # the arrays' lengths: kept values
            for chunk in chunks(100):
                await connection.fetch("SELECT id FROM rt_batch WHERE id = ANY($1::int[])", chunk)
    finally:
        await connection.close()
    units = (offsets, keyset, row_keyset, in_chunks, any_chunks)
    assert [u.query_count for u in units] == [5, 5, 5, 4, 4]
    for unit in units:  # no DBA105 for the pages either
        assert rules(unit) == [], unit.events[0].fingerprint.text


async def test_asyncpg_per_item_shapes_are_still_n_plus_one(pg: str) -> None:
    connection = instrument(await asyncpg.connect(pg))
    try:
        async with profile() as after_each:  # results seen, but no cursor from a last row
            for item in range(1, 8):
                await connection.fetch(
                    "SELECT id FROM rt_batch WHERE id > $1 ORDER BY id LIMIT 5", item
                )
        async with profile(keep_params=True) as any_of_one:
            for item in IDS[:10]:
                await connection.fetch("SELECT id FROM rt_batch WHERE id = ANY($1::int[])", [item])
        async with profile(keep_params=True) as any_overlapping:  # keys read twice
            for start in range(0, 300, 50):
                chunk = IDS[start : start + 100]
                await connection.fetch("SELECT id FROM rt_batch WHERE id = ANY($1::int[])", chunk)
        async with profile() as any_unseen:
            # without kept values an array is one hash, its length unknown: still reported
            for chunk in chunks(100):
                await connection.fetch("SELECT id FROM rt_batch WHERE id = ANY($1::int[])", chunk)
    finally:
        await connection.close()
    for unit in (after_each, any_of_one, any_overlapping, any_unseen):
        assert rules(unit) == ["DBA101"], unit.events[0].fingerprint.text


@pytest.fixture()
async def sa(pg: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine("postgresql+asyncpg://" + pg.split("://", 1)[1])
    instrument(engine)
    async with engine.connect() as connection:
        yield connection
    uninstrument(engine)
    await engine.dispose()


async def test_sqlalchemy_asyncpg_batches_and_n_plus_one(sa: AsyncConnection) -> None:
    table = Item.__table__.to_metadata(Item.metadata.__class__(), name="rt_batch")
    async with profile() as batched:
        offset = 0
        while (
            await sa.execute(select(table.c.id).order_by(table.c.id).limit(100).offset(offset))
        ).all():
            offset += 100
        last = 0
        while rows := (
            await sa.execute(
                select(table.c.id).where(table.c.id > last).order_by(table.c.id).limit(100)
            )
        ).all():
            last = rows[-1][0]
        for chunk in chunks(100):
            (await sa.execute(select(table.c.id).where(table.c.id.in_(chunk)))).all()
    async with profile() as per_parent:
        for grp in range(7):
            query = (
                select(table.c.id).where(table.c.grp == grp).order_by(table.c.id.desc()).limit(5)
            )
            (await sa.execute(query)).all()
    async with profile() as single_in:
        for i in IDS[:10]:
            (await sa.execute(select(table.c.id).where(table.c.id.in_([i])))).all()
    assert batched.query_count == 5 + 5 + 4
    assert rules(batched) == []
    assert rules(per_parent) == rules(single_in) == ["DBA101"]


# --- the evidence, on synthetic events --------------------------------------------------------


def _event(seq: int, sql: str, params: tuple[object, ...], rows: int | None = None) -> QueryEvent:
    return QueryEvent(
        seq, fingerprint(sql), seq / 1000, 0.0005, rows, (), 1, None,
        tuple(map(hash, params)), None, False, "test", False, None, None,
    )  # fmt: skip


def test_offset_pages_need_full_pages_when_rows_are_counted() -> None:
    sql = "SELECT id FROM t ORDER BY id LIMIT ? OFFSET ?"
    pages = [_event(i, sql, (100, i * 100), rows=100) for i in range(3)] + [
        _event(3, sql, (100, 300), 50)
    ]
    assert detect(pages, DetectConfig()).findings == ()
    short = [_event(i, sql, (100, i * 100), rows=5) for i in range(4)]  # not pages after all
    assert [f.rule for f in detect(short, DetectConfig()).findings] == ["DBA101"]
    skewed = [_event(i, sql, (100, i * 50), rows=100) for i in range(4)]  # offset != limit
    assert [f.rule for f in detect(skewed, DetectConfig()).findings] == ["DBA101"]


def test_string_cursors_are_no_integer_evidence() -> None:
    sql = "SELECT id FROM t WHERE name > ? ORDER BY name LIMIT ?"
    names = [_event(i, sql, (f"user-{i}", 100)) for i in range(5)]
    assert [f.rule for f in detect(names, DetectConfig()).findings] == ["DBA101"]
