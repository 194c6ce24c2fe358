"""Runtime profiler overhead, side by side in one run (issue 5, "Performance").

Per-query overhead in microseconds, on:

- ``sqlite-orm``: ``session.execute(select(M).where(M.id == i))`` on sqlite in-memory (20,000 per
  pass by default), also under pytest-queryguard and queryspy (same workload, same run);
- ``sqlite-dbapi``: plain ``sqlite3`` ``execute(...).fetchone()``;
- ``pg-orm-asyncpg``: the ORM workload on PostgreSQL over loopback, SQLAlchemy + asyncpg, also
  under the two other tools;
- ``pg-psycopg``: plain psycopg 3 on PostgreSQL;
- ``reference``: every read operation of the reference app (naive and optimized, SQLAlchemy's
  asyncio layer + asyncpg), per pass, also under the two other tools (their recording block
  around each operation, as dbaudit's unit; they listen to the ``Engine`` class, so the app's
  own engines).

Modes: ``bare`` (no hooks), ``off`` (dbaudit's hooks installed, no unit active) and ``on`` (a
unit per 100 queries, as a test or a request would be, detection included). Every (workload,
tool) pair runs in a subprocess of its own, so no tool's global listeners touch another's
figures, and *inside* it the modes alternate pass by pass (forwards one round, backwards the
next), so that the load of a shared machine falls on all of them alike. dbaudit's hooks come
off between passes (``uninstrument`` puts the dialect's methods back; the raw connection), so
its ``bare`` is truly bare. The other two tools listen to SQLAlchemy's events and cannot be
uninstalled once loaded: their ``bare`` is "installed, not recording" (in their favour: an
engine that ever had a listener pays SQLAlchemy's event dispatch, 2-5 us per ORM query, in
every mode).

Every tool must have seen what ran: the warm-up round's recording pass counts the statements
each unit recorded, and the child fails unless the count is exactly what the pass ran (its
queries; the reference operations' declared round trips), so no ratio is ever taken against a
tool that silently saw nothing. The count is printed to stderr and under each workload.

The figures: client CPU time per query (``time.process_time``: what the profiler adds, and
barely moved by other processes competing for the machine), the **median** over passes, with
the min and the interquartile range (IQR, as a percentage of the median) beside it; and wall
time, median over passes. The median, not the min: on this shared 2-core machine single passes
are off in both directions (a pass 40% slow when a neighbour wakes up; a pass 12% below every
other pass of its mode, whose min then says a mode is cheaper than it is), and the min of a
mode is exactly one such pass, while the median needs half of them to move. Hence more
rounds for the short ``reference`` passes: 32 by default (a pass runs the operations twice,
about 140 ms of CPU, and its figure is per run), where the others take 8 passes of 2 s.

The run ends with issue 5's targets, each with its verdict, judged on the medians. Each
difference comes with its noise: twice the standard error of the difference of two medians,
each median's estimated from its passes' IQR (for a normal spread, sigma = IQR / 1.349 and the
median's standard error is 1.2533 sigma / sqrt(passes)). "Nothing measurable" (hooks
installed, no unit active) is one-sided: ``off`` may be at most 1% or that noise, whichever
is larger, above ``bare``.

The other tools are pytest plugins that switch themselves on in every pytest run of the
environment they are installed in, so they are not project dependencies and must not live in a
shared venv. Install them into a directory of their own and point ``--competitors`` at it::

    pip install --no-deps --target /work/bench-competitors pytest-queryguard==0.4.1 queryspy==0.6.0
    .venv/bin/python benchmarks/runtime_overhead.py --competitors /work/bench-competitors

Run: ``.venv/bin/python benchmarks/runtime_overhead.py [--queries 20000] [--rounds N]`` (N: 8,
and 32 for ``reference``, by default). ``--breakdown WORKLOAD [--functions N]`` counts bytecodes
instead of timing (see ``Bytecodes``), and lists the N functions that add the most.
``--ablate`` times the reference workload with parts of the profiler switched off instead.
``--instructions`` counts the same modes' machine instructions under valgrind's callgrind
instead: a figure that does not move with the machine's load and, unlike ``--breakdown``'s
bytecodes, includes what C does for the profiler (frame objects built, memory, garbage
collection); it is no time (a cache miss counts nothing), and takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

UNIT_SIZE = 100  # queries per profiled unit: a test or a request, detection included
ROWS = 1000
COMPETITORS = {"queryguard": "pytest-queryguard 0.4.1", "queryspy": "queryspy 0.6.0"}
# issue 5's targets, printed with a verdict at the end of a run
ORM_TARGET_US = 10.0
REFERENCE_TARGET_PERCENT = 3.0
OFF_NOISE_PERCENT = 1.0  # "nothing measurable": at most this, or the run's own noise if larger
DEFAULT_COMPETITORS_DIR = "/work/bench-competitors"
DEFAULT_ROUNDS = 8  # passes per mode: a sqlite pass is 20,000 queries, ~2 s
REFERENCE_ROUNDS = 32  # a reference pass is ~70 ms of CPU: many passes, a steadier median
REFERENCE_PASS_QUERIES = 2000  # --queries per reference pass (the operations, once each)
BREAKDOWN_QUERIES = {"sqlite-orm": 2000, "pg-orm-asyncpg": 1000, "reference": 2000}

WORKLOADS: dict[str, tuple[str, ...]] = {
    "sqlite-orm": ("dbaudit", "queryguard", "queryspy"),
    "sqlite-dbapi": ("dbaudit",),
    "pg-orm-asyncpg": ("dbaudit", "queryguard", "queryspy"),
    "pg-psycopg": ("dbaudit",),
    "reference": ("dbaudit", "queryguard", "queryspy"),
}

Timing = tuple[float, float]  # (wall seconds, CPU seconds of this process) per query
Block = Callable[[], contextlib.AbstractContextManager[Any]]
# a child's result: the passes' timings per mode, and the statements the tool recorded in its
# counted pass
Measured = tuple[dict[str, list[Timing]], int]


class Clock:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def per(self, n: int) -> Timing:
        return ((time.perf_counter() - self.wall) / n, (time.process_time() - self.cpu) / n)


# --------------------------------------------------------------------------- the child side


def recording_block(tool: str) -> Block:
    """One "unit" (test, request) of the tool being measured, detection included. It yields
    the tool's record of the unit (read by ``counting_block`` once the unit is over)."""
    if tool == "dbaudit":
        from dbaudit.runtime import profile

        @contextlib.contextmanager
        def unit() -> Iterator[Any]:
            with profile("bench") as opened:
                yield opened
            _ = opened.findings

        return unit
    if tool == "queryguard":
        record_queries = importlib.import_module("pytest_queryguard").record_queries

        @contextlib.contextmanager
        def guarded() -> Iterator[Any]:
            with record_queries() as log:
                yield log
            with contextlib.suppress(AssertionError):
                log.assert_no_nplusone()

        return guarded
    if tool == "queryspy":
        record = importlib.import_module("queryspy").record

        @contextlib.contextmanager
        def spied() -> Iterator[Any]:
            with record() as recorder:
                yield recorder
            _ = recorder.findings()

        return spied
    raise ValueError(tool)


# how many statements a tool recorded in one unit, read once the unit is closed
RECORDED: dict[str, Callable[[Any], int]] = {
    "dbaudit": lambda unit: int(unit.query_count),
    "queryguard": lambda log: int(log.count),
    "queryspy": lambda recorder: int(recorder.query_count),  # statements at the cursor
}


def counting_block(tool: str, block: Block, seen: list[int]) -> Block:
    """``block``, and the statements the tool recorded in each unit appended to ``seen``. Used
    in the warm-up round only, so the measured passes pay nothing for it."""
    recorded = RECORDED[tool]

    @contextlib.contextmanager
    def counting() -> Iterator[None]:
        with block() as record:
            yield
        seen.append(recorded(record))

    return counting


def check_seen(tool: str, seen: list[int], expected: int) -> None:
    """The tool recorded exactly the statements its counted pass ran (``expected``), or the
    child fails: a ratio against a tool that saw nothing, or half, would flatter it."""
    total = sum(seen)
    print(
        f"{tool} recorded {total} statements in the {len(seen)} units of its counted pass "
        f"(it ran {expected})",
        file=sys.stderr,
    )
    if total != expected:
        raise SystemExit(
            f"{tool} recorded {total} of the {expected} statements of its counted pass: "
            "not measured (its figures would be those of a tool doing less)"
        )


def modes_for(tool: str) -> tuple[str, ...]:
    return ("bare", "off", "on") if tool == "dbaudit" else ("bare", "on")


def orm_models() -> Any:
    from sqlalchemy import Column, Integer, String
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class Item(Base):  # Column style: annotations would not resolve in a function scope
        __tablename__ = "bench_items"
        id = Column(Integer, primary_key=True)
        name = Column(String(40))

    return Base, Item


class Bytecodes:
    """Bytecodes executed per function, ``bare`` vs ``on`` (``--breakdown``): where the added
    time goes, deterministically (a clock on a shared machine is not). A trace function sees
    every bytecode (``f_trace_opcodes``); the run is ~50x slower, the counts exact."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[CodeType]] = {"bare": Counter(), "on": Counter()}
        self.cpu: dict[str, float] = {}  # untraced CPU seconds per pass, min of three

    @contextlib.contextmanager
    def tracing(self, mode: str, warm_up: bool = False) -> Iterator[None]:
        """Count the bytecodes run inside. ``warm_up``: a first traced pass, not counted (the
        benchmark's own frames are in the call-site chains: a pass called from another line
        makes new chains once)."""
        counts: Counter[CodeType] = Counter() if warm_up else self.counts[mode]

        def local(frame: FrameType, event: str, arg: object) -> Any:
            if event == "opcode":
                counts[frame.f_code] += 1
            return local

        def start(frame: FrameType, event: str, arg: object) -> Any:
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return local

        sys.settrace(start)
        try:
            yield
        finally:
            sys.settrace(None)


BYTECODES: Bytecodes | None = None  # set in a child run with --breakdown


def alternate(
    tool: str,
    rounds: int,
    one_pass: Callable[[str, Block], Timing],
    switch: Callable[[str], None],
    expected: int,
) -> Measured:
    """Run the modes one pass each, ``rounds`` times, after one warm-up round (whose recording
    pass counts what the tool recorded: ``expected`` statements, or the child fails)."""
    block = recording_block(tool)
    seen: list[int] = []
    counting = counting_block(tool, block, seen)
    if BYTECODES is not None:
        for mode in ("bare", "on"):
            switch(mode)
            chosen = block if mode == "on" else contextlib.nullcontext
            BYTECODES.cpu[mode] = min(one_pass(mode, chosen)[1] for _ in range(3))
            for counted in (False, True):  # one line: the same call-site chains in both
                with BYTECODES.tracing(mode, warm_up=not counted):
                    one_pass(mode, counting if mode == "on" and not counted else chosen)
        check_seen(tool, seen, expected)
        return {}, sum(seen)
    timings: dict[str, list[Timing]] = {mode: [] for mode in modes_for(tool)}
    for round_index in range(rounds + 1):
        for mode in round_order(tool, round_index):
            switch(mode)
            timing = one_pass(mode, block_for(mode, round_index, block, counting))
            if round_index:  # round 0 warms caches: statements, fingerprints, call sites
                timings[mode].append(timing)
    check_seen(tool, seen, expected)
    return timings, sum(seen)


def block_for(mode: str, round_index: int, block: Block, counting: Block) -> Block:
    """What a pass wraps each unit in: nothing unless ``on``; counting in the warm-up round."""
    if mode != "on":
        return contextlib.nullcontext
    return block if round_index else counting


def round_order(tool: str, round_index: int) -> tuple[str, ...]:
    """The modes in one round: forwards, then backwards the next round, so that no mode always
    follows the same one (a pass after a recording one inherits its garbage, its caches)."""
    modes = modes_for(tool)
    return modes if round_index % 2 else modes[::-1]


async def alternate_async(
    tool: str,
    rounds: int,
    one_pass: Callable[[str, Block], Awaitable[Timing]],
    switch: Callable[[str], None],
    expected: int,
) -> Measured:
    block = recording_block(tool)
    seen: list[int] = []
    counting = counting_block(tool, block, seen)
    if BYTECODES is not None:
        for mode in ("bare", "on"):
            switch(mode)
            chosen = block if mode == "on" else contextlib.nullcontext
            BYTECODES.cpu[mode] = min([(await one_pass(mode, chosen))[1] for _ in range(3)])
            for counted in (False, True):
                with BYTECODES.tracing(mode, warm_up=not counted):
                    await one_pass(mode, counting if mode == "on" and not counted else chosen)
        check_seen(tool, seen, expected)
        return {}, sum(seen)
    timings: dict[str, list[Timing]] = {mode: [] for mode in modes_for(tool)}
    for round_index in range(rounds + 1):
        for mode in round_order(tool, round_index):
            switch(mode)
            timing = await one_pass(mode, block_for(mode, round_index, block, counting))
            if round_index:
                timings[mode].append(timing)
    check_seen(tool, seen, expected)
    return timings, sum(seen)


def engine_switch(tool: str, engine: Any) -> Callable[[str], None]:
    from dbaudit.runtime import instrument, uninstrument

    def switch(mode: str) -> None:
        if tool != "dbaudit":
            return
        if mode == "bare":
            uninstrument(engine)
        else:
            instrument(engine)

    return switch


def run_sqlite_orm(tool: str, queries: int, rounds: int) -> Measured:
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    base, item = orm_models()
    engine = create_engine("sqlite://")
    base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(item), [{"id": i, "name": f"item {i}"} for i in range(ROWS)])
    with Session(engine) as session:

        def one_pass(mode: str, block: Block) -> Timing:
            clock = Clock()
            for first in range(0, queries, UNIT_SIZE):
                with block():
                    for i in range(first, min(first + UNIT_SIZE, queries)):
                        session.execute(select(item).where(item.id == i % ROWS)).scalar_one()
                session.expunge_all()
            return clock.per(queries)

        return alternate(tool, rounds, one_pass, engine_switch(tool, engine), queries)


def run_sqlite_dbapi(tool: str, queries: int, rounds: int) -> Measured:
    import sqlite3

    from dbaudit.runtime import instrument

    raw = sqlite3.connect(":memory:")
    raw.execute("CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT)")
    raw.executemany("INSERT INTO bench_items VALUES (?, ?)", [(i, f"n{i}") for i in range(ROWS)])
    profiled = instrument(raw)

    def one_pass(mode: str, block: Block) -> Timing:
        connection: Any = raw if mode == "bare" else profiled
        clock = Clock()
        for first in range(0, queries, UNIT_SIZE):
            with block():
                for i in range(first, min(first + UNIT_SIZE, queries)):
                    connection.execute(
                        "SELECT * FROM bench_items WHERE id = ?", (i % ROWS,)
                    ).fetchone()
        return clock.per(queries)

    return alternate(tool, rounds, one_pass, lambda mode: None, queries)


def run_pg_orm(tool: str, queries: int, rounds: int, url: str) -> Measured:
    from sqlalchemy import insert, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from dbaudit.db import sqlalchemy_url

    base, item = orm_models()

    async def main() -> Measured:
        engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
        async with engine.begin() as conn:
            await conn.run_sync(base.metadata.drop_all)
            await conn.run_sync(base.metadata.create_all)
            await conn.execute(insert(item), [{"id": i, "name": f"item {i}"} for i in range(ROWS)])
        try:
            async with AsyncSession(engine) as session:

                async def one_pass(mode: str, block: Block) -> Timing:
                    clock = Clock()
                    for first in range(0, queries, UNIT_SIZE):
                        with block():
                            for i in range(first, min(first + UNIT_SIZE, queries)):
                                statement = select(item).where(item.id == i % ROWS)
                                (await session.execute(statement)).scalar_one()
                        session.expunge_all()
                    return clock.per(queries)

                switch = engine_switch(tool, engine)
                return await alternate_async(tool, rounds, one_pass, switch, queries)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def run_pg_psycopg(tool: str, queries: int, rounds: int, url: str) -> Measured:
    import psycopg

    from dbaudit.runtime import instrument

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_raw")
        connection.execute("CREATE TABLE bench_raw (id int PRIMARY KEY, name text)")
        with connection.cursor() as cursor:
            rows = [(i, f"item {i}") for i in range(ROWS)]
            cursor.executemany("INSERT INTO bench_raw VALUES (%s, %s)", rows)
        plain_factory = connection.cursor_factory
        instrument(connection)
        profiled_factory = connection.cursor_factory

        def switch(mode: str) -> None:
            connection.cursor_factory = plain_factory if mode == "bare" else profiled_factory

        def one_pass(mode: str, block: Block) -> Timing:
            clock = Clock()
            for first in range(0, queries, UNIT_SIZE):
                with block():
                    for i in range(first, min(first + UNIT_SIZE, queries)):
                        connection.execute(
                            "SELECT * FROM bench_raw WHERE id = %s", (i % ROWS,)
                        ).fetchone()
            return clock.per(queries)

        return alternate(tool, rounds, one_pass, switch, queries)


def run_reference(tool: str, queries: int, rounds: int, url: str) -> Measured:
    """Timing per pass (not per query) over every read operation, naive and optimized, each
    operation one unit. Writes are left out: they need a restore between passes."""
    dataset = load_reference_dataset(url)

    async def main() -> Measured:
        async with ReferenceApp.opened(url, dataset) as app:
            passes = reference_passes(queries)
            switches = [engine_switch(tool, engine) for engine in app.engines]

            def switch(mode: str) -> None:
                for each in switches:
                    each(mode)

            async def one_pass(mode: str, block: Block) -> Timing:
                clock = Clock()
                for _ in range(passes):
                    await app.run_once(block)
                return clock.per(passes)

            return await alternate_async(
                tool, rounds, one_pass, switch, passes * app.statements_per_run
            )

    return asyncio.run(main())


@dataclass
class ReferenceApp:
    """The reference app's read operations on both variants, each operation one unit (a test
    or a request): what ``run_reference`` times tool by tool and ``--ablate`` part by part."""

    engines: list[Any]
    platforms: list[Any]
    reads: list[Any]
    dataset: Any

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, url: str, dataset: Any) -> AsyncIterator[ReferenceApp]:
        from dbaudit.reference.render_platform import naive, optimized
        from dbaudit.reference.render_platform.operations import OPERATIONS

        variants = (naive, optimized)
        engines = [variant.create_engine(url) for variant in variants]
        platforms = [v.RenderPlatform(e) for v, e in zip(variants, engines, strict=True)]
        # writes are left out: they would need a restore between passes
        reads = [op for op in OPERATIONS if not op.writes]
        try:
            yield cls(engines, platforms, reads, dataset)
        finally:
            for engine in engines:
                await engine.dispose()

    @property
    def statements_per_run(self) -> int:
        """As the operations declare them (tests hold them exact)."""
        return sum(op.naive_round_trips + op.optimized_round_trips for op in self.reads)

    async def run_once(self, block: Block) -> None:
        for platform in self.platforms:
            for op in self.reads:
                with block():
                    await op.call(platform, self.dataset)


def reference_passes(queries: int) -> int:
    """The reference operations run this many times in one timed pass (figures are per time)."""
    return max(1, queries // REFERENCE_PASS_QUERIES)


def dataset_marker(url: str) -> str:
    import hashlib
    import tempfile

    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"dbaudit-bench-{digest}.pickle")


def load_reference_dataset(url: str) -> Any:
    """Load the demo data once per database; later children read the pickled ``Dataset``."""
    import pickle

    marker = dataset_marker(url)
    if os.path.exists(marker):
        with open(marker, "rb") as stored:
            return pickle.load(stored)

    from sqlalchemy.ext.asyncio import create_async_engine

    from dbaudit.db import sqlalchemy_url
    from dbaudit.reference.render_platform.datagen import Scale, generate
    from dbaudit.reference.render_platform.schema import create_schema

    async def load() -> Any:
        setup = create_async_engine(sqlalchemy_url(url))
        await create_schema(setup, "optimized")
        await setup.dispose()
        return await generate(url, Scale.demo(), 0)

    dataset = asyncio.run(load())
    with open(marker, "wb") as handle:
        pickle.dump(dataset, handle)
    return dataset


# --breakdown: which part of the profiler a bytecode belongs to, by file (first match wins)
COMPONENTS = (
    ("/dbaudit/reference/", "the reference app"),
    ("/dbaudit/runtime/capture/", "capture hook (capture/)"),
    ("/dbaudit/runtime/callsite.py", "call site (callsite.py)"),
    ("/dbaudit/runtime/unit.py", "recording and units (unit.py)"),
    ("/dbaudit/runtime/", "detection (detect.py, loops.py, events.py)"),
    ("/dbaudit/", "detection (detect.py, loops.py, events.py)"),
    ("contextlib.py", "the benchmark's loop and unit block"),
    ("runtime_overhead.py", "the benchmark's loop and unit block"),
)
OTHERS = "SQLAlchemy, driver, everything else"


def component(filename: str) -> str:
    for fragment, name in COMPONENTS:
        if fragment in filename:
            return name
    return OTHERS


def print_breakdown(workload: str, bytecodes: Bytecodes, queries: int, per_what: str) -> None:
    per = {mode: Counter[str]() for mode in bytecodes.counts}
    for mode, counts in bytecodes.counts.items():
        for code, count in counts.items():
            per[mode][component(code.co_filename)] += count
    bare_total = sum(per["bare"].values())
    on_total = sum(per["on"].values())
    cpu_per_query = bytecodes.cpu["bare"]  # the passes' own figure: per query, or per pass
    per_bytecode = cpu_per_query / (bare_total / queries)  # what a bytecode costs, bare
    unit = "a unit per operation" if workload == "reference" else f"a unit per {UNIT_SIZE} queries"
    print(f"{workload}: bytecodes per {per_what}, bare vs {unit} (traced);")
    scale, time_unit = (1e3, "ms") if per_what == "pass" else (1e6, "us")
    print(
        f"  bare: {bare_total / queries:.0f} bytecodes, {cpu_per_query * scale:.1f} {time_unit} "
        f"CPU untraced ({per_bytecode * 1e9:.1f} ns a bytecode); "
        f"on: {bytecodes.cpu['on'] * scale:.1f} {time_unit} untraced"
    )
    print(f"  {'':44s} {'bare':>8s} {'on':>8s} {'added':>8s} {'share':>7s} {'~' + time_unit:>7s}")
    for name in dict.fromkeys([n for _, n in COMPONENTS] + [OTHERS]):
        bare, on = per["bare"][name] / queries, per["on"][name] / queries
        if not bare and not on:
            continue
        added = on - bare
        print(
            f"  {name:44s} {bare:8.1f} {on:8.1f} {added:+8.1f} "
            f"{100 * added / (on_total / queries - bare_total / queries):6.1f}% "
            f"{added * per_bytecode * scale:+7.2f}"
        )
    added_total = (on_total - bare_total) / queries
    print(
        f"  {'total':44s} {bare_total / queries:8.1f} {on_total / queries:8.1f} "
        f"{added_total:+8.1f} {100.0:6.1f}% {added_total * per_bytecode * scale:+7.2f} "
        f"({100 * added_total / (bare_total / queries):+.1f}% bytecodes)"
    )


def print_functions(bytecodes: Bytecodes, count: int, queries: int, per_what: str) -> None:
    """The ``count`` functions that add the most bytecodes, per query or per pass."""
    rows = function_rows(bytecodes, queries)[:count]
    print(f"  the {len(rows)} functions adding the most bytecodes per {per_what}:")
    print(f"  {'bare':>10s} {'on':>10s} {'added':>10s}  file:function")
    for name, bare, on in rows:
        print(f"  {bare:10.1f} {on:10.1f} {on - bare:+10.1f}  {name}")


def function_rows(bytecodes: Bytecodes, queries: int) -> list[tuple[str, float, float]]:
    """(file:qualified name, bare, on) per query or pass, most bytecodes added first."""
    totals: dict[str, list[int]] = {}
    for index, mode in enumerate(("bare", "on")):
        for code, count in bytecodes.counts[mode].items():
            name = f"{short_path(code.co_filename)}:{code.co_qualname}"
            totals.setdefault(name, [0, 0])[index] += count
    rows = [(name, bare / queries, on / queries) for name, (bare, on) in totals.items()]
    rows.sort(key=lambda row: (row[1] - row[2], row[0]))
    return rows


def short_path(filename: str) -> str:
    """A source file as it reads in a package: ``sqlalchemy/orm/session.py``, ``dbaudit/...``,
    ``asyncio/events.py``; the benchmark by its name."""
    for marker in ("site-packages/", "/src/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    stdlib = sysconfig.get_paths()["stdlib"]
    if filename.startswith(stdlib + os.sep):
        return filename[len(stdlib) + 1 :]
    return os.path.basename(filename)


def child(workload: str, tool: str, queries: int, rounds: int, url: str | None) -> None:
    if workload == "sqlite-orm":
        timings, recorded = run_sqlite_orm(tool, queries, rounds)
    elif workload == "sqlite-dbapi":
        timings, recorded = run_sqlite_dbapi(tool, queries, rounds)
    elif workload == "pg-orm-asyncpg":
        timings, recorded = run_pg_orm(tool, queries, rounds, str(url))
    elif workload == "pg-psycopg":
        timings, recorded = run_pg_psycopg(tool, queries, rounds, str(url))
    else:
        timings, recorded = run_reference(tool, queries, rounds, str(url))
    if BYTECODES is not None:
        return
    print(json.dumps({"timings": timings, "recorded": recorded}))


# --------------------------------------------------------------------------- the parent side


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What one child measured: its passes per mode, and the statements it recorded in its
    counted pass (all that the pass ran: the child checked)."""

    timings: dict[str, list[Timing]]
    recorded: int


@dataclass(frozen=True, slots=True)
class Spread:
    """Client CPU seconds of one mode's passes: median (the figure), min, quartiles."""

    median: float
    low: float
    q1: float
    q3: float
    passes: int

    @property
    def iqr_percent(self) -> float:
        return 100 * (self.q3 - self.q1) / self.median

    @property
    def error(self) -> float:
        """Standard error of the median, from the IQR: for a normal spread sigma is IQR / 1.349,
        and the median's standard error 1.2533 sigma / sqrt(passes)."""
        return 1.2533 * (self.q3 - self.q1) / 1.349 / math.sqrt(self.passes)


def cpu_spread(timings: list[Timing]) -> Spread:
    cpus = sorted(t[1] for t in timings)
    q1, q3 = cpus[0], cpus[0]
    if len(cpus) > 1:
        q1, _, q3 = statistics.quantiles(cpus, n=4, method="inclusive")
    return Spread(statistics.median(cpus), cpus[0], q1, q3, len(cpus))


def added(run: ToolRun, mode: str, base: str = "bare") -> tuple[float, float]:
    """``mode``'s median CPU over ``base``'s, and its noise: twice the standard error of the
    difference of the two medians (seconds, per query or per pass)."""
    low, high = cpu_spread(run.timings[base]), cpu_spread(run.timings[mode])
    return high.median - low.median, 2 * math.hypot(low.error, high.error)


def competitor_missing(tool: str, directory: str | None) -> str | None:
    """None when importable, else the reason, printed as one clear line."""
    module = {"queryguard": "pytest_queryguard", "queryspy": "queryspy"}[tool]
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env=child_env(directory),
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return None
    where = f" in {directory}" if directory else ""
    package = COMPETITORS[tool].replace(" ", "==")
    return (
        f"{COMPETITORS[tool]} is not installed{where}, so it is not measured: "
        f"pip install --no-deps --target DIR {package}, then pass --competitors DIR"
    )


def child_env(directory: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if directory:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (directory, env.get("PYTHONPATH", "")) if p)
    return env


class ChildFailed(RuntimeError):
    """A child exited non-zero; ``reason`` is the last line it wrote to stderr."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def run_child(
    workload: str, tool: str, queries: int, rounds: int, url: str | None, directory: str | None
) -> ToolRun:
    command = [sys.executable, __file__, "--child", workload, tool]
    command += ["--queries", str(queries), "--rounds", str(rounds)]
    command += ["--url", url] if url else []
    env = child_env(directory if tool in COMPETITORS else None)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ChildFailed(
            f"{workload}/{tool} failed:\n{done.stderr[-3000:]}", lines[-1] if lines else ""
        )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    timings = {
        mode: [(float(w), float(c)) for w, c in values] for mode, values in data["timings"].items()
    }
    return ToolRun(timings, int(data["recorded"]))


def rounds_for(workload: str, rounds: int | None) -> int:
    if rounds:
        return rounds
    return REFERENCE_ROUNDS if workload == "reference" else DEFAULT_ROUNDS


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--queries", type=int, default=20_000, help="queries per sqlite pass")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"passes per mode (default {DEFAULT_ROUNDS}, reference {REFERENCE_ROUNDS})",
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma separated")
    parser.add_argument(
        "--competitors",
        default=os.environ.get("DBAUDIT_BENCH_COMPETITORS")
        or (DEFAULT_COMPETITORS_DIR if os.path.isdir(DEFAULT_COMPETITORS_DIR) else None),
        help="directory holding pytest-queryguard and queryspy (pip install --target)",
    )
    parser.add_argument(
        "--breakdown",
        metavar="WORKLOAD",
        choices=tuple(BREAKDOWN_QUERIES),
        help="instead of timing: count the bytecodes dbaudit adds, per part of the profiler "
        "(sqlite-orm: 2,000 queries; pg-orm-asyncpg: 1,000; reference: one pass)",
    )
    parser.add_argument(
        "--functions",
        type=int,
        default=0,
        metavar="N",
        help="with --breakdown: then the N functions that add the most bytecodes",
    )
    parser.add_argument(
        "--ablate",
        action="store_true",
        help="instead: time the reference workload with parts of the profiler switched off "
        "(detection, the call-site walk), alternating in one process",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instead: count the machine instructions of the reference workload in the modes "
        f"of --ablate, under valgrind's callgrind ({INSTRUCTION_PASSES} passes per mode by "
        "default; minutes)",
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="with --instructions: keep callgrind's files in DIR"
    )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "TOOL"), help=argparse.SUPPRESS)
    parser.add_argument("--instructions-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.queries, args.rounds or DEFAULT_ROUNDS, args.url)
        return 0
    if args.instructions_child:
        instructions_child(str(args.url), args.rounds or INSTRUCTION_PASSES)
        return 0
    if args.breakdown:
        return breakdown(args.breakdown, args.functions)
    if args.ablate:
        return ablate(args.rounds or REFERENCE_ROUNDS)
    if args.instructions:
        return instructions(args.rounds or INSTRUCTION_PASSES, args.keep)

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"runtime_overhead: unknown workload(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    missing = {tool: competitor_missing(tool, args.competitors) for tool in COMPETITORS}
    for reason in missing.values():
        if reason:
            print(f"note: {reason}")

    with contextlib.ExitStack() as stack:
        url = None
        if any(w.startswith("pg") or w == "reference" for w in workloads):
            from dbaudit.db import redact, resolve_server, temporary_database

            server = stack.enter_context(resolve_server())
            url = stack.enter_context(temporary_database(server))
            stack.callback(_remove, dataset_marker(url))
            print(f"PostgreSQL: {redact(server.url)} ({server.source})")
        passes = ", ".join(f"{w} {rounds_for(w, args.rounds)}" for w in workloads)
        print(
            f"passes per mode: {passes}; alternating; a unit = {UNIT_SIZE} queries; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        measured: dict[str, dict[str, ToolRun]] = {}
        failed: dict[str, dict[str, str]] = {}
        for workload in workloads:
            queries = args.queries if workload.startswith("sqlite") else max(500, args.queries // 4)
            rounds = rounds_for(workload, args.rounds)
            results: dict[str, ToolRun] = {}
            for tool in WORKLOADS[workload]:
                if missing.get(tool):
                    continue
                try:
                    results[tool] = run_child(
                        workload, tool, queries, rounds, url, args.competitors
                    )
                except ChildFailed as failure:
                    if tool not in COMPETITORS:
                        raise
                    failed.setdefault(workload, {})[tool] = failure.reason
                    print(f"note: {COMPETITORS[tool]} not measured on {workload}: {failure.reason}")
            report(workload, results, queries, rounds)
            measured[workload] = results
        summary(measured, failed)
    return 0


def breakdown(workload: str, functions: int = 0) -> int:
    global BYTECODES
    BYTECODES = Bytecodes()
    queries = BREAKDOWN_QUERIES[workload]
    with contextlib.ExitStack() as stack:
        url = None
        if workload != "sqlite-orm":
            from dbaudit.db import resolve_server, temporary_database

            url = stack.enter_context(temporary_database(stack.enter_context(resolve_server())))
            stack.callback(_remove, dataset_marker(url))
        child(workload, "dbaudit", queries, 1, url)
    if workload == "reference":  # one pass: the figures are per pass, not per query
        per, per_what = reference_passes(queries), "pass"
    else:
        per, per_what = queries, "query"
    print_breakdown(workload, BYTECODES, per, per_what)
    if functions:
        print_functions(BYTECODES, functions, per, per_what)
    return 0


# --ablate: the profiler with a part switched off, by the module attribute that part is
ABLATIONS = {
    "on": (),
    "on, no detection": ("detect",),
    "on, no call sites": ("capture_stack",),
    "on, neither": ("detect", "capture_stack"),
}


def ablate(rounds: int) -> int:
    """Where the reference workload's added time goes, in time rather than bytecodes: the
    modes of ``ABLATIONS`` and ``bare`` alternate pass by pass in this one process (their
    hooks and parts switched between passes), so each part's share is the difference of two
    medians measured side by side. Detection off: every unit finds nothing; call sites off:
    every statement has an empty chain (so detection has less to group, too)."""
    with contextlib.ExitStack() as stack:
        from dbaudit.db import resolve_server, temporary_database

        url = stack.enter_context(temporary_database(stack.enter_context(resolve_server())))
        stack.callback(_remove, dataset_marker(url))
        timings = asyncio.run(_ablate_reference(url, load_reference_dataset(url), rounds))
    run = ToolRun(timings, 0)
    bare = cpu_spread(timings["bare"]).median
    print(
        f"reference, ms of client CPU per pass, median of {rounds} passes alternating in one "
        f"process; load average {os.getloadavg()[0]:.1f}:"
    )
    print(f"  {'bare':20s} {bare * 1e3:8.1f}")
    for mode in ABLATIONS:
        extra, noise = added(run, mode)
        print(
            f"  {mode:20s} {cpu_spread(timings[mode]).median * 1e3:8.1f}"
            f"  {100 * extra / bare:+5.1f}% ± {100 * noise / bare:.1f}%"
        )
    return 0


async def _ablate_reference(url: str, dataset: Any, rounds: int) -> dict[str, list[Timing]]:
    modes = ("bare", *ABLATIONS)
    timings: dict[str, list[Timing]] = {mode: [] for mode in modes}
    async with ReferenceApp.opened(url, dataset) as app:
        with parts_switch(app) as switch:
            for round_index in range(rounds + 1):
                for mode in modes if round_index % 2 else modes[::-1]:
                    block = switch(mode)
                    clock = Clock()
                    await app.run_once(block)
                    if round_index:  # round 0 warms the caches
                        timings[mode].append(clock.per(1))
    return timings


@contextlib.contextmanager
def parts_switch(app: ReferenceApp) -> Iterator[Callable[[str], Block]]:
    """A switch of the reference app to ``bare`` (no hooks) or a mode of ``ABLATIONS`` (hooks
    on, the parts it names swapped for stand-ins: each part's module attribute, as the hooks
    look it up), returning the block of that mode's passes; everything is put back after."""
    from dbaudit.runtime import instrument, uninstrument
    from dbaudit.runtime import unit as units
    from dbaudit.runtime.capture import sqlalchemy as hooks
    from dbaudit.runtime.detect import Detection

    owners = {"detect": units, "capture_stack": hooks}  # the module each part is looked up in
    real = {name: getattr(owner, name) for name, owner in owners.items()}
    stand_ins: dict[str, Callable[..., Any]] = {
        "detect": lambda *args, **kwargs: Detection(()),
        "capture_stack": lambda *args, **kwargs: (),
    }
    block = recording_block("dbaudit")

    def switch(mode: str) -> Block:
        off = ABLATIONS.get(mode, ())
        for name, owner in owners.items():
            setattr(owner, name, stand_ins[name] if name in off else real[name])
        for engine in app.engines:
            (uninstrument if mode == "bare" else instrument)(engine)
        return contextlib.nullcontext if mode == "bare" else block

    try:
        yield switch
    finally:
        for name, owner in owners.items():
            setattr(owner, name, real[name])


# --instructions: the modes of --ablate, and bare again at the end (the two bare counts differ
# by what the count itself moves: the asyncio loop's turns, caches growing)
INSTRUCTION_MODES = ("bare", *ABLATIONS, "bare again")
INSTRUCTION_PASSES = 10
_DUMP_PREFIX = "callgrind.out"


def instructions(passes: int, keep: str | None) -> int:
    """The reference workload's instructions per pass in each mode, counted by callgrind in one
    process (``PYTHONHASHSEED=0``: the same dict layouts in every run): the child runs each
    mode's passes between two dumps of callgrind's counters (``callgrind_control -d``), which
    this parent reads back."""
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        print(
            "runtime_overhead: --instructions needs valgrind and callgrind_control on PATH "
            "(Debian: apt-get install valgrind)",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        from dbaudit.db import resolve_server, temporary_database

        url = stack.enter_context(temporary_database(stack.enter_context(resolve_server())))
        stack.callback(_remove, dataset_marker(url))
        load_reference_dataset(url)  # generated here, not under valgrind (50x slower there)
        directory = keep or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(directory, exist_ok=True)
        command = [valgrind, "--tool=callgrind"]
        command += [f"--callgrind-out-file={os.path.join(directory, _DUMP_PREFIX)}"]
        command += [sys.executable, __file__, "--instructions-child", "--rounds", str(passes)]
        command += ["--url", url]
        load = os.getloadavg()[0]
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            print(f"runtime_overhead: the callgrind run failed: {lines[-1] if lines else ''}")
            return 1
        counts = read_dumps(directory)
    missing = [mode for mode in INSTRUCTION_MODES if mode not in counts]
    if missing:
        print(f"runtime_overhead: callgrind wrote no count for {', '.join(missing)}")
        return 1
    print_instructions({mode: counts[mode] / passes for mode in INSTRUCTION_MODES}, passes, load)
    return 0


def print_instructions(per_pass: dict[str, float], passes: int, load: float) -> None:
    bare = per_pass["bare"]
    print(
        f"reference, millions of instructions per pass (callgrind, {passes} passes per mode "
        f"in one process, PYTHONHASHSEED=0; load average {load:.1f}, which moves no count):"
    )
    for mode, count in per_pass.items():
        share = f"  {100 * (count / bare - 1):+6.2f}%" if mode != "bare" else ""
        print(f"  {mode:20s} {count / 1e6:9.2f}{share}")
    on = per_pass["on"]
    parts = (
        ("detection", on - per_pass["on, no detection"]),
        ("the call-site walk", on - per_pass["on, no call sites"]),
        ("the rest (hooks, events, units)", per_pass["on, neither"] - bare),
    )
    print("  added by (each part switched off alone, so the parts overlap a little):")
    for part, count in parts:
        print(f"    {part:32s} {count / 1e6:+8.2f}  {100 * count / bare:+6.2f}%")


_TRIGGER = re.compile(r"^desc: Trigger: dump (.+)$")


def read_dumps(directory: str) -> dict[str, int]:
    """Instructions of each dump callgrind wrote in ``directory``, by the label the child gave
    it (``callgrind_control -d LABEL``); the warm-up dumps are left out."""
    counts: dict[str, int] = {}
    for name in sorted(os.listdir(directory)):
        if not name.startswith(_DUMP_PREFIX + "."):
            continue
        label = None
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as dump:
            for line in dump:
                trigger = _TRIGGER.match(line.rstrip("\n"))
                if trigger:
                    label = trigger.group(1).strip()
                elif line.startswith("summary:"):
                    if label is not None and not label.startswith("warm-up"):
                        counts[label] = int(line.split(":", 1)[1])
                    break
    return counts


def instructions_child(url: str, passes: int) -> None:
    """Under callgrind: each mode's warm-up passes, a dump, its counted passes, a dump."""
    control = shutil.which("callgrind_control") or "callgrind_control"

    def dump(label: str) -> None:
        subprocess.run([control, "-d", label, str(os.getpid())], capture_output=True, check=True)

    async def run(dataset: Any) -> None:
        async with ReferenceApp.opened(url, dataset) as app:
            with parts_switch(app) as switch:
                for mode in INSTRUCTION_MODES:
                    block = switch("bare" if mode == "bare again" else mode)
                    # warm-up and counted passes from one line: the same call-site chains
                    for label, count in ((f"warm-up {mode}", 2), (mode, passes)):
                        for _ in range(count):
                            await app.run_once(block)
                        if label != mode:
                            gc.collect()  # each mode counted from a collected heap
                        dump(label)

    asyncio.run(run(load_reference_dataset(url)))


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def report(workload: str, results: dict[str, ToolRun], queries: int, rounds: int) -> None:
    print()
    unit = "ms per pass" if workload == "reference" else "us per query"
    scale = 1e3 if workload == "reference" else 1e6
    what = "every read operation, naive + optimized" if workload == "reference" else queries
    print(
        f"{workload} ({what}), {unit}; CPU: median of {rounds} passes, min, "
        "interquartile range; wall: median:"
    )
    print(
        "  {:22s} {:>9s} {:>9s} {:>6s} {:>10s} {:>7s} {:>9s} {:>8s}".format(
            "tool / mode", "CPU", "min", "IQR", "overhead", "ratio", "wall", "wall +%"
        )
    )
    for tool, run in results.items():
        bare = cpu_spread(run.timings["bare"]).median
        bare_wall = statistics.median(t[0] for t in run.timings["bare"])
        for mode, values in run.timings.items():
            cpu = cpu_spread(values)
            wall = statistics.median(t[0] for t in values)
            label = f"{tool} {mode}" if tool == "dbaudit" or mode != "bare" else f"{tool} idle"
            print(
                f"  {label:22s} {cpu.median * scale:9.1f} {cpu.low * scale:9.1f}"
                f" {cpu.iqr_percent:5.1f}% {(cpu.median - bare) * scale:+10.1f}"
                f" {cpu.median / bare:6.2f}x {wall * scale:9.1f}"
                f" {100 * (wall / bare_wall - 1):+7.1f}%"
            )
    if results:
        loops = reference_passes(queries) if workload == "reference" else 1
        per = "per pass" if workload == "reference" else "in the counted pass"
        counts = ", ".join(f"{tool} {run.recorded // loops}" for tool, run in results.items())
        print(f"  statements recorded {per} (checked: all that ran): {counts}")


def summary(
    measured: dict[str, dict[str, ToolRun]], failed: dict[str, dict[str, str]] | None = None
) -> None:
    """Issue 5's targets, each with its verdict, from the figures above (CPU time, median)."""
    failed = failed or {}
    print()
    print(
        "targets (issue 5; client CPU, median over passes; ± twice the standard error of the "
        "difference of two medians):"
    )
    orm = measured.get("sqlite-orm", {})
    if "dbaudit" in orm:
        more, error = added(orm["dbaudit"], "on")
        met = verdict(more * 1e6, error * 1e6, ORM_TARGET_US)
        print(
            f"  sqlite-orm, unit active, detection included: {more * 1e6:+.1f} ± {error * 1e6:.1f}"
            f" us per query (target < {ORM_TARGET_US:.0f} us): {met}"
        )
        compare(orm, failed.get("sqlite-orm", {}), more)
    pg = measured.get("pg-orm-asyncpg", {})
    if "dbaudit" in pg:
        more, error = added(pg["dbaudit"], "on")
        print(
            f"  pg-orm-asyncpg, unit active, detection included: {more * 1e6:+.1f} ± "
            f"{error * 1e6:.1f} us per query (no target)"
        )
        compare(pg, failed.get("pg-orm-asyncpg", {}), more)
    for workload, results in measured.items():
        if "dbaudit" not in results or "off" not in results["dbaudit"].timings:
            continue
        run = results["dbaudit"]
        more, error = added(run, "off")
        bare = cpu_spread(run.timings["bare"]).median
        off, noise = 100 * more / bare, max(OFF_NOISE_PERCENT, 100 * error / bare)
        print(
            f"  {workload}, hooks installed, no unit active: {off:+.1f}% (target: nothing "
            f"measurable, at most {OFF_NOISE_PERCENT:.0f}% or this run's noise, {noise:.1f}%): "
            f"{'met' if off <= noise else 'NOT met'}"
        )
    reference = measured.get("reference", {})
    if "dbaudit" in reference:
        run = reference["dbaudit"]
        more, error = added(run, "on")
        bare = cpu_spread(run.timings["bare"]).median
        slower = 100 * more / bare
        print(
            f"  reference, a unit per operation, detection included: {slower:+.1f}% ± "
            f"{100 * error / bare:.1f}% (target < {REFERENCE_TARGET_PERCENT:.0f}%): "
            f"{verdict(slower, 100 * error / bare, REFERENCE_TARGET_PERCENT)}"
        )
        compare(reference, failed.get("reference", {}), more, per_pass=True)


def compare(
    results: dict[str, ToolRun], failed: dict[str, str], ours: float, per_pass: bool = False
) -> None:
    """The other tools on the same workload: what they add (per query; per pass and in percent
    of their idle median) and how many times dbaudit's ``ours`` that is."""
    for tool in COMPETITORS:
        if tool in failed:
            print(f"    {COMPETITORS[tool]} on the same workload: not measured ({failed[tool]})")
        if tool not in results:
            continue
        theirs, error = added(results[tool], "on")
        if results[tool].recorded != results["dbaudit"].recorded:  # the children check: never
            print(f"    {COMPETITORS[tool]}: not compared (recorded other statements)")
            continue
        if per_pass:
            idle = cpu_spread(results[tool].timings["bare"]).median
            figure = (
                f"{100 * theirs / idle:+.1f}% ± {100 * error / idle:.1f}% "
                f"({theirs * 1e3:+.1f} ms per pass)"
            )
        else:
            figure = f"{theirs * 1e6:+.1f} ± {error * 1e6:.1f} us"
        times = f", {theirs / ours:.1f}x dbaudit's" if ours > 0 else ""
        print(f"    {COMPETITORS[tool]} on the same workload: {figure}{times}")


def verdict(added: float, noise: float, target: float) -> str:
    """``added`` (± ``noise``) against an upper ``target``: met or not only when the whole
    interval is on one side; otherwise the run cannot tell, and says which side the median is."""
    if added + noise < target:
        return "met"
    if added - noise >= target:
        return "NOT met"
    side = "under" if added < target else "over"
    return f"at the noise (the median is {side} the target; rerun with more --rounds)"


if __name__ == "__main__":
    sys.exit(main())
