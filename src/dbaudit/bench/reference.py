"""Turn the reference render platform's operations table into before/after benchmark cases.

Each variant gets its own database (the optimized schema has indexes the naive one lacks), loaded
with the same deterministic data, and its own engine from the variant's ``create_engine`` (its
own pool settings) pointed at the delay proxy. Write operations are undone between calls by
restoring every table from a snapshot taken right after the load, over a direct connection
that bypasses the proxy, so the restore is neither delayed nor counted.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbaudit.bench.proxy import DelayProxy, target_from_url, url_through_proxy
from dbaudit.bench.runner import BenchmarkResult, Case, Settings, Subject, run_benchmark
from dbaudit.db import sqlalchemy_url

SNAPSHOT_SCHEMA = "dbaudit_bench_snapshot"
NO_CONCURRENT_WRITES = (
    "each call deletes what it works on; concurrent callers would repeat a delete of nothing"
)


class Operation(Protocol):
    """What the benchmark reads from an entry of ``operations.OPERATIONS``."""

    @property
    def name(self) -> str: ...
    @property
    def call(self) -> Callable[[Any, Any], Awaitable[object]]: ...
    @property
    def naive_round_trips(self) -> int: ...
    @property
    def optimized_round_trips(self) -> int: ...
    @property
    def writes(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class LoadedReference:
    """Both variants loaded and connected through the proxy, ready to be measured."""

    cases: tuple[Case, ...]
    operations: tuple[Operation, ...]
    dataset: Any
    # (naive, optimized) result of one call of each operation compared with ``==``.
    results_equal: tuple[tuple[str, bool], ...]
    # ("naive" | "optimized", engine through the proxy)
    engines: tuple[tuple[str, AsyncEngine], ...]


def _modules() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType, ModuleType]:
    # Imported late so that the measuring machinery never depends on the reference app.
    from dbaudit.reference.render_platform import datagen, naive, operations, optimized, schema

    return naive, optimized, schema, datagen, operations


def table_names(schema_module: ModuleType) -> tuple[str, ...]:
    """Every table of the reference schema, parents before children."""
    return tuple(table.name for table in schema_module.Base.metadata.sorted_tables)


async def snapshot_tables(url: str, tables: Sequence[str]) -> None:
    """Copy every table into :data:`SNAPSHOT_SCHEMA` of the same database."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(f"CREATE SCHEMA {SNAPSHOT_SCHEMA}")
            for table in tables:
                await connection.execute(
                    f"CREATE TABLE {SNAPSHOT_SCHEMA}.{table} AS TABLE public.{table}"
                )
    finally:
        await connection.close()


def restore_script(columns: Mapping[str, Sequence[str]], key: str = "id") -> str:
    """SQL that makes every table equal to its snapshot again, touching only rows that differ.

    ``columns`` maps each table, parents first, to its columns. Missing rows come back parents
    first, changed rows are updated, and rows added since are deleted children first, so
    foreign keys hold after every statement (they are checked at its end, which also covers
    self-references). Nothing is truncated: on a busy machine, creating new files for ten
    tables costs far more than this.
    """
    inserts: list[str] = []
    updates: list[str] = []
    deletes: list[str] = []
    for table, names in columns.items():
        live, saved = f"public.{table}", f"{SNAPSHOT_SCHEMA}.{table}"
        inserts.append(
            f"INSERT INTO {live} SELECT s.* FROM {saved} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {live} t WHERE t.{key} = s.{key})"
        )
        updates.append(
            f"UPDATE {live} t SET ({', '.join(names)}) = "
            f"({', '.join(f's.{name}' for name in names)}) FROM {saved} s "
            f"WHERE t.{key} = s.{key} AND ROW(t.*) IS DISTINCT FROM ROW(s.*)"
        )
        deletes.insert(
            0,
            f"DELETE FROM {live} t WHERE NOT EXISTS "
            f"(SELECT 1 FROM {saved} s WHERE s.{key} = t.{key})",
        )
    return ";\n".join([*inserts, *updates, *deletes])


class Restorer:
    """Puts a database's tables back as the snapshot has them, over one direct connection.

    The script runs as one multi-statement simple query: one round trip, one transaction.
    """

    def __init__(self, url: str, tables: Sequence[str]) -> None:
        self._url = url
        self._tables = tuple(tables)
        self._script: str | None = None
        self._connection: asyncpg.Connection | None = None

    async def __call__(self) -> None:
        if self._connection is None:
            self._connection = await asyncpg.connect(self._url)
        if self._script is None:
            rows = await self._connection.fetch(
                "SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "GROUP BY table_name"
            )
            found = {row[0]: list(row[1]) for row in rows}
            self._script = restore_script({table: found[table] for table in self._tables})
        await self._connection.execute(self._script)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


async def _load_variant(
    url: str, variant: str, scale: Any, seed: int, schema: ModuleType, datagen: ModuleType
) -> Any:
    setup_engine = create_async_engine(sqlalchemy_url(url))
    try:
        await schema.create_schema(setup_engine, variant)
    finally:
        await setup_engine.dispose()
    return await datagen.generate(url, scale, seed)


@contextlib.asynccontextmanager
async def load_reference(
    naive_url: str,
    optimized_url: str,
    proxy_port: int,
    *,
    scale: Any = None,
    seed: int = 0,
) -> AsyncIterator[LoadedReference]:
    """Load both variants into their (empty) databases and yield cases that run through the proxy.

    ``naive_url`` and ``optimized_url`` are libpq URLs of two fresh databases; ``scale`` defaults
    to ``Scale.demo()``. The engines are disposed on exit; the databases are the caller's.
    """
    naive, optimized, schema, datagen, operations = _modules()
    scale = scale if scale is not None else datagen.Scale.demo()
    all_operations: tuple[Operation, ...] = tuple(operations.OPERATIONS)
    tables = table_names(schema)
    urls = {"naive": naive_url, "optimized": optimized_url}

    datasets = {
        variant: await _load_variant(url, variant, scale, seed, schema, datagen)
        for variant, url in urls.items()
    }
    if datasets["naive"] != datasets["optimized"]:
        raise RuntimeError("the data generator gave the two variants different datasets")
    dataset = datasets["naive"]

    # Write operations are undone by putting every table back from a snapshot taken after the
    # load. (An operation's own ``restore`` is not used: putting back only what it knows it
    # changed leaves e.g. ``updated_at`` behind, and the variants' data would drift apart.)
    restores: dict[str, Restorer] = {}
    if any(operation.writes for operation in all_operations):
        for variant, url in urls.items():
            await snapshot_tables(url, tables)
            restores[variant] = Restorer(url, tables)

    def restore_for(variant: str, operation: Operation) -> Callable[[], Awaitable[None]] | None:
        return restores[variant] if operation.writes else None

    engines: dict[str, AsyncEngine] = {}
    try:
        platforms = {}
        for variant, module in (("naive", naive), ("optimized", optimized)):
            engines[variant] = module.create_engine(url_through_proxy(urls[variant], proxy_port))
            platforms[variant] = module.RenderPlatform(engines[variant])

        def subject(variant: str, operation: Operation) -> Subject:
            platform = platforms[variant]

            async def call() -> object:
                return await operation.call(platform, dataset)

            return Subject(call, engines[variant], restore_for(variant, operation))

        cases = tuple(
            Case(
                name=operation.name,
                before=subject("naive", operation),
                after=subject("optimized", operation),
                writes=operation.writes,
                no_concurrency_reason=NO_CONCURRENT_WRITES if operation.writes else None,
            )
            for operation in all_operations
        )
        equal = []
        for case in cases:
            results = []
            for side in (case.before, case.after):
                results.append(await side.call())
                if side.restore is not None:
                    await side.restore()
            equal.append((case.name, results[0] == results[1]))
        yield LoadedReference(cases, all_operations, dataset, tuple(equal), tuple(engines.items()))
    finally:
        for engine in engines.values():
            await engine.dispose()
        for restore in restores.values():
            await restore.close()


@dataclass(frozen=True, slots=True)
class ReferenceRun:
    """A measured run of every reference operation, with what the operations table expected."""

    result: BenchmarkResult
    results_equal: tuple[tuple[str, bool], ...]
    # name -> (naive, optimized) statements the operations table states for demo scale.
    expected_statements: tuple[tuple[str, int, int], ...]
    row_counts: tuple[tuple[str, int], ...]
    # ("naive" | "optimized", wire round trips a checkout costs besides its statements)
    checkout_overhead: tuple[tuple[str, int], ...]
    # What ``datagen.generate`` loaded (the ids the operations are driven with), so a caller can
    # run the operations again on the same databases (the demo profiles the naive variant).
    dataset: Any = None


async def checkout_overhead(engine: AsyncEngine, proxy: DelayProxy) -> int:
    """Wire round trips one ``SELECT 1`` on a pooled connection costs beyond the statement itself
    (``BEGIN``/``ROLLBACK``, pool pre-ping, ...).

    The pool hands out its idle connections in turn and each prepares ``SELECT 1`` once, so
    the calls go once round the pool and the fewest is the steady state.
    """
    idle: int = getattr(engine.pool, "checkedin", lambda: 0)()
    found = []
    for _ in range(idle + 2):
        before = proxy.counts.snapshot()
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        found.append((proxy.counts.snapshot() - before).round_trips - 1)
    return min(found)


async def run_reference(
    naive_url: str,
    optimized_url: str,
    settings: Settings,
    *,
    scale: Any = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ReferenceRun:
    """Load both variants, measure every operation behind the delay proxy, clean up engines.

    The two databases must be on the same server (one proxy serves both).
    """
    async with (
        DelayProxy(target_from_url(naive_url)) as proxy,
        load_reference(naive_url, optimized_url, proxy.port, scale=scale, seed=seed) as loaded,
    ):
        result = await run_benchmark(
            loaded.cases, proxy, url_through_proxy(naive_url, proxy.port), settings, progress
        )
        proxy.delay_s = 0.0
        overhead = [
            (variant, await checkout_overhead(engine, proxy)) for variant, engine in loaded.engines
        ]
    return ReferenceRun(
        result=result,
        results_equal=loaded.results_equal,
        expected_statements=tuple(
            (op.name, op.naive_round_trips, op.optimized_round_trips) for op in loaded.operations
        ),
        row_counts=tuple(getattr(loaded.dataset, "row_counts", ())),
        checkout_overhead=tuple(overhead),
        dataset=loaded.dataset,
    )
