"""Runtime profiler overhead, side by side in one run (issue 5, "Performance").

Per-query overhead in microseconds, on:

- ``sqlite-orm``: ``session.execute(select(M).where(M.id == i))`` on sqlite in-memory (20,000 per
  pass by default), also under pytest-queryguard and queryspy (same workload, same run);
- ``sqlite-dbapi``: plain ``sqlite3`` ``execute(...).fetchone()``;
- ``pg-orm-asyncpg``: the ORM workload on PostgreSQL over loopback, SQLAlchemy + asyncpg, also
  under the two other tools;
- ``pg-psycopg``: plain psycopg 3 on PostgreSQL;
- ``reference``: every read operation of the reference app (naive and optimized), per pass.

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

The figures: client CPU time per query (``time.process_time``: what the profiler adds, and
barely moved by other processes competing for the machine), min over passes; and wall time,
median over passes. The run ends with issue 5's targets, each with its verdict.

The other tools are pytest plugins that switch themselves on in every pytest run of the
environment they are installed in, so they are not project dependencies and must not live in a
shared venv. Install them into a directory of their own and point ``--competitors`` at it::

    pip install --no-deps --target /work/bench-competitors pytest-queryguard==0.4.1 queryspy==0.6.0
    .venv/bin/python benchmarks/runtime_overhead.py --competitors /work/bench-competitors

Run: ``.venv/bin/python benchmarks/runtime_overhead.py [--queries 20000] [--rounds 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
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

WORKLOADS: dict[str, tuple[str, ...]] = {
    "sqlite-orm": ("dbaudit", "queryguard", "queryspy"),
    "sqlite-dbapi": ("dbaudit",),
    "pg-orm-asyncpg": ("dbaudit", "queryguard", "queryspy"),
    "pg-psycopg": ("dbaudit",),
    "reference": ("dbaudit",),
}

Timing = tuple[float, float]  # (wall seconds, CPU seconds of this process) per query
Block = Callable[[], contextlib.AbstractContextManager[Any]]


class Clock:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def per(self, n: int) -> Timing:
        return ((time.perf_counter() - self.wall) / n, (time.process_time() - self.cpu) / n)


# --------------------------------------------------------------------------- the child side


def recording_block(tool: str) -> Block:
    """One "unit" (test, request) of the tool being measured, detection included."""
    if tool == "dbaudit":
        from dbaudit.runtime import profile

        @contextlib.contextmanager
        def unit() -> Iterator[None]:
            with profile("bench") as opened:
                yield
            _ = opened.findings

        return unit
    if tool == "queryguard":
        from pytest_queryguard import record_queries

        @contextlib.contextmanager
        def guarded() -> Iterator[None]:
            with record_queries() as log:
                yield
            with contextlib.suppress(AssertionError):
                log.assert_no_nplusone()

        return guarded
    if tool == "queryspy":
        from queryspy import record

        @contextlib.contextmanager
        def spied() -> Iterator[None]:
            with record() as recorder:
                yield
            _ = recorder.findings()

        return spied
    raise ValueError(tool)


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
    tool: str, rounds: int, one_pass: Callable[[str, Block], Timing], switch: Callable[[str], None]
) -> dict[str, list[Timing]]:
    """Run the modes one pass each, ``rounds`` times, after one warm-up round."""
    block = recording_block(tool)
    if BYTECODES is not None:
        for mode in ("bare", "on"):
            switch(mode)
            chosen = block if mode == "on" else contextlib.nullcontext
            BYTECODES.cpu[mode] = min(one_pass(mode, chosen)[1] for _ in range(3))
            for counted in (False, True):  # one line: the same call-site chains in both
                with BYTECODES.tracing(mode, warm_up=not counted):
                    one_pass(mode, chosen)
        return {}
    timings: dict[str, list[Timing]] = {mode: [] for mode in modes_for(tool)}
    for round_index in range(rounds + 1):
        for mode in round_order(tool, round_index):
            switch(mode)
            timing = one_pass(mode, block if mode == "on" else contextlib.nullcontext)
            if round_index:  # round 0 warms caches: statements, fingerprints, call sites
                timings[mode].append(timing)
    return timings


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
) -> dict[str, list[Timing]]:
    block = recording_block(tool)
    if BYTECODES is not None:
        for mode in ("bare", "on"):
            switch(mode)
            chosen = block if mode == "on" else contextlib.nullcontext
            BYTECODES.cpu[mode] = min([(await one_pass(mode, chosen))[1] for _ in range(3)])
            for counted in (False, True):
                with BYTECODES.tracing(mode, warm_up=not counted):
                    await one_pass(mode, chosen)
        return {}
    timings: dict[str, list[Timing]] = {mode: [] for mode in modes_for(tool)}
    for round_index in range(rounds + 1):
        for mode in round_order(tool, round_index):
            switch(mode)
            timing = await one_pass(mode, block if mode == "on" else contextlib.nullcontext)
            if round_index:
                timings[mode].append(timing)
    return timings


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


def run_sqlite_orm(tool: str, queries: int, rounds: int) -> dict[str, list[Timing]]:
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

        return alternate(tool, rounds, one_pass, engine_switch(tool, engine))


def run_sqlite_dbapi(tool: str, queries: int, rounds: int) -> dict[str, list[Timing]]:
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

    return alternate(tool, rounds, one_pass, lambda mode: None)


def run_pg_orm(tool: str, queries: int, rounds: int, url: str) -> dict[str, list[Timing]]:
    from sqlalchemy import insert, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from dbaudit.db import sqlalchemy_url

    base, item = orm_models()

    async def main() -> dict[str, list[Timing]]:
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
                return await alternate_async(tool, rounds, one_pass, switch)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def run_pg_psycopg(tool: str, queries: int, rounds: int, url: str) -> dict[str, list[Timing]]:
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

        return alternate(tool, rounds, one_pass, switch)


def run_reference(tool: str, queries: int, rounds: int, url: str) -> dict[str, list[Timing]]:
    """Timing per pass (not per query) over every read operation, naive and optimized, each
    operation one unit. Writes are left out: they need a restore between passes."""
    from dbaudit.reference.render_platform import naive, optimized
    from dbaudit.reference.render_platform.operations import OPERATIONS
    from dbaudit.runtime import instrument, uninstrument

    dataset = load_reference_dataset(url)

    async def main() -> dict[str, list[Timing]]:
        variants = (naive, optimized)
        engines = [variant.create_engine(url) for variant in variants]
        platforms = [v.RenderPlatform(e) for v, e in zip(variants, engines, strict=True)]
        reads = [op for op in OPERATIONS if not op.writes]
        passes = max(1, queries // 2000)

        def switch(mode: str) -> None:
            for engine in engines:
                (uninstrument if mode == "bare" else instrument)(engine)

        async def one_pass(mode: str, block: Block) -> Timing:
            clock = Clock()
            for _ in range(passes):
                for platform in platforms:
                    for op in reads:
                        with block():
                            await op.call(platform, dataset)
            return clock.per(passes)

        try:
            return await alternate_async(tool, rounds, one_pass, switch)
        finally:
            for engine in engines:
                await engine.dispose()

    return asyncio.run(main())


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
        with open(marker, "rb") as handle:
            return pickle.load(handle)

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


def child(workload: str, tool: str, queries: int, rounds: int, url: str | None) -> None:
    if workload == "sqlite-orm":
        timings = run_sqlite_orm(tool, queries, rounds)
    elif workload == "sqlite-dbapi":
        timings = run_sqlite_dbapi(tool, queries, rounds)
    elif workload == "pg-orm-asyncpg":
        timings = run_pg_orm(tool, queries, rounds, str(url))
    elif workload == "pg-psycopg":
        timings = run_pg_psycopg(tool, queries, rounds, str(url))
    else:
        timings = run_reference(tool, queries, rounds, str(url))
    if BYTECODES is not None:
        return
    print(json.dumps(timings))


# --------------------------------------------------------------------------- the parent side


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


def run_child(
    workload: str, tool: str, queries: int, rounds: int, url: str | None, directory: str | None
) -> dict[str, list[Timing]]:
    command = [sys.executable, __file__, "--child", workload, tool]
    command += ["--queries", str(queries), "--rounds", str(rounds)]
    command += ["--url", url] if url else []
    env = child_env(directory if tool in COMPETITORS else None)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{workload}/{tool} failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return {mode: [(float(w), float(c)) for w, c in values] for mode, values in data.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--queries", type=int, default=20_000, help="queries per sqlite pass")
    parser.add_argument("--rounds", type=int, default=8, help="passes per mode")
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
        choices=("sqlite-orm", "reference"),
        help="instead of timing: count the bytecodes dbaudit adds, per part of the profiler "
        "(sqlite-orm: 2,000 queries; reference: one pass)",
    )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "TOOL"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.queries, args.rounds, args.url)
        return 0
    if args.breakdown:
        return breakdown(args.breakdown)

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
        print(
            f"{args.rounds} passes per mode, alternating; a unit = {UNIT_SIZE} queries; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        measured: dict[str, dict[str, dict[str, list[Timing]]]] = {}
        for workload in workloads:
            queries = args.queries if workload.startswith("sqlite") else max(500, args.queries // 4)
            results = {}
            for tool in WORKLOADS[workload]:
                if missing.get(tool):
                    continue
                results[tool] = run_child(
                    workload, tool, queries, args.rounds, url, args.competitors
                )
            report(workload, results, queries)
            measured[workload] = results
        summary(measured)
    return 0


def breakdown(workload: str) -> int:
    global BYTECODES
    BYTECODES = Bytecodes()
    with contextlib.ExitStack() as stack:
        url = None
        queries = 2000
        if workload == "reference":
            from dbaudit.db import resolve_server, temporary_database

            url = stack.enter_context(temporary_database(stack.enter_context(resolve_server())))
            stack.callback(_remove, dataset_marker(url))
            queries = 2000  # one pass (passes = queries // 2000): per pass, not per query
        child(workload, "dbaudit", queries, 1, url)
    if workload == "reference":
        print_breakdown(workload, BYTECODES, 1, "pass")
    else:
        print_breakdown(workload, BYTECODES, queries, "query")
    return 0


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def report(workload: str, results: dict[str, dict[str, list[Timing]]], queries: int) -> None:
    print()
    unit = "ms per pass" if workload == "reference" else "us per query"
    scale = 1e3 if workload == "reference" else 1e6
    what = "every read operation, naive + optimized" if workload == "reference" else queries
    print(f"{workload} ({what}), {unit}:")
    print(
        "  {:22s} {:>9s} {:>10s} {:>7s} {:>9s} {:>8s}".format(
            "tool / mode", "CPU", "overhead", "ratio", "wall", "wall +%"
        )
    )
    for tool, modes in results.items():
        bare_cpu = min(t[1] for t in modes["bare"])
        bare_wall = statistics.median(t[0] for t in modes["bare"])
        for mode, values in modes.items():
            cpu = min(t[1] for t in values)
            wall = statistics.median(t[0] for t in values)
            label = f"{tool} {mode}" if tool == "dbaudit" or mode != "bare" else f"{tool} idle"
            print(
                f"  {label:22s} {cpu * scale:9.1f} {(cpu - bare_cpu) * scale:+10.1f}"
                f" {cpu / bare_cpu:6.2f}x {wall * scale:9.1f} {100 * (wall / bare_wall - 1):+7.1f}%"
            )


def cpu(modes: dict[str, list[Timing]], mode: str) -> float:
    return min(t[1] for t in modes[mode])


def summary(measured: dict[str, dict[str, dict[str, list[Timing]]]]) -> None:
    """Issue 5's targets, each with its verdict, from the figures above (CPU time, min)."""
    print()
    print("targets (issue 5, CPU time):")
    orm = measured.get("sqlite-orm", {})
    if "dbaudit" in orm:
        modes = orm["dbaudit"]
        added = (cpu(modes, "on") - cpu(modes, "bare")) * 1e6
        print(
            f"  sqlite-orm, unit active, detection included: +{added:.1f} us per query "
            f"(target < {ORM_TARGET_US:.0f} us): {verdict(added < ORM_TARGET_US)}"
        )
        for tool in COMPETITORS:
            if tool in orm:
                theirs = (cpu(orm[tool], "on") - cpu(orm[tool], "bare")) * 1e6
                times = f", {theirs / added:.1f}x dbaudit's" if added > 0 else ""
                print(f"    {COMPETITORS[tool]} on the same workload: +{theirs:.1f} us{times}")
    for workload, results in measured.items():
        if "dbaudit" not in results or "off" not in results["dbaudit"]:
            continue
        modes = results["dbaudit"]
        off = 100 * (cpu(modes, "off") / cpu(modes, "bare") - 1)
        noise = max(OFF_NOISE_PERCENT, spread(modes["bare"]))
        print(
            f"  {workload}, hooks installed, no unit active: {off:+.1f}% "
            f"(target: nothing measurable, no more than this run's noise, {noise:.1f}%): "
            f"{verdict(off <= noise)}"
        )
    if "dbaudit" in measured.get("reference", {}):
        modes = measured["reference"]["dbaudit"]
        slower = 100 * (cpu(modes, "on") / cpu(modes, "bare") - 1)
        print(
            f"  reference, a unit per operation, detection included: {slower:+.1f}% "
            f"(target < {REFERENCE_TARGET_PERCENT:.0f}%): "
            f"{verdict(slower < REFERENCE_TARGET_PERCENT)}"
        )


def spread(timings: list[Timing]) -> float:
    """How far a typical pass is above the best one, in percent: the noise floor of a mode."""
    cpus = [t[1] for t in timings]
    return 100 * (statistics.median(cpus) / min(cpus) - 1)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
