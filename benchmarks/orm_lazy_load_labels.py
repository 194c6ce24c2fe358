"""What the ORM lazy-load labels cost (``dbaudit/runtime/capture/sqlalchemy_orm.py``), side by
side in one run, on sqlite in memory.

- ``session listener, no unit``: ``session.execute(select(M).where(M.id == i))`` with dbaudit's
  engine hook installed and no unit active, without and with a no-op Session
  ``do_orm_execute`` listener: what labelling through that event (the documented way to see
  ``lazy_loaded_from``) would cost every ORM execution of an instrumented application. This is
  why the labels are read from the engine's execution context instead.
- ``orm_label``: what the engine hook's labelling adds per statement inside a unit (outside one
  it is never called): ``orm_label(context)`` timed directly on the execution contexts of a lazy
  load, a plain ORM SELECT and a Core statement, captured from real executions.

The listener modes alternate pass by pass so a shared machine's load falls on both alike.
Figures are client CPU time (``time.process_time``), the minimum over passes.

Run: ``.venv/bin/python benchmarks/orm_lazy_load_labels.py [--queries 5000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import ForeignKey, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import dbaudit.runtime as rt
from dbaudit.runtime.capture.sqlalchemy_orm import orm_label


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


def captured_contexts(engine: Engine) -> dict[str, Any]:
    """Execution contexts of real statements: a lazy load, a plain ORM SELECT, Core."""
    contexts: list[Any] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        contexts.append(context)

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as session:
            parent = session.scalars(select(Parent).where(Parent.id == 1)).one()
            _ = parent.children
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    plain, lazy, core = contexts
    assert orm_label(lazy) == "Parent.children" and orm_label(plain) is None
    return {"lazy load": lazy, "plain ORM SELECT": plain, "Core": core}


def label_cost(context: Any, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            orm_label(context)
        best = min(best, (time.process_time() - started) / calls)
    return best


def no_op_listener(orm_state: Any) -> None:
    return None


def listener(on: bool) -> None:
    if on:
        event.listen(Session, "do_orm_execute", no_op_listener)
    elif event.contains(Session, "do_orm_execute", no_op_listener):
        event.remove(Session, "do_orm_execute", no_op_listener)


def side_by_side(
    run: Callable[[], float], switch: Callable[[bool], None], rounds: int
) -> tuple[float, float]:
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        switch(False)
        off.append(run())
        switch(True)
        on.append(run())
    switch(False)
    return min(off), min(on)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    engine = make_engine()
    off, on = side_by_side(lambda: selects(engine, args.queries), listener, args.rounds)
    print("session.execute, engine hook installed, no unit (CPU µs per statement):")
    print(f"  without a do_orm_execute listener {off * 1e6:8.1f}")
    print(f"  with a no-op listener             {on * 1e6:8.1f}   ratio {on / off:.3f}")
    print("orm_label(context), inside a unit only (CPU µs per call):")
    for name, context in captured_contexts(engine).items():
        print(f"  {name:32} {label_cost(context, 20_000, args.rounds) * 1e6:8.2f}")


if __name__ == "__main__":
    main()
