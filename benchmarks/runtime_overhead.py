"""Runtime profiler overhead, side by side in one run (issue 5, "Performance").

Per-query overhead in microseconds with the profiler off (hooks installed, no unit active) and on
(a unit per 100 queries, detection included), on:

- ``sqlite-orm``: 20,000 ``session.execute(select(M).where(M.id == i))`` on sqlite in-memory, also
  measured under pytest-queryguard and queryspy (same workload, same run);
- ``sqlite-dbapi``: plain ``sqlite3`` ``execute(...).fetchone()`` through dbaudit's proxy;
- ``pg-orm-asyncpg``: the ORM workload on PostgreSQL over loopback with SQLAlchemy + asyncpg,
  also under the two other tools;
- ``pg-psycopg``: plain psycopg 3 on PostgreSQL;
- ``reference``: the reference app's read operations (naive and optimized), whole-workload
  slowdown.

Each (workload, tool) pair runs in its own subprocess, so one tool's global SQLAlchemy listeners
never slow another's measurements, and rounds alternate between tools so machine noise spreads
evenly. The figure per pair is the median over rounds of the per-query time.

The other tools are pytest plugins that, once installed, switch themselves on in every pytest
run of the environment, so they are not project dependencies and should not live in a shared
venv: install them into a separate directory and point ``--competitors`` at it::

    pip install --no-deps --target /work/bench-competitors pytest-queryguard==0.4.1 queryspy==0.6.0
    .venv/bin/python benchmarks/runtime_overhead.py --competitors /work/bench-competitors

Run: ``.venv/bin/python benchmarks/runtime_overhead.py [--queries 20000] [--rounds 3]``.
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
from collections.abc import Callable, Iterator
from typing import Any

UNIT_SIZE = 100  # queries per profiled unit: a test or a request, detection included
ROWS = 1000
COMPETITORS = {"queryguard": "pytest-queryguard 0.4.1", "queryspy": "queryspy 0.6.0"}
DEFAULT_COMPETITORS_DIR = "/work/bench-competitors"

WORKLOADS: dict[str, tuple[str, ...]] = {
    "sqlite-orm": ("bare", "dbaudit-off", "dbaudit-on", "queryguard", "queryspy"),
    "sqlite-dbapi": ("bare", "dbaudit-off", "dbaudit-on"),
    "pg-orm-asyncpg": ("bare", "dbaudit-off", "dbaudit-on", "queryguard", "queryspy"),
    "pg-psycopg": ("bare", "dbaudit-off", "dbaudit-on"),
    "reference": ("bare", "dbaudit-on"),
}


# --------------------------------------------------------------------------- the child side

Timing = tuple[float, float]  # (wall seconds, CPU seconds of this process), per query or pass


class Clock:
    """Wall time and this process's CPU time. The CPU figure is what the profiler adds on the
    client and barely moves when other processes compete for the machine; wall time is what
    a user waits."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def per(self, n: int) -> Timing:
        return ((time.perf_counter() - self.wall) / n, (time.process_time() - self.cpu) / n)


def unit_blocks(tool: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A context manager factory: one "unit" (test, request) of the tool being measured."""
    if tool in ("bare", "dbaudit-off"):
        return contextlib.nullcontext
    if tool == "dbaudit-on":
        from dbaudit.runtime import profile

        @contextlib.contextmanager
        def unit() -> Iterator[None]:
            with profile("bench") as opened:
                yield
            _ = opened.findings  # detection is part of the cost

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


def run_sqlite_orm(tool: str, queries: int, reps: int) -> list[Timing]:
    from sqlalchemy import create_engine, insert, select
    from sqlalchemy.orm import Session

    base, item = orm_models()
    engine = create_engine("sqlite://")
    base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(item), [{"id": i, "name": f"item {i}"} for i in range(ROWS)])
    if tool.startswith("dbaudit"):
        from dbaudit.runtime import instrument

        instrument(engine)
    block = unit_blocks(tool)
    timings = []
    with Session(engine) as session:

        def one_pass(n: int) -> Timing:
            clock = Clock()
            for first in range(0, n, UNIT_SIZE):
                with block():
                    for i in range(first, min(first + UNIT_SIZE, n)):
                        session.execute(select(item).where(item.id == i % ROWS)).scalar_one()
                session.expunge_all()
            return clock.per(n)

        one_pass(min(queries, 2000))  # warm-up: statement cache, fingerprints, call sites
        for _ in range(reps):
            timings.append(one_pass(queries))
    return timings


def run_sqlite_dbapi(tool: str, queries: int, reps: int) -> list[Timing]:
    import sqlite3

    connection: Any = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany(
        "INSERT INTO bench_items VALUES (?, ?)", [(i, f"item {i}") for i in range(ROWS)]
    )
    if tool.startswith("dbaudit"):
        from dbaudit.runtime import instrument

        connection = instrument(connection)
    block = unit_blocks(tool)

    def one_pass(n: int) -> Timing:
        clock = Clock()
        for first in range(0, n, UNIT_SIZE):
            with block():
                for i in range(first, min(first + UNIT_SIZE, n)):
                    connection.execute(
                        "SELECT * FROM bench_items WHERE id = ?", (i % ROWS,)
                    ).fetchone()
        return clock.per(n)

    one_pass(min(queries, 2000))
    return [one_pass(queries) for _ in range(reps)]


def run_pg_orm(tool: str, queries: int, reps: int, url: str) -> list[Timing]:
    from sqlalchemy import insert, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from dbaudit.db import sqlalchemy_url

    base, item = orm_models()

    async def main() -> list[Timing]:
        engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
        async with engine.begin() as conn:
            await conn.run_sync(base.metadata.drop_all)
            await conn.run_sync(base.metadata.create_all)
            await conn.execute(insert(item), [{"id": i, "name": f"item {i}"} for i in range(ROWS)])
        if tool.startswith("dbaudit"):
            from dbaudit.runtime import instrument

            instrument(engine)
        block = unit_blocks(tool)
        try:
            async with AsyncSession(engine) as session:

                async def one_pass(n: int) -> Timing:
                    clock = Clock()
                    for first in range(0, n, UNIT_SIZE):
                        with block():
                            for i in range(first, min(first + UNIT_SIZE, n)):
                                result = await session.execute(
                                    select(item).where(item.id == i % ROWS)
                                )
                                result.scalar_one()
                        session.expunge_all()
                    return clock.per(n)

                await one_pass(min(queries, 1000))
                return [await one_pass(queries) for _ in range(reps)]
        finally:
            await engine.dispose()

    return asyncio.run(main())


def run_pg_psycopg(tool: str, queries: int, reps: int, url: str) -> list[Timing]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_raw")
        connection.execute("CREATE TABLE bench_raw (id int PRIMARY KEY, name text)")
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_raw VALUES (%s, %s)", [(i, f"item {i}") for i in range(ROWS)]
            )
        if tool.startswith("dbaudit"):
            from dbaudit.runtime import instrument

            instrument(connection)
        block = unit_blocks(tool)

        def one_pass(n: int) -> Timing:
            clock = Clock()
            for first in range(0, n, UNIT_SIZE):
                with block():
                    for i in range(first, min(first + UNIT_SIZE, n)):
                        connection.execute(
                            "SELECT * FROM bench_raw WHERE id = %s", (i % ROWS,)
                        ).fetchone()
            return clock.per(n)

        one_pass(min(queries, 1000))
        return [one_pass(queries) for _ in range(reps)]


def run_reference(tool: str, queries: int, reps: int, url: str) -> list[Timing]:
    """Seconds per pass over every read operation, naive and optimized (writes are left out:
    they would need a restore between passes that is not part of the workload)."""
    from dbaudit.reference.render_platform import naive, optimized
    from dbaudit.reference.render_platform.operations import OPERATIONS

    dataset = load_reference_dataset(url)

    async def main() -> list[Timing]:
        engines = [variant.create_engine(url) for variant in (naive, optimized)]
        platforms = [
            variant.RenderPlatform(engine)
            for variant, engine in zip((naive, optimized), engines, strict=True)
        ]
        if tool.startswith("dbaudit"):
            from dbaudit.runtime import instrument

            for engine in engines:
                instrument(engine)
        reads = [op for op in OPERATIONS if not op.writes]
        block = unit_blocks(tool)

        async def one_pass() -> Timing:
            clock = Clock()
            for platform in platforms:
                for op in reads:
                    with block():
                        await op.call(platform, dataset)
            return clock.per(1)

        try:
            for _ in range(3):
                await one_pass()
            passes = [await one_pass() for _ in range(max(1, queries // 1000))]
            return [
                (statistics.median(p[0] for p in passes), statistics.median(p[1] for p in passes))
                for _ in range(reps)
            ]
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


def child(workload: str, tool: str, queries: int, reps: int, url: str | None) -> None:
    if workload == "sqlite-orm":
        timings = run_sqlite_orm(tool, queries, reps)
    elif workload == "sqlite-dbapi":
        timings = run_sqlite_dbapi(tool, queries, reps)
    elif workload == "pg-orm-asyncpg":
        timings = run_pg_orm(tool, queries, reps, str(url))
    elif workload == "pg-psycopg":
        timings = run_pg_psycopg(tool, queries, reps, str(url))
    else:
        timings = run_reference(tool, queries, reps, str(url))
    print(json.dumps({"timings": timings}))


# --------------------------------------------------------------------------- the parent side


def competitor_available(tool: str, directory: str | None) -> str | None:
    """None when importable, else the reason (printed as one clear line)."""
    module = {"queryguard": "pytest_queryguard", "queryspy": "queryspy"}[tool]
    code = f"import {module}"
    env = child_env(directory)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode == 0:
        return None
    where = f" in {directory}" if directory else ""
    return (
        f"{COMPETITORS[tool]} is not installed{where}: pip install --no-deps --target DIR "
        f"{COMPETITORS[tool].replace(' ', '==')} and pass --competitors DIR"
    )


def child_env(directory: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if directory:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (directory, env.get("PYTHONPATH", "")) if p)
    return env


def run_child(workload: str, tool: str, args: argparse.Namespace, url: str | None) -> list[Timing]:
    command = [sys.executable, __file__, "--child", workload, tool, "--queries", str(args.queries)]
    command += ["--reps", "1"] + (["--url", url] if url else [])
    directory = args.competitors if tool in COMPETITORS else None
    done = subprocess.run(command, env=child_env(directory), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{workload}/{tool} failed:\n{done.stderr[-2000:]}")
    timings = json.loads(done.stdout.strip().splitlines()[-1])["timings"]
    return [(float(wall), float(cpu)) for wall, cpu in timings]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=20_000, help="queries per measured pass")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per pair")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma separated")
    parser.add_argument(
        "--competitors",
        default=os.environ.get("DBAUDIT_BENCH_COMPETITORS")
        or (DEFAULT_COMPETITORS_DIR if os.path.isdir(DEFAULT_COMPETITORS_DIR) else None),
        help="directory holding pytest-queryguard and queryspy (pip install --target)",
    )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "TOOL"), help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.queries, args.reps, args.url)
        return 0

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        print(f"runtime_overhead: unknown workload(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    missing = {tool: competitor_available(tool, args.competitors) for tool in COMPETITORS}
    for reason in missing.values():
        if reason:
            print(f"note: {reason}")

    needs_pg = any(w.startswith("pg") or w == "reference" for w in workloads)
    with contextlib.ExitStack() as stack:
        url = None
        if needs_pg:
            from dbaudit.db import redact, resolve_server, temporary_database

            server = stack.enter_context(resolve_server())
            url = stack.enter_context(temporary_database(server))
            stack.callback(_remove, dataset_marker(url))
            print(f"PostgreSQL: {redact(server.url)} ({server.source})")
        print(f"{args.queries} queries per pass, {args.rounds} rounds, unit = {UNIT_SIZE} queries")
        for workload in workloads:
            tools = [t for t in WORKLOADS[workload] if not missing.get(t)]
            samples: dict[str, list[Timing]] = {tool: [] for tool in tools}
            queries = (
                args.queries if not workload.startswith("pg") else max(1000, args.queries // 4)
            )
            run_args = argparse.Namespace(**{**vars(args), "queries": queries})
            for _ in range(args.rounds):
                for tool in tools:
                    samples[tool] += run_child(workload, tool, run_args, url)
            report(workload, samples, queries)
    return 0


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def report(workload: str, samples: dict[str, list[Timing]], queries: int) -> None:
    """CPU: the best round (least disturbed by other processes); wall: the median round."""
    cpu = {tool: min(t[1] for t in values) for tool, values in samples.items()}
    wall = {tool: statistics.median(t[0] for t in values) for tool, values in samples.items()}
    print()
    if workload == "reference":
        print(
            "reference app, read operations of both variants, one pass: "
            f"{wall['bare'] * 1000:.1f} ms wall, {cpu['bare'] * 1000:.1f} ms client CPU (bare)"
        )
        for tool in samples:
            if tool != "bare":
                wall_pct = 100 * (wall[tool] / wall["bare"] - 1)
                cpu_pct = 100 * (cpu[tool] / cpu["bare"] - 1)
                print(
                    f"  {tool:12s} wall {wall[tool] * 1000:7.1f} ms ({wall_pct:+.1f}%)"
                    f"   client CPU {cpu[tool] * 1000:7.1f} ms ({cpu_pct:+.1f}%)"
                )
        return
    print(f"{workload}: {queries} queries per pass, per query:")
    header = ("tool", "CPU us", "overhead", "ratio", "wall us", "overhead")
    print("  {:12s} {:>8s} {:>10s} {:>6s} {:>9s} {:>10s}".format(*header))
    for tool in samples:
        cpu_over = (cpu[tool] - cpu["bare"]) * 1e6
        wall_over = (wall[tool] - wall["bare"]) * 1e6
        ratio = cpu[tool] / cpu["bare"]
        print(
            f"  {tool:12s} {cpu[tool] * 1e6:8.1f} {cpu_over:+9.1f}us {ratio:5.2f}x"
            f" {wall[tool] * 1e6:9.1f} {wall_over:+9.1f}us"
        )


if __name__ == "__main__":
    sys.exit(main())
