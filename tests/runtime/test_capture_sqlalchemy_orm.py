"""ORM lazy-load labels: which relationship or column each statement loaded, in pairs (the lazy
loop is named and fixed / its eager version stays quiet), sync on sqlite, async on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import ForeignKey, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
    undefer,
)

from dbaudit.db import sqlalchemy_url
from dbaudit.runtime import DetectConfig, instrument, profile, uninstrument
from dbaudit.runtime.capture import sqlalchemy_orm

# A loaded machine can make any one statement "slow" (DBA302): these tests are about other rules.
QUIET = DetectConfig(slow_query_ms=60_000)


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "orm_projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    brief: Mapped[str] = mapped_column(String(200), deferred=True)
    renders: Mapped[list[Render]] = relationship(back_populates="project", order_by="Render.id")


class Render(Base):
    __tablename__ = "orm_renders"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("orm_projects.id"))
    project: Mapped[Project] = relationship(back_populates="renders")


PROJECTS = 5


def seed() -> list[Project]:
    return [
        Project(id=p, name=f"p{p}", brief="b", renders=[Render(id=p * 10 + r) for r in range(2)])
        for p in range(1, PROJECTS + 1)
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


def render_counts(session: Session) -> list[int]:
    projects = session.scalars(select(Project).order_by(Project.id)).all()
    return [len(project.renders) for project in projects]


def test_lazy_loaded_relationship_is_named_and_fixed(engine: Engine) -> None:
    with Session(engine) as session, profile(config=QUIET) as unit:
        assert render_counts(session) == [2] * PROJECTS
    assert [e.relationship for e in unit.events] == [None] + ["Project.renders"] * PROJECTS
    [finding] = unit.findings
    assert finding.rule == "DBA101"
    assert finding.message.startswith(f"N+1: Project.renders lazy-loaded for {PROJECTS} projects")
    assert finding.fix is not None
    assert finding.fix.code == "select(Project).options(selectinload(Project.renders))"
    assert finding.function.startswith("render_counts")


@pytest.mark.parametrize("loader", [selectinload, subqueryload])
def test_eager_loaders_are_not_lazy_loads(engine: Engine, loader: object) -> None:
    """selectinload and subqueryload are relationship loads too (is_relationship_load), but
    the fix, not the bug: no label, no finding."""
    query = select(Project).options(loader(Project.renders)).order_by(Project.id)  # type: ignore[operator]
    with Session(engine) as session, profile(config=QUIET) as unit:
        projects = session.scalars(query).all()
        assert [len(p.renders) for p in projects] == [2] * PROJECTS
    assert unit.query_count == 2
    assert all(e.relationship is None for e in unit.events)
    assert unit.findings == []


def test_two_lazy_loads_are_an_n_plus_one(engine: Engine) -> None:
    with Session(engine) as session, profile(config=QUIET) as unit:
        projects = session.scalars(select(Project).where(Project.id <= 2)).all()
        for project in projects:
            _ = project.renders
    assert [f.message.split(" (")[0] for f in unit.findings] == [
        "N+1: Project.renders lazy-loaded for 2 projects"
    ]


def test_many_to_one_suggests_joinedload(engine: Engine) -> None:
    with Session(engine) as session, profile(config=QUIET) as unit:
        renders = session.scalars(select(Render).where(Render.id % 10 == 0)).all()
        session.expunge_all()  # parents not in the identity map: each access loads one
        session.add_all(renders)
        names = [render.project.name for render in renders]
    assert len(names) == PROJECTS
    [finding] = unit.findings
    assert finding.message.startswith(f"N+1: Render.project lazy-loaded for {PROJECTS} renders")
    assert finding.fix is not None and "joinedload(Render.project)" in finding.fix.code
    assert {e.relationship for e in unit.events[1:]} == {"Render.project (many-to-one)"}


def test_deferred_column_loaded_per_object_and_undefer_is_clean(engine: Engine) -> None:
    with Session(engine) as session, profile(config=QUIET) as unit:
        projects = session.scalars(select(Project)).all()
        briefs = [project.brief for project in projects]
    assert briefs == ["b"] * PROJECTS
    [finding] = unit.findings
    assert finding.message.startswith(f"N+1: Project.brief reloaded for {PROJECTS} projects")
    assert finding.fix is not None and "undefer(Project.brief)" in finding.fix.code
    with Session(engine) as session, profile(config=QUIET) as eager:
        projects = session.scalars(select(Project).options(undefer(Project.brief))).all()
        assert [project.brief for project in projects] == ["b"] * PROJECTS
    assert eager.query_count == 1 and eager.findings == []


def test_attributes_expired_by_commit_reloaded_per_object(engine: Engine) -> None:
    with Session(engine) as session, profile(config=QUIET) as unit:
        projects = session.scalars(select(Project)).all()
        for project in projects:
            project.name += "!"
        session.commit()  # expires every loaded attribute
        names = [project.name for project in projects]
    assert all(name.endswith("!") for name in names)
    n_plus_one = [f for f in unit.findings if f.rule == "DBA101"]
    assert [f.message.split(" one by one")[0] for f in n_plus_one] == [
        f"N+1: expired Project attributes reloaded for {PROJECTS} projects"
    ]
    assert n_plus_one[0].fix is not None
    assert "expire_on_commit=False" in n_plus_one[0].fix.code


def test_no_unit_nothing_recorded_and_the_query_is_untouched(engine: Engine) -> None:
    with Session(engine) as session:
        assert render_counts(session) == [2] * PROJECTS  # no unit: nothing recorded
    with Session(engine) as session, profile(config=QUIET) as unit:
        assert render_counts(session) == [2] * PROJECTS
    assert unit.query_count == 1 + PROJECTS  # its own queries only


def test_no_session_listener_is_installed(engine: Engine) -> None:
    """Labels come from the engine hook's execution context: no do_orm_execute listener, whose
    mere presence makes SQLAlchemy prepare every ORM execution twice."""
    instrument()
    try:
        assert not Session(engine).dispatch.do_orm_execute  # what SQLAlchemy checks
        with Session(engine) as session, profile(config=QUIET) as unit:
            render_counts(session)
        assert [e.relationship for e in unit.events][1:] == ["Project.renders"] * PROJECTS
    finally:
        uninstrument()


@pytest.fixture()
async def async_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlalchemy_url(pg_url, "asyncpg"))
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


async def async_render_counts(session: AsyncSession) -> list[int]:
    projects = (await session.scalars(select(Project).order_by(Project.id))).all()
    return [len(await project.awaitable_attrs.renders) for project in projects]


async def test_async_lazy_loads_through_awaitable_attrs(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session, profile(config=QUIET) as unit:
        assert await async_render_counts(session) == [2] * PROJECTS
    assert [e.relationship for e in unit.events] == [None] + ["Project.renders"] * PROJECTS
    [finding] = unit.findings
    assert finding.message.startswith(f"N+1: Project.renders lazy-loaded for {PROJECTS} projects")
    assert finding.function.startswith("async_render_counts")  # across the greenlet bridge


def test_labels_read_from_the_execution_context_alone(engine: Engine) -> None:
    """orm_label needs nothing but what the engine hook hands it (the execution context) to
    say which relationship or column a statement loads."""
    seen: list[str | None] = []

    def before(
        conn: object, cursor: object, statement: str, params: object, context: object, many: bool
    ) -> None:
        seen.append(sqlalchemy_orm.orm_label(context))

    event.listen(engine, "before_cursor_execute", before)
    try:
        with Session(engine) as session:
            projects = session.scalars(select(Project).where(Project.id <= 2)).all()
            for project in projects:
                _ = (project.renders, project.brief)
            session.scalars(select(Project).options(selectinload(Project.renders))).all()
            render = session.get(Render, 10)  # in the identity map already: no query
            session.expunge_all()
            assert render is not None
            session.add(render)
            _ = render.project
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert seen == [
        None,
        "Project.renders",
        "Project.brief (deferred)",
        "Project.renders",
        "Project.brief (deferred)",
        None,  # selectinload: the parents ...
        None,  # ... and the one batched load of their renders
        "Render.project (many-to-one)",
        None,  # Core
    ]
