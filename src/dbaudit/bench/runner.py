"""Run before/after cases behind the delay proxy and collect what the report prints.

A :class:`Case` is one operation in two variants (``before`` = naive, ``after`` = optimized).
For each case the runner measures, in one run and interleaving the two variants so that a noisy
neighbour on a shared machine hurts both alike:

- statements (SQLAlchemy cursor events) and wire round trips (client turns counted by the proxy) of
  one call;
- median and p95 latency at each injected one-way delay;
- optionally, the throughput of ``clients`` concurrent callers at one delay.

The measured ``SELECT 1`` round-trip time at each delay is reported alongside, so a reader sees
what "1 ms" really cost on this machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from dbaudit.bench.counting import count_statements
from dbaudit.bench.proxy import DelayProxy
from dbaudit.bench.stats import LatencySummary, summarize

Call = Callable[[], Awaitable[object]]
Restore = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subject:
    """One variant of an operation, ready to call.

    ``restore`` undoes the writes of a call; it runs untimed right after every call, so each
    call (and every case after this one) starts from the loaded data; ``None`` for reads.
    """

    call: Call
    engine: AsyncEngine
    restore: Restore | None = None


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    before: Subject
    after: Subject
    writes: bool = False
    # Why there is no concurrent run for this case (None: there is one).
    no_concurrency_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    delays_ms: tuple[float, ...] = (0.0, 1.0)
    repeat: int = 30
    warmup: int = 3
    clients: int = 50
    calls_per_client: int = 4
    concurrency_delay_ms: float | None = 1.0  # None: no concurrent run
    rtt_samples: int = 50

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ValueError("repeat must be at least 1")
        if self.warmup < 1:
            # The counts are taken over the warm-up calls (the fewest of them).
            raise ValueError("warmup must be at least 1")
        if any(d < 0 for d in self.delays_ms):
            raise ValueError("delays cannot be negative")
        if not self.delays_ms:
            raise ValueError("at least one delay setting is needed")


@dataclass(frozen=True, slots=True)
class RoundTripTime:
    """``SELECT 1`` measured through the proxy at one injected one-way delay."""

    delay_ms: float
    rtt: LatencySummary


@dataclass(frozen=True, slots=True)
class LatencyAt:
    delay_ms: float
    latency: LatencySummary


@dataclass(frozen=True, slots=True)
class Throughput:
    clients: int
    calls: int
    elapsed_s: float
    delay_ms: float

    @property
    def per_second(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class VariantResult:
    statements: int
    wire_round_trips: int
    latencies: tuple[LatencyAt, ...]
    throughput: Throughput | None

    def latency_at(self, delay_ms: float) -> LatencySummary:
        for item in self.latencies:
            if item.delay_ms == delay_ms:
                return item.latency
        raise KeyError(delay_ms)


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    writes: bool
    before: VariantResult
    after: VariantResult
    no_concurrency_reason: str | None


@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    settings: Settings
    rtts: tuple[RoundTripTime, ...]
    cases: tuple[CaseResult, ...]


async def measure_rtt(proxy_url: str, samples: int) -> LatencySummary:
    """Median/p95 of ``SELECT 1`` on one connection through the proxy (statement prepared once)."""
    connection = await asyncpg.connect(proxy_url)
    try:
        await connection.fetchval("SELECT 1")
        durations = []
        for _ in range(samples):
            started = time.perf_counter()
            await connection.fetchval("SELECT 1")
            durations.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return summarize(durations)


async def _timed(subject: Subject) -> float:
    started = time.perf_counter()
    try:
        await subject.call()
        return time.perf_counter() - started
    finally:
        if subject.restore is not None:
            await subject.restore()


async def _counts(subject: Subject, proxy: DelayProxy, calls: int) -> tuple[int, int]:
    """Statements and wire round trips of a call on a warm connection: the fewest over ``calls``.

    A pool hands out its connections in turn, and a connection that has not run a statement
    yet must prepare it first (an extra round trip); the fewest is the steady state.
    """
    found: list[tuple[int, int]] = []
    for _ in range(calls):
        before_wire = proxy.counts.snapshot()
        try:
            with count_statements(subject.engine) as counter:
                await subject.call()
        finally:
            if subject.restore is not None:
                await subject.restore()
        found.append((counter.statements, (proxy.counts.snapshot() - before_wire).round_trips))
    return min(found, key=lambda pair: (pair[1], pair[0]))


async def _concurrent(subject: Subject, clients: int, calls_per_client: int) -> tuple[int, float]:
    async def client() -> None:
        for _ in range(calls_per_client):
            await subject.call()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return clients * calls_per_client, time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class _Serial:
    """What the one-caller phase measured for one case, both variants."""

    counts: tuple[tuple[int, int], tuple[int, int]]
    samples: dict[tuple[int, float], list[float]]


async def _serial(case: Case, proxy: DelayProxy, settings: Settings) -> _Serial:
    subjects = (case.before, case.after)
    proxy.delay_s = 0.0
    for _ in range(settings.warmup):
        for subject in subjects:
            await _timed(subject)
    before = await _counts(case.before, proxy, settings.warmup)
    after = await _counts(case.after, proxy, settings.warmup)

    samples: dict[tuple[int, float], list[float]] = {}
    for delay_ms in settings.delays_ms:
        proxy.delay_s = delay_ms / 1000.0
        for _ in range(settings.repeat):
            # Alternate the variants so drift on a shared machine hits both alike.
            for index, subject in enumerate(subjects):
                samples.setdefault((index, delay_ms), []).append(await _timed(subject))
    proxy.delay_s = 0.0
    return _Serial((before, after), samples)


async def _throughputs(
    case: Case, proxy: DelayProxy, settings: Settings
) -> tuple[Throughput | None, Throughput | None]:
    if settings.concurrency_delay_ms is None or case.no_concurrency_reason is not None:
        return None, None
    proxy.delay_s = settings.concurrency_delay_ms / 1000.0
    found = []
    for subject in (case.before, case.after):
        calls, elapsed = await _concurrent(subject, settings.clients, settings.calls_per_client)
        found.append(Throughput(settings.clients, calls, elapsed, settings.concurrency_delay_ms))
    proxy.delay_s = 0.0
    return found[0], found[1]


def _result(
    case: Case,
    serial: _Serial,
    throughputs: tuple[Throughput | None, Throughput | None],
    settings: Settings,
) -> CaseResult:
    variants = tuple(
        VariantResult(
            statements=serial.counts[index][0],
            wire_round_trips=serial.counts[index][1],
            latencies=tuple(
                LatencyAt(delay_ms, summarize(serial.samples[(index, delay_ms)]))
                for delay_ms in settings.delays_ms
            ),
            throughput=throughputs[index],
        )
        for index in range(2)
    )
    return CaseResult(case.name, case.writes, variants[0], variants[1], case.no_concurrency_reason)


async def run_benchmark(
    cases: Sequence[Case],
    proxy: DelayProxy,
    proxy_url: str,
    settings: Settings,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Measure the ``SELECT 1`` RTT at every delay, then every case one caller at a time, then
    every case under concurrent callers; ``progress`` hears a line after each step.

    The concurrent runs come last: they grow the pools, and a grown pool hands the one-caller
    phase connections that have not prepared its statements yet.
    """
    report = progress or (lambda _: None)
    rtts = []
    for delay_ms in settings.delays_ms:
        proxy.delay_s = delay_ms / 1000.0
        rtts.append(RoundTripTime(delay_ms, await measure_rtt(proxy_url, settings.rtt_samples)))
    proxy.delay_s = 0.0
    serials = []
    for case in cases:
        serials.append(await _serial(case, proxy, settings))
        report(f"measured {case.name}")
    results = []
    for case, serial in zip(cases, serials, strict=True):
        throughputs = await _throughputs(case, proxy, settings)
        if throughputs[0] is not None:
            report(f"measured {case.name} with {settings.clients} concurrent clients")
        results.append(_result(case, serial, throughputs, settings))
    return BenchmarkResult(settings, tuple(rtts), tuple(results))
