"""Summaries of latency samples: median, p95 and the improvement of one figure over another."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latencies in milliseconds over ``samples`` timed runs."""

    samples: int
    median_ms: float
    p95_ms: float


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``fraction`` of samples at or
    below it (so p95 of 20 samples is the 19th, never an interpolated value nobody measured).

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.95)
    5.0
    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5)
    3.0
    """
    if not values:
        raise ValueError("percentile of no samples")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[rank - 1]


def summarize(seconds: Sequence[float]) -> LatencySummary:
    """Median and p95 of durations given in seconds, reported in milliseconds."""
    millis = [s * 1000.0 for s in seconds]
    return LatencySummary(
        samples=len(millis),
        median_ms=statistics.median(millis) if millis else math.nan,
        p95_ms=percentile(millis, 0.95) if millis else math.nan,
    )


def improvement_pct(before: float, after: float) -> float:
    """How much smaller ``after`` is than ``before``, in percent (negative when it got worse).

    >>> improvement_pct(10.0, 1.3)
    87.0
    >>> improvement_pct(2.0, 3.0)
    -50.0
    """
    if before <= 0 or math.isnan(before) or math.isnan(after):
        return math.nan
    return round((before - after) / before * 100.0, 10)


def throughput_gain_pct(before_per_s: float, after_per_s: float) -> float:
    """How much higher a throughput got, in percent (``+100`` = twice as many per second).

    >>> throughput_gain_pct(100.0, 250.0)
    150.0
    """
    if before_per_s <= 0 or math.isnan(before_per_s) or math.isnan(after_per_s):
        return math.nan
    return round((after_per_s - before_per_s) / before_per_s * 100.0, 10)
