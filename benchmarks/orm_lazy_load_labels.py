"""What the ORM lazy-load labels cost (``dbaudit/runtime/capture/sqlalchemy_orm.py``), side by
side in one run, on sqlite in memory.

- ``select, no unit``: ``session.execute(select(M).where(M.id == i))`` with the engine hooks
  installed and no unit active, with and without the Session's ``do_orm_execute`` listener:
  the cost an application pays for having the labels installed while nothing is profiled.
- ``lazy loads, in a unit``: ``len(parent.children)`` for fresh parents (one lazy load each)
  inside a unit, with and without the listener: the cost of labelling a lazy load (the
  listener runs the statement through ``invoke_statement`` with the label set).

Modes alternate pass by pass so a shared machine's load falls on both alike. Figures are client
CPU time per statement (``time.process_time``), the minimum over passes, and the ratio.

Run: ``.venv/bin/python benchmarks/orm_lazy_load_labels.py [--queries 5000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sqlalchemy import ForeignKey, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import dbaudit.runtime as rt
from dbaudit.runtime.capture import sqlalchemy_orm


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list[Child]] = relationship()


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))


ROWS = 1000


def make_engine() -> Engine:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(Parent(id=i, children=[Child(id=i)]) for i in range(ROWS))
        session.commit()
    rt.instrument(engine)
    return engine


def selects(engine: Engine, queries: int) -> float:
    with Session(engine) as session:
        started = time.process_time()
        for i in range(queries):
            session.execute(select(Parent).where(Parent.id == i % ROWS)).scalar_one()
        return (time.process_time() - started) / queries


def lazy_loads(engine: Engine, queries: int) -> float:
    spent = 0.0
    done = 0
    while done < queries:
        batch = min(ROWS, queries - done)
        with Session(engine) as session:
            parents = session.scalars(select(Parent).where(Parent.id < batch)).all()
            with rt.profile("bench", config=rt.DetectConfig(max_events=ROWS + 1)):
                started = time.process_time()
                for parent in parents:
                    _ = len(parent.children)
                spent += time.process_time() - started
        done += batch
    return spent / queries


def side_by_side(run: Callable[[], float], rounds: int) -> tuple[float, float]:
    without: list[float] = []
    with_listener: list[float] = []
    for _ in range(rounds):
        sqlalchemy_orm.uninstall()
        without.append(run())
        sqlalchemy_orm.install()
        with_listener.append(run())
    return min(without), min(with_listener)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    engine = make_engine()
    print(f"{'workload':26} {'no listener':>12} {'listener':>12} {'ratio':>7}   (CPU µs/statement)")
    for name, run in (
        ("select, no unit", lambda: selects(engine, args.queries)),
        ("lazy loads, in a unit", lambda: lazy_loads(engine, args.queries)),
    ):
        bare, labelled = side_by_side(run, args.rounds)
        print(f"{name:26} {bare * 1e6:12.1f} {labelled * 1e6:12.1f} {labelled / bare:7.3f}")


if __name__ == "__main__":
    main()
