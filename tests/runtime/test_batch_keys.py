"""varying_parameters over real executions (SQLAlchemy, psycopg2, Django on PostgreSQL): the
loop's key is the one parameter that changes, and suggest_batch turns it, and it alone, into
the IN list; where the order of the values is not known, nothing is guessed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dbaudit.runtime import DetectConfig, instrument, profile
from dbaudit.runtime.batch_keys import varying_parameters
from dbaudit.runtime.capture.sqlalchemy import instrument_engine
from dbaudit.sql.batch import suggest_batch

QUIET = DetectConfig(slow_query_ms=60_000)
TABLE = f"bk_render_{uuid.uuid4().hex[:8]}"


class Base(DeclarativeBase):
    pass


class Render(Base):
    __tablename__ = TABLE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))


@pytest.fixture()
def session(pg_url: str) -> Iterator[Session]:
    engine = create_engine(pg_url)
    Base.metadata.create_all(engine)
    instrument_engine(engine)
    with Session(engine) as opened:
        opened.add_all(
            Render(id=i, tenant_id=i % 2, project_id=i % 3, status="done") for i in range(12)
        )
        opened.commit()
        yield opened
    Base.metadata.drop_all(engine)
    engine.dispose()


def renders_per_project(session: Session, tenant_id: int, projects: list[int]) -> int:
    found = 0
    for project_id in projects:
        found += len(
            session.scalars(
                select(Render).where(
                    Render.tenant_id == tenant_id,
                    Render.project_id == project_id,
                    Render.status == "done",
                )
            ).all()
        )
    return found


def test_sqlalchemy_loop_batches_on_the_project_and_keeps_tenant_and_status(
    session: Session,
) -> None:
    with profile("loop", config=QUIET) as unit:
        renders_per_project(session, 1, [0, 1, 2])
    events = [e for e in unit.events if TABLE in e.fingerprint.text]
    assert len(events) == 3
    varying = varying_parameters(events)
    assert varying == frozenset({1})  # tenant_id (0) and the literal 'done' (2) stay
    text = events[0].fingerprint.text
    assert suggest_batch(text) == ""  # three equalities: no key without the values
    assert suggest_batch(text, varying) == (
        f"SELECT {TABLE}.id, {TABLE}.tenant_id, {TABLE}.project_id, {TABLE}.status "
        f"FROM {TABLE} WHERE {TABLE}.tenant_id = CAST(? AS INT) AND {TABLE}.project_id IN (?) "
        f"AND {TABLE}.status = CAST(? AS VARCHAR)"
    )  # as psycopg 3 renders it: the key's CAST goes, one ? stands for the list


def test_the_n_plus_one_finding_batches_on_the_key_that_varied(session: Session) -> None:
    with profile("finding", config=QUIET) as unit:
        renders_per_project(session, 1, [0, 1, 2])
    (finding,) = [f for f in unit.findings if f.rule == "DBA101"]
    assert finding.fix.code == (
        f"SELECT {TABLE}.id, {TABLE}.tenant_id, {TABLE}.project_id, {TABLE}.status "
        f"FROM {TABLE} WHERE {TABLE}.tenant_id = CAST(? AS INT) AND {TABLE}.project_id IN (?) "
        f"AND {TABLE}.status = CAST(? AS VARCHAR)"
    )


def test_sqlalchemy_same_parameters_every_time_has_no_key(session: Session) -> None:
    with profile("same", config=QUIET) as unit:
        renders_per_project(session, 1, [2, 2, 2])
    events = [e for e in unit.events if TABLE in e.fingerprint.text]
    varying = varying_parameters(events)
    assert varying == frozenset()
    assert suggest_batch(events[0].fingerprint.text, varying) == ""


def test_sqlalchemy_two_varying_keys_get_no_single_key(session: Session) -> None:
    with profile("pairs", config=QUIET) as unit:
        for tenant_id, project_id in [(0, 0), (1, 1), (0, 2)]:
            renders_per_project(session, tenant_id, [project_id])
    events = [e for e in unit.events if TABLE in e.fingerprint.text]
    varying = varying_parameters(events)
    assert varying == frozenset({0, 1})
    assert suggest_batch(events[0].fingerprint.text, varying) == ""


@pytest.fixture()
def pg2(pg_url: str) -> Iterator[Any]:
    raw = psycopg2.connect(pg_url)
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE}_pg2 (id INT, tenant_id INT, project_id INT)")
    raw.commit()
    yield instrument(raw)
    raw.rollback()
    with raw.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}_pg2")
    raw.commit()
    raw.close()


def test_psycopg2_tuple_parameters_kept_give_the_key(pg2: Any) -> None:
    sql = f"SELECT id FROM {TABLE}_pg2 WHERE tenant_id = %s AND project_id = %s LIMIT 5"
    with profile("pg2", config=QUIET, keep_params=True) as unit:
        for project_id in range(3):
            pg2.cursor().execute(sql, (7, project_id))
    varying = varying_parameters(unit.events)
    assert varying == frozenset({1})  # LIMIT 5 is the third value and stays the same
    assert suggest_batch(unit.events[0].fingerprint.text, varying) == (
        f"SELECT id FROM {TABLE}_pg2 WHERE tenant_id = ? AND project_id IN (?) LIMIT ?"
        " -- per key: ROW_NUMBER() OVER (PARTITION BY project_id) <= the limit"
    )


def test_psycopg2_mapping_or_unkept_parameters_are_never_guessed(pg2: Any) -> None:
    # the dict's order is the caller's, not the text's: project first, tenant second
    named = f"SELECT id FROM {TABLE}_pg2 WHERE tenant_id = %(t)s AND project_id = %(p)s"
    with profile("named", config=QUIET, keep_params=True) as unit:
        for project_id in range(3):
            pg2.cursor().execute(named, {"p": project_id, "t": 7})
    assert varying_parameters(unit.events) is None
    plain = f"SELECT id FROM {TABLE}_pg2 WHERE tenant_id = %s AND project_id = %s"
    with profile("unkept", config=QUIET) as unit:
        for project_id in range(3):
            pg2.cursor().execute(plain, (7, project_id))
    assert varying_parameters(unit.events) is None


def test_a_collapsed_in_list_or_a_single_event_is_unknown(pg2: Any) -> None:
    sql = f"SELECT id FROM {TABLE}_pg2 WHERE tenant_id = %s AND id IN (%s, %s)"
    with profile("lists", config=QUIET, keep_params=True) as unit:
        for project_id in range(3):
            pg2.cursor().execute(sql, (7, project_id, project_id + 1))
    assert varying_parameters(unit.events) is None
    assert varying_parameters(unit.events[:1]) is None


def test_django_parenthesised_where_with_list_parameters(django_databases: None) -> None:
    pytest.importorskip("django")
    from django.db import connections

    from dbaudit.runtime.capture.django import instrument_all

    instrument_all()
    connection = connections["pg"]
    table = f"{TABLE}_dj"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{table}" ("id" INT, "tenant_id" INT, "project_id" INT)')
    # the shape Django's compiler writes: quoted names, the WHERE in parentheses, %s lists
    sql = (
        f'SELECT "{table}"."id" FROM "{table}" WHERE ("{table}"."project_id" = %s '
        f'AND "{table}"."tenant_id" = %s) ORDER BY "{table}"."id" ASC'
    )
    try:
        with profile("django", config=QUIET) as unit:
            for project_id in range(3):
                with connection.cursor() as cursor:
                    cursor.execute(sql, [project_id, 4])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE "{table}"')
    events = [e for e in unit.events if table in e.fingerprint.text]
    varying = varying_parameters(events)
    assert varying == frozenset({0})
    assert suggest_batch(events[0].fingerprint.text, varying) == (
        f'SELECT "{table}"."id" FROM "{table}" WHERE ("{table}"."project_id" IN (?) '
        f'AND "{table}"."tenant_id" = ?) ORDER BY "{table}"."id" ASC'
    )
