"""Shapes seen in a real FastAPI application's test suite (fastapi/full-stack-fastapi-template's
backend, SQLModel on PostgreSQL, under ``pytest --dbaudit``), replayed with SQLAlchemy's ORM.

``test_read_item``: the test creates an item in its own session (``crud.create_item``: add,
commit, ``session.refresh(item)``, a SELECT by primary key), then asks the app for it through
``TestClient``, whose request runs in the client's thread (a copy of the test's context) with a
session of its own (``session.get(Item, id)``: the same SELECT, the same parameters). Neither
read is redundant (no code could pass one's result to the other): not a DBA301 duplicate. The
same statement twice in one thread still is.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, ForeignKey, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dbaudit.db import sqlalchemy_url
from dbaudit.runtime import instrument, profile


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "shape_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100))


class Item(Base):
    __tablename__ = "shape_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(ForeignKey("shape_user.id"))


@pytest.fixture()
def engine(fresh_pg_url: str) -> Iterator[Engine]:
    engine = instrument(create_engine(sqlalchemy_url(fresh_pg_url, "psycopg")))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(User(id=1, email="a@example.com"))
        session.commit()
    yield engine
    engine.dispose()


def create_item(engine: Engine) -> int:
    """crud.create_item, called by the test to arrange its data."""
    with Session(engine) as session:
        item = Item(title="t", owner_id=1)
        session.add(item)
        session.commit()
        session.refresh(item)  # SELECT ... WHERE shape_item.id = ?
        return item.id


def read_item(engine: Engine, item_id: int) -> str:
    """The endpoint: ``session.get(Item, id)`` in the request's own session."""
    with Session(engine) as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item.title


def update_item(engine: Engine, item_id: int) -> None:
    """The update endpoint: get, change, commit, refresh."""
    with Session(engine) as session:
        item = session.get(Item, item_id)
        assert item is not None
        item.title = "new"
        session.commit()
        session.refresh(item)


def in_client_thread(work: Callable[[], object]) -> None:
    """Run ``work`` as ``TestClient`` runs the app: in another thread, in a copy of the
    caller's context (so the test's unit sees its statements)."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(work,))
    thread.start()
    thread.join()


def test_the_tests_read_and_the_requests_read_of_one_row_are_no_duplicate(engine: Engine) -> None:
    with profile() as unit:
        item_id = create_item(engine)
        in_client_thread(lambda: read_item(engine, item_id))
    assert [e.fingerprint.kind for e in unit.events] == ["insert", "select", "select"]
    assert [f.rule for f in unit.findings] == []


def test_update_endpoint_after_the_tests_arrangement_has_no_duplicate(engine: Engine) -> None:
    # test_update_item: refresh (test), get + UPDATE + refresh (app): no two reads of one thread
    # without a write between them
    with profile() as unit:
        item_id = create_item(engine)
        in_client_thread(lambda: update_item(engine, item_id))
    assert [f.rule for f in unit.findings] == []


def test_the_same_read_twice_in_one_thread_is_still_a_duplicate(engine: Engine) -> None:
    item_id = create_item(engine)
    with profile() as unit:
        in_client_thread(lambda: (read_item(engine, item_id), read_item(engine, item_id)))
    assert [f.rule for f in unit.findings] == ["DBA301"]
    with profile() as unit:
        read_item(engine, item_id)
        read_item(engine, item_id)
    assert [f.rule for f in unit.findings] == ["DBA301"]
