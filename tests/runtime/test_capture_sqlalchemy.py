"""SQLAlchemy capture: sync ORM on sqlite, asyncio ORM on PostgreSQL (asyncpg and psycopg)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import (
    DDL,
    ForeignKey,
    String,
    create_engine,
    event,
    func,
    insert,
    lambda_stmt,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

from dbaudit.db import sqlalchemy_url
from dbaudit.runtime import callsite, ignore, instrument, profile, uninstrument
from dbaudit.runtime.capture import sqlalchemy as sqlalchemy_capture


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "rt_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")


class Book(Base):
    __tablename__ = "rt_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("rt_authors.id"))
    title: Mapped[str] = mapped_column(String(50))
    author: Mapped[Author] = relationship(back_populates="books")


AUTHORS = 6


def seed() -> list[Author]:
    return [
        Author(id=a, name=f"a{a}", books=[Book(id=a * 10 + b, title=f"b{b}") for b in range(3)])
        for a in range(1, AUTHORS + 1)
    ]


@pytest.fixture()
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(seed())
        session.commit()
    instrument(engine)
    yield engine
    uninstrument(engine)
    engine.dispose()


def titles_lazy(session: Session) -> list[str]:
    authors = session.scalars(select(Author).order_by(Author.id)).all()
    return [book.title for author in authors for book in author.books]  # a lazy load per author


def titles_eager(session: Session) -> list[str]:
    authors = session.scalars(
        select(Author).options(selectinload(Author.books)).order_by(Author.id)
    ).all()
    return [book.title for author in authors for book in author.books]


def test_orm_lazy_load_n_plus_one_detected(engine: Engine) -> None:
    with Session(engine) as session, profile("lazy") as unit:
        titles = titles_lazy(session)
    assert len(titles) == AUTHORS * 3
    assert unit.query_count == 1 + AUTHORS
    [finding] = unit.findings
    assert finding.rule == "DBA101"
    assert finding.evidence is not None and finding.evidence.queries == AUTHORS
    assert finding.function == "titles_lazy"  # its comprehension: folded before 3.12 too
    assert finding.path.endswith("test_capture_sqlalchemy.py")


def test_orm_eager_load_is_clean(engine: Engine) -> None:
    with Session(engine) as session, profile("eager") as unit:
        titles = titles_eager(session)
    assert len(titles) == AUTHORS * 3
    assert unit.query_count == 2
    assert unit.findings == []


def test_row_counts_errors_and_executemany(engine: Engine) -> None:
    with engine.begin() as conn, profile() as unit:
        conn.execute(text("UPDATE rt_books SET title = 'x' WHERE author_id = 1"))
        conn.execute(
            Book.__table__.insert(),
            [{"id": 900 + i, "author_id": 1, "title": "n"} for i in range(3)],
        )
        with pytest.raises(Exception, match="no such table"):
            conn.execute(text("SELECT * FROM missing_table"))
    update, insert, failed = unit.events
    assert update.rows == 3 and update.fingerprint.kind == "update"
    assert insert.many and insert.fingerprint.kind == "insert"
    assert failed.error is not None


def every_path(engine: Engine) -> None:
    """One statement down each of SQLAlchemy's execution paths, each from its own line."""
    with Session(engine) as session:
        session.execute(select(Author).where(Author.id == 1)).all()
        session.scalars(select(Book).where(Book.author_id == 1)).all()
        session.scalar(select(func.count()).select_from(Book))
        author = session.get(Author, 2)
        assert author is not None
        assert len(author.books) == 3  # a lazy load
        session.query(Author).filter_by(id=3).one()  # the legacy Query API
        session.execute(
            insert(Book), [{"id": 700 + i, "author_id": 1, "title": "t"} for i in range(2)]
        )
        session.execute(update(Book).where(Book.id == 700).values(title="u"))
        session.add(Book(id=710, author_id=1, title="v"))
        session.flush()
        session.rollback()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.scalar(select(Author.id).limit(1))
        conn.scalar(func.abs(-1))  # a function executed on its own
        conn.execute(lambda_stmt(lambda: select(Author.id)))
        conn.exec_driver_sql("SELECT 2")
        conn.execution_options(no_parameters=True).exec_driver_sql("SELECT 3")
        conn.execute(DDL("CREATE TABLE IF NOT EXISTS rt_scratch (x INTEGER)"))
        conn.execute(
            Book.__table__.insert(),
            [{"id": 720 + i, "author_id": 1, "title": "w"} for i in range(3)],
        )
        conn.rollback()


def reload_in_listener(orm_state: Any) -> Any:
    return orm_state.invoke_statement()  # the application's frame under SQLAlchemy's


def chains(engine: Engine) -> tuple[list[object], list[object]]:
    with profile() as paths:
        every_path(engine)
    with Session(engine) as session, profile() as listened:
        event.listen(session, "do_orm_execute", reload_in_listener)
        session.execute(select(Author)).all()
    return [e.stack for e in paths.events], [e.stack for e in listened.events]


def reading_every_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk as it would be with no knowledge of SQLAlchemy's call structure: from the
    frame that called the dialect method, through every frame."""
    monkeypatch.setattr(callsite, "_known_callers", {})
    monkeypatch.setattr(callsite, "_known_caller_files", set())
    monkeypatch.setattr(sqlalchemy_capture, "_SKIP", 3)
    monkeypatch.setattr(sqlalchemy_capture, "_SKIP_COMPILED", 3)


def test_call_sites_on_every_path_equal_a_full_walk(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk starts above SQLAlchemy's private frames and jumps over the callers it knows
    (capture/sqlalchemy.py): on every execution path, and under a do_orm_execute listener of
    the application's, the chains are those of a walk that reads every frame."""
    assert callsite._known_callers  # the registry is in use
    results = []
    for full in (False, True):  # one loop: the same line in every chain
        if full:
            reading_every_frame(monkeypatch)
        results.append(chains(engine))
    (jumped, jumped_listener), (walked, walked_listener) = results
    assert len(jumped) >= 17
    assert jumped == walked
    assert {chain[0].function for chain in jumped} == {"every_path"}  # type: ignore[index]
    assert len({chain[0].line for chain in jumped}) >= 17  # type: ignore[index]
    assert jumped_listener == walked_listener
    assert [chain[0].function for chain in jumped_listener] == ["reload_in_listener"]  # type: ignore[index]


def test_the_dialect_is_hooked_and_unhooked_in_place(engine: Engine) -> None:
    dialect = engine.dialect
    assert "do_execute" in vars(dialect)  # the fixture's instrument(engine)
    instrument(engine)  # idempotent: one wrapper
    hooked = dialect.do_execute
    instrument(engine)
    assert dialect.do_execute is hooked
    uninstrument(engine)
    assert not {"do_execute", "do_executemany", "do_execute_no_params"} & set(vars(dialect))
    assert not engine._has_events  # SQLAlchemy's event dispatch was never switched on
    with profile() as unit, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert unit.query_count == 0
    instrument(engine)


def test_the_dialects_first_connect_checks_are_not_the_applications(pg_url: str) -> None:
    """On an engine's first connection the dialect asks the server for its version, schema and
    settings: SQLAlchemy's statements, hidden from engine events, and from the profile."""
    fresh = create_engine(sqlalchemy_url(pg_url, "psycopg"))
    instrument(fresh)
    try:
        with profile() as unit, fresh.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert [e.fingerprint.text for e in unit.events] == ["SELECT ?"]  # literals normalised
    finally:
        uninstrument(fresh)
        fresh.dispose()


def test_a_failing_hook_never_fails_the_query(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("profiler bug")

    monkeypatch.setattr(sqlalchemy_capture, "orm_label", broken)
    monkeypatch.setattr(sqlalchemy_capture, "keep_rows", broken)
    with profile() as unit, engine.connect() as conn:
        assert conn.execute(text("SELECT 41 + 1")).scalar() == 42
        with pytest.raises(Exception, match="no such table"):  # its own error, not ours
            conn.execute(text("SELECT * FROM missing_table"))
    assert unit.query_count == 2  # recorded without what failed
    assert unit.events[1].error is not None


def test_global_instrumentation_covers_new_engines_once(engine: Engine) -> None:
    instrument()  # every Engine, on top of this engine's own listeners
    try:
        other = create_engine("sqlite://")
        with profile() as unit:
            with other.connect() as conn:
                conn.execute(text("SELECT 1"))
            with engine.connect() as conn:
                conn.execute(text("SELECT 2"))
        assert unit.query_count == 2  # engine listeners + global listeners: still one event each
    finally:
        uninstrument()
    with profile() as after, other.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert after.query_count == 0


def test_global_instrumentation_hooks_an_engine_once_under_concurrent_checkouts() -> None:
    """Threads checking out a fresh engine at once: one hook on its dialect, one event each."""
    instrument()
    fresh = create_engine("sqlite://")  # a pool of one connection per thread
    try:
        counts: list[int] = []
        start = threading.Barrier(8)

        def query() -> None:
            start.wait()
            with profile() as unit, fresh.connect() as conn:
                conn.execute(text("SELECT 1"))
            counts.append(unit.query_count)

        threads = [threading.Thread(target=query) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert counts == [1] * 8
    finally:
        uninstrument()
        fresh.dispose()
    assert "do_execute" not in vars(fresh.dialect)


@pytest.fixture(params=["asyncpg", "psycopg"])
async def async_engine(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(pg_url, request.param))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    async with AsyncSession(engine) as session:
        session.add_all(seed())
        await session.commit()
    instrument(engine)
    yield engine
    uninstrument(engine)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()


async def book_titles(session: AsyncSession, author_id: int) -> list[str]:
    result = await session.scalars(select(Book.title).where(Book.author_id == author_id))
    return list(result)


async def titles_in_loop(session: AsyncSession) -> list[str]:
    author_ids = (await session.scalars(select(Author.id).order_by(Author.id))).all()
    titles = []
    for author_id in author_ids:
        titles += await book_titles(session, author_id)
    return titles


async def titles_batched(session: AsyncSession) -> list[str]:
    author_ids = (await session.scalars(select(Author.id).order_by(Author.id))).all()
    result = await session.scalars(select(Book.title).where(Book.author_id.in_(author_ids)))
    return list(result)


async def test_async_loop_n_plus_one_with_call_chain(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session, profile("loop") as unit:
        titles = await titles_in_loop(session)
    assert len(titles) == AUTHORS * 3
    assert unit.query_count == 1 + AUTHORS
    [finding] = unit.findings
    assert finding.rule == "DBA101"
    assert finding.evidence is not None and finding.evidence.queries == AUTHORS
    # the greenlet bridge is crossed: the chain reaches the loop in titles_in_loop
    assert [hop.function for hop in finding.call_chain][-2:] == ["titles_in_loop", "book_titles"]
    assert all(e.task_id is not None for e in unit.events)


async def test_async_batched_is_clean(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session, profile("batched") as unit:
        titles = await titles_batched(session)
    assert len(titles) == AUTHORS * 3
    assert unit.query_count == 2
    assert unit.findings == []  # the second query uses the first one's results: dependent


async def profile_stats(session: AsyncSession, author_id: int) -> tuple[object, ...]:
    author = await session.get(Author, author_id)
    books = (await session.scalars(select(Book).where(Book.author_id == author_id))).all()
    count = await session.scalar(
        select(text("count(*)")).select_from(Book).where(Book.author_id == author_id)
    )
    return author, books, count


async def test_async_sequential_independent_detected(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session, profile("stats") as unit:
        await profile_stats(session, 2)
    assert unit.query_count == 3
    assert [f.rule for f in unit.findings] == ["DBA105"]
    assert unit.findings[0].evidence is not None and unit.findings[0].evidence.queries == 3


async def test_a_sync_session_inside_async_code_is_no_sequential_await(engine: Engine) -> None:
    # the same three independent reads, from a blocking engine inside a coroutine (a sync
    # repository called from an async endpoint): nothing awaits them, no gather could help
    with Session(engine) as session, profile("blocking") as unit:
        author = session.get(Author, 2)
        books = session.scalars(select(Book).where(Book.author_id == 2)).all()
        count = session.scalar(
            select(text("count(*)")).select_from(Book).where(Book.author_id == 2)
        )
    assert (author is not None, len(books), count) == (True, 3, 3)
    assert unit.query_count == 3
    assert {e.task_id for e in unit.events} == {None}
    assert unit.findings == []


async def test_async_ignore_and_nothing_outside_units(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session:
        await titles_in_loop(session)  # no unit: nothing recorded, nothing raised
        async with profile() as unit:
            with ignore():
                await titles_in_loop(session)
    assert unit.query_count == 1 + AUTHORS
    assert unit.findings == []


def sync_titles(conn: Any) -> list[str]:
    return list(conn.execute(select(Book.title).where(Book.author_id == 1)).scalars())


async def async_every_path(engine: AsyncEngine) -> None:
    """One statement down each path of the asyncio extension, each from its own line."""
    async with AsyncSession(engine) as session:
        await session.execute(select(Author).where(Author.id == 1))
        (await session.scalars(select(Book).where(Book.author_id == 1))).all()
        await session.scalar(select(func.count()).select_from(Book))
        author = await session.get(Author, 2)
        assert author is not None
        await session.refresh(author)  # a column load
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        await conn.scalar(func.abs(-1))
        await conn.exec_driver_sql("SELECT 2")
        await conn.run_sync(sync_titles)  # the application's function, in the greenlet
        await conn.rollback()


async def async_chains(engine: AsyncEngine) -> list[object]:
    async with profile() as unit:
        await async_every_path(engine)
    return [e.stack for e in unit.events]


async def test_async_call_sites_on_every_path_equal_a_full_walk(
    async_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = []
    for full in (False, True):
        if full:
            reading_every_frame(monkeypatch)
        results.append(await async_chains(async_engine))
    jumped, walked = results
    assert len(jumped) >= 9
    assert jumped == walked
    functions = [chain[0].function for chain in jumped]  # type: ignore[index]
    assert set(functions) == {"async_every_path", "sync_titles"}
    assert functions[-1] == "sync_titles"  # run_sync: the call site is in the greenlet


async def test_slow_query_keeps_its_statement_and_explains(async_engine: AsyncEngine) -> None:
    from dbaudit.runtime import DetectConfig
    from dbaudit.runtime.explain import CannotExplain, explain_async

    async with async_engine.connect() as conn:
        async with profile(config=DetectConfig(slow_query_ms=5)) as unit:
            await conn.execute(text("SELECT pg_sleep(0.01), CAST(:x AS int) AS x"), {"x": 3})
        async with profile(keep_params=True) as kept:
            await conn.execute(text("UPDATE rt_books SET title = title WHERE id = :i"), {"i": -1})
    [slow_select] = unit.events
    [slow_update] = kept.events
    assert [f.rule for f in unit.findings] == ["DBA302"]
    assert slow_select.statement is not None and slow_select.params is not None
    plan = await explain_async(async_engine, slow_select)
    assert plan[0]["Plan"]["Node Type"] == "Result"
    with pytest.raises(CannotExplain, match="would execute a update"):
        await explain_async(async_engine, slow_update, analyze=True)


def test_fast_query_keeps_nothing_and_cannot_be_explained(engine: Engine) -> None:
    from dbaudit.runtime.explain import CannotExplain, explain

    with engine.connect() as conn, profile() as unit:
        conn.execute(text("SELECT 1"))
    [event] = unit.events
    assert event.statement is None and event.params is None
    with pytest.raises(CannotExplain, match="kept no statement"):
        explain(engine, event)


def test_sqlite_plan_with_kept_params(engine: Engine) -> None:
    from dbaudit.runtime.explain import explain

    with engine.connect() as conn, profile(keep_params=True) as unit:
        conn.execute(select(Book).where(Book.author_id == 2)).all()
    plan = explain(engine, unit.events[0])
    assert any("rt_books" in str(row) for row in plan)
