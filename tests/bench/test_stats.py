"""Median, p95 and improvement figures."""

from __future__ import annotations

import math

import pytest

from dbaudit.bench.stats import improvement_pct, percentile, summarize, throughput_gain_pct


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 1.0) == 20.0
    assert percentile([7.0], 0.95) == 7.0


@pytest.mark.parametrize("fraction", [0.0, 1.5])
def test_percentile_rejects_bad_fractions(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], fraction)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_summarize_reports_milliseconds() -> None:
    summary = summarize([0.001, 0.002, 0.010])
    assert summary.samples == 3
    assert summary.median_ms == pytest.approx(2.0)
    assert summary.p95_ms == pytest.approx(10.0)


def test_summarize_of_nothing_is_nan() -> None:
    summary = summarize([])
    assert summary.samples == 0
    assert math.isnan(summary.median_ms)


def test_improvement_and_gain() -> None:
    assert improvement_pct(100.0, 13.0) == pytest.approx(87.0)
    assert improvement_pct(1.0, 2.0) == pytest.approx(-100.0)
    assert math.isnan(improvement_pct(0.0, 1.0))
    assert throughput_gain_pct(50.0, 100.0) == pytest.approx(100.0)
    assert math.isnan(throughput_gain_pct(0.0, 1.0))
