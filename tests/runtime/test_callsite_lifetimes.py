"""The call-site walk never changes the application's object lifetimes.

A frame object that outlives its function keeps the function's locals alive. Inside a unit, an
object that a function loads or creates and holds only in a local variable must die when that
function returns, as it does with no unit open: whatever the walks of the function's queries
read (its frame, its callers'), queries from the same frame in a row, units in a row. Checked
right after the function returns, while the unit is still open, without a garbage collection.
Synchronous code on sqlite, coroutines under asyncio, and SQLAlchemy's asyncio layer (its
greenlet bridge) on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import Integer, String, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dbaudit.runtime import instrument, profile, uninstrument
from dbaudit.runtime.unit import Unit

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class Payload:
    """An object held only by a local variable of the function that made it."""


Refs = list["weakref.ref[Any]"]


# --------------------------------------------------------------------------- synchronous


@pytest.fixture()
def connection() -> Iterator[Any]:
    raw = sqlite3.connect(":memory:")
    raw.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
    raw.executemany("INSERT INTO item VALUES (?, ?)", [(i, f"item {i}") for i in range(5)])
    yield instrument(raw)
    raw.close()


def fetch(connection: Any, item: int) -> Any:
    return connection.execute("SELECT name FROM item WHERE id = ?", (item,)).fetchone()


def load(connection: Any, item: int, refs: Refs) -> None:
    """Queries of its own (two in a row: the walk meets this frame first each time)."""
    loaded = Payload()
    loaded.row = fetch(connection, item)  # type: ignore[attr-defined]
    loaded.again = fetch(connection, item)  # type: ignore[attr-defined]
    refs.append(weakref.ref(loaded))


def service(connection: Any, item: int, refs: Refs) -> None:
    """A caller of the query's function: the walk passes this frame too."""
    made = Payload()
    refs.append(weakref.ref(made))
    load(connection, item, refs)
    fetch(connection, item)


def handler(connection: Any, item: int, refs: Refs) -> None:
    kept = Payload()
    refs.append(weakref.ref(kept))
    for _ in range(2):
        service(connection, item, refs)
    [fetch(connection, each) for each in range(3)]  # a comprehension's frame in between


def dead(refs: Refs) -> bool:
    return bool(refs) and all(ref() is None for ref in refs)


def test_locals_of_frames_a_walk_passes_die_when_their_function_returns(
    connection: Any,
) -> None:
    for _ in range(3):  # units in a row from this frame
        refs: Refs = []
        with profile("sync") as unit:
            for item in range(3):
                load(connection, item, refs)
                assert dead(refs)  # right after the return, the unit still open
                handler(connection, item, refs)
                assert dead(refs)
            assert dead(refs)
        assert unit.query_count == 3 * (2 + 2 * 3 + 3)


def opened_by(connection: Any, refs: Refs, units: list[Unit]) -> None:
    with profile("decorated in effect") as unit:
        handler(connection, 1, refs)
        assert dead(refs)
        units.append(unit)


def test_the_same_under_a_decorated_function_and_a_context_manager_of_the_applications(
    connection: Any,
) -> None:
    refs: Refs = []

    @profile("decorated")
    def decorated() -> None:
        handler(connection, 2, refs)
        assert dead(refs)

    decorated()
    units: list[Unit] = []
    opened_by(connection, refs, units)
    assert units[0].query_count == 2 * 3 + 3
    assert dead(refs)


# --------------------------------------------------------------------------- asyncio


async def load_async(connection: Any, item: int, refs: Refs) -> None:
    loaded = Payload()
    loaded.row = fetch(connection, item)  # type: ignore[attr-defined]
    await asyncio.sleep(0)  # suspended: its frame waits, then resumes
    loaded.again = fetch(connection, item)  # type: ignore[attr-defined]
    refs.append(weakref.ref(loaded))


async def service_async(connection: Any, item: int, refs: Refs) -> None:
    made = Payload()
    refs.append(weakref.ref(made))
    await load_async(connection, item, refs)
    fetch(connection, item)


async def in_task(connection: Any, item: int, refs: Refs) -> None:
    await service_async(connection, item, refs)


def test_locals_of_coroutines_a_walk_passes_die_when_they_return(connection: Any) -> None:
    async def main() -> None:
        for _ in range(3):
            refs: Refs = []
            async with profile("async") as unit:
                for item in range(3):
                    await load_async(connection, item, refs)
                    assert dead(refs)
                    await service_async(connection, item, refs)
                    assert dead(refs)
                await asyncio.gather(*(in_task(connection, item, refs) for item in range(2)))
                assert dead(refs)
            assert unit.query_count == 3 * (2 + 3) + 2 * 3

    asyncio.run(main())


# --------------------------------------------------------------------------- greenlet bridge


class Base(DeclarativeBase):
    pass


def model(table: str) -> type[Any]:
    class Thing(Base):
        __tablename__ = table
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        name: Mapped[str] = mapped_column(String(40))

    return Thing


@pytest.fixture()
async def orm() -> AsyncIterator[tuple[AsyncEngine, type[Any]]]:
    table = f"dbaudit_lifetime_{uuid.uuid4().hex[:12]}"
    thing = model(table)
    engine = create_async_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(thing.__table__.create)  # type: ignore[attr-defined]
            await conn.execute(
                thing.__table__.insert(),  # type: ignore[attr-defined]
                [{"id": i, "name": f"thing {i}"} for i in range(5)],
            )
        instrument(engine)
        yield engine, thing
    finally:
        uninstrument(engine)
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
        await engine.dispose()
        Base.metadata.remove(thing.__table__)  # type: ignore[attr-defined]


async def load_thing(session: AsyncSession, thing: type[Any], item: int, refs: Refs) -> None:
    """An ORM object held by this coroutine's local only (the session's identity map holds
    it weakly), then a second query from this frame."""
    loaded = await session.get(thing, item)
    refs.append(weakref.ref(loaded))
    made = Payload()
    refs.append(weakref.ref(made))
    await session.scalars(select(thing.name).where(thing.id == item))


async def service_orm(session: AsyncSession, thing: type[Any], item: int, refs: Refs) -> None:
    rows = (await session.scalars(select(thing).where(thing.id <= item))).all()
    refs.extend(weakref.ref(row) for row in rows)
    await load_thing(session, thing, item, refs)


async def operation(engine: AsyncEngine, thing: type[Any], item: int, refs: Refs) -> None:
    """The reference app's shape: a session per operation, closed inside it."""
    async with AsyncSession(engine) as session:
        await service_orm(session, thing, item, refs)


async def test_orm_objects_a_coroutine_loaded_die_when_it_returns(
    orm: tuple[AsyncEngine, type[Any]],
) -> None:
    engine, thing = orm
    for _ in range(2):  # units in a row from this frame
        refs: Refs = []
        async with AsyncSession(engine) as session, profile("orm") as unit:
            for item in range(1, 4):
                await load_thing(session, thing, item, refs)
                assert dead(refs)  # the session is open: only the walk could keep them
                await service_orm(session, thing, item, refs)
                assert dead(refs)
                session.expunge_all()
                await operation(engine, thing, item, refs)
                assert dead(refs)
        assert unit.query_count >= 3 * 5
