"""The static audit's DB operations written as a parameterized workload in the database's names."""

from __future__ import annotations

import pytest

from dbaudit.analysis import Program
from dbaudit.frontends.python.parser import parse_module
from dbaudit.indexes.static_workload import (
    LOOP_WEIGHT,
    ProgramFacts,
    StaticWorkload,
    build,
    collect,
    model_names,
)
from dbaudit.schema.ddl import load_ddl
from dbaudit.schema.django_models import load_django_names

DDL = """
CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE TABLE projects (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id),
                       updated_at timestamptz, name text);
CREATE TABLE renders (id bigint PRIMARY KEY, project_id bigint REFERENCES projects (id),
                      status text, created_at timestamptz, chain_id bigint);
"""

MODELS = """\
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Render(Base):
    __tablename__ = "renders"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    status: Mapped[str] = mapped_column()
"""

DAL = """\
from sqlalchemy import func, select

from app.models import Project, Render


async def recent(session, project_id):
    stmt = (
        select(Render)
        .where(Render.project_id == project_id, Render.status == "done")
        .order_by(Render.created_at.desc(), Render.id)
        .limit(10)
    )
    return (await session.scalars(stmt)).all()


async def count_for(session, project_id):
    return await session.scalar(
        select(func.count()).select_from(Render).where(Render.project_id == project_id)
    )


async def for_user(session, user_id):
    stmt = select(Render).join(Project).where(Project.user_id == user_id)
    return (await session.scalars(stmt)).all()


async def raw(conn, ids):
    return await conn.fetch("SELECT id FROM renders WHERE chain_id = ANY($1) AND status = 'x'")
"""

SERVICE = """\
from app.dal import count_for, recent


async def overview(session, projects):
    result = []
    for project in projects:
        result.append(await recent(session, project.id))
        for _ in project.chains:
            result.append(await count_for(session, project.id))
    return result
"""


def _facts(files: dict[str, str]) -> ProgramFacts:
    modules = [parse_module(path, text) for path, text in files.items()]
    return collect(Program(sorted(modules, key=lambda m: m.path)))


def _workload(files: dict[str, str], ddl: str = DDL) -> StaticWorkload:
    return build(_facts(files), load_ddl(ddl))


def _by_function(workload: StaticWorkload) -> dict[str, tuple[str, float]]:
    return {q.label.split(" ")[0]: (q.sql, q.calls) for q in workload.queries}


def test_operations_become_parameterized_statements_with_their_labels() -> None:
    workload = _workload({"app/models.py": MODELS, "app/dal.py": DAL})
    statements = _by_function(workload)
    assert statements["recent"][0] == (
        "SELECT * FROM renders WHERE project_id = $1 AND status = $2 "
        "ORDER BY created_at DESC, id LIMIT 20"
    )
    assert statements["count_for"][0] == "SELECT count(*) FROM renders WHERE project_id = $1"
    assert statements["for_user"][0] == (
        "SELECT renders.* FROM renders JOIN projects ON renders.project_id = projects.id "
        "WHERE projects.user_id = $1"
    )
    # SQL written in the code keeps its shape, with its literals as parameters
    assert statements["raw"][0] == (
        "SELECT id FROM renders WHERE chain_id = ANY($1) AND status = $2"
    )
    labels = {q.label for q in workload.queries}
    assert "recent (app/dal.py:13)" in labels  # the line of the call that runs it
    assert all(q.source == "static" for q in workload.queries)
    assert "done" not in " ".join(q.sql for q in workload.queries)  # values never kept


def test_a_statement_run_in_a_callers_loop_weighs_more() -> None:
    workload = _workload({"app/models.py": MODELS, "app/dal.py": DAL, "app/svc.py": SERVICE})
    statements = _by_function(workload)
    assert statements["recent"][1] == LOOP_WEIGHT  # once per project
    assert statements["count_for"][1] == LOOP_WEIGHT**2  # once per chain of each project
    assert statements["for_user"][1] == 1.0  # called from nowhere in the tree


def test_columns_used_say_who_filters_or_joins_on_what() -> None:
    workload = _workload({"app/models.py": MODELS, "app/dal.py": DAL})
    uses = {(u.table, u.column, u.label.split(" ")[0]) for u in workload.uses}
    assert ("renders", "project_id", "recent") in uses
    assert ("renders", "project_id", "for_user") in uses  # the join
    assert ("projects", "user_id", "for_user") in uses


def test_what_cannot_be_written_is_skipped_with_its_reason() -> None:
    source = """\
from sqlalchemy import select, text, update

from app.models import Legacy, Render


async def legacy(session):
    return await session.scalars(select(Legacy).where(Legacy.code == 1))


async def gone(session):
    return await session.scalars(select(Render).where(Render.archived_at == None))


async def built(session, table):
    return await session.execute(text(f"SELECT * FROM {table}"))


async def touch(session, render_id):
    await session.execute(update(Render).where(Render.id == render_id))
"""
    models = MODELS + (
        "\n\nclass Legacy(Base):\n    __tablename__ = 'legacy_items'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    workload = _workload({"app/models.py": models, "app/dal.py": source})
    reasons = {s.label.split(" ")[0]: s.reason for s in workload.skipped}
    assert reasons["legacy"] == "table legacy_items is not in the database"
    assert reasons["gone"] == "column renders.archived_at is not in the database"
    assert reasons["touch"] == "the columns it sets are not known statically"
    assert "built" in reasons
    assert workload.queries == ()
    problems = workload.problems()
    assert problems[0].startswith(
        "static workload: 1 operation(s) left out, table legacy_items is not in the database: "
        "legacy (app/dal.py:7)"
    )
    assert len(problems) == len(set(reasons.values()))


def test_test_code_is_not_part_of_the_workload() -> None:
    facts = _facts({"app/models.py": MODELS, "tests/test_dal.py": DAL})
    assert facts.operations == ()
    assert facts.model_files == (("sqlalchemy", "app/models.py"),)


def test_django_names_map_to_db_table_and_db_column() -> None:
    models = """\
from django.db import models


class Project(models.Model):
    owner = models.ForeignKey("auth.User", on_delete=models.CASCADE)
    title = models.CharField(max_length=80, db_column="project_title")
    created = models.DateTimeField()

    class Meta:
        db_table = "app_projects"
"""
    views = """\
from app.models import Project


def mine(user):
    return list(
        Project.objects.filter(owner=user, title__icontains="x", created__gte=1)
        .order_by("-created")
    )


def one(pk):
    return Project.objects.get(pk=pk)
"""
    ddl = (
        "CREATE TABLE app_projects (id bigint PRIMARY KEY, owner_id bigint, "
        "project_title text, created timestamptz);"
    )
    facts = _facts({"app/models.py": models, "app/views.py": views})
    names = model_names(facts.models, load_django_names(("app/models.py", models)))
    workload = build(facts, load_ddl(ddl), names)
    statements = _by_function(workload)
    assert statements["mine"][0] == (
        "SELECT * FROM app_projects WHERE owner_id = $1 AND project_title ILIKE $2 "
        "AND created >= $3 ORDER BY created DESC"
    )
    assert statements["one"][0] == "SELECT * FROM app_projects WHERE id = $1 LIMIT 20"
    # without the Django loader's names, the model's default name is not the database's
    plain = build(facts, load_ddl(ddl))
    assert {s.reason for s in plain.skipped} == {"table project is not in the database"}


def test_same_statement_from_two_places_adds_up() -> None:
    source = DAL + (
        "\n\nasync def recent_again(session, project_id):\n"
        "    stmt = select(Render).where(Render.project_id == project_id, "
        'Render.status == "x").order_by(Render.created_at.desc(), Render.id).limit(5)\n'
        "    return (await session.scalars(stmt)).all()\n"
    )
    workload = _workload({"app/models.py": MODELS, "app/dal.py": source})
    [merged] = [q for q in workload.queries if "ORDER BY created_at DESC" in q.sql]
    assert merged.calls == 2.0
    assert merged.label.startswith("recent (")  # the first place keeps the label


def test_drizzle_properties_map_to_their_snake_case_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from dbaudit.audit import AuditOptions, scan

    # TypeScript imports resolve from the working directory
    monkeypatch.chdir(Path(__file__).parents[1] / "fixtures")
    options = AuditOptions(use_cache=False, use_project_config=False)
    facts = scan(["ts_render_platform/naive"], options).facts
    ddl = DDL + "CREATE TABLE render_chains (id bigint PRIMARY KEY, project_id bigint, "
    ddl += "created_at timestamptz);"
    ddl = ddl.replace("status text,", "status text, user_id bigint, chain_position int,")
    statements = _by_function(build(facts, load_ddl(ddl)))
    assert statements["ChainsDAL.listForProject"] == (
        "SELECT * FROM render_chains WHERE project_id = $1 ORDER BY created_at, id",
        LOOP_WEIGHT,
    )
    assert statements["RendersDAL.getByChainId"][0] == (
        "SELECT * FROM renders WHERE chain_id = $1 ORDER BY chain_position, id"
    )
