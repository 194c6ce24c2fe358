"""Rendering a benchmark result: plain text, rich and JSON read the same figures."""

from __future__ import annotations

import io
import json

from rich.console import Console

from dbaudit.bench.runner import (
    BenchmarkResult,
    CaseResult,
    LatencyAt,
    RoundTripTime,
    Settings,
    Throughput,
    VariantResult,
)
from dbaudit.bench.stats import LatencySummary
from dbaudit.bench.table import render_plain, render_rich, to_json


def _variant(statements: int, round_trips: int, medians: tuple[float, float], per_s: float):
    return VariantResult(
        statements=statements,
        wire_round_trips=round_trips,
        latencies=(
            LatencyAt(0.0, LatencySummary(10, medians[0], medians[0] * 1.5)),
            LatencyAt(1.0, LatencySummary(10, medians[1], medians[1] * 1.5)),
        ),
        throughput=Throughput(clients=50, calls=200, elapsed_s=200 / per_s, delay_ms=1.0),
    )


def _result() -> BenchmarkResult:
    settings = Settings(repeat=10, clients=50, calls_per_client=4)
    return BenchmarkResult(
        settings=settings,
        rtts=(
            RoundTripTime(0.0, LatencySummary(50, 0.12, 0.2)),
            RoundTripTime(1.0, LatencySummary(50, 2.25, 2.4)),
        ),
        cases=(
            CaseResult(
                "get_user_projects",
                False,
                _variant(51, 53, (10.0, 120.0), 400.0),
                _variant(2, 4, (2.0, 10.0), 2000.0),
                None,
            ),
            CaseResult(
                "delete_chain",
                True,
                _variant(52, 54, (20.0, 130.0), 1.0),
                _variant(1, 3, (1.0, 8.0), 1.0),
                "each call deletes its input",
            ),
        ),
    )


def test_plain_text_has_the_rtt_and_one_table_per_delay_and_throughput() -> None:
    text = render_plain(_result())
    lines = text.splitlines()
    assert lines[0] == (
        "SELECT 1 round trip through the proxy at 0 ms one-way delay: median 0.12 ms, p95 0.20 ms"
    )
    assert "Before → after at 1 ms one-way delay (10 calls each)" in lines
    row = next(line for line in lines if line.startswith("get_user_projects") and "120" in line)
    assert " ".join(row.split()) == (
        "get_user_projects 51 → 2 53 → 4 120.00 → 10.00 180.00 → 15.00 92% faster"
    )
    throughput_row = next(line for line in reversed(lines) if line.startswith("get_user_projects"))
    assert throughput_row.split() == ["get_user_projects", "400", "2000", "+400%"]
    assert "delete_chain: no concurrent run: each call deletes its input" in lines


def test_rich_rendering_prints_the_same_figures() -> None:
    buffer = io.StringIO()
    render_rich(_result(), Console(file=buffer, width=160, color_system=None))
    output = buffer.getvalue()
    assert "51 → 2" in output
    assert "92% faster" in output
    assert "+400%" in output


def test_a_narrow_terminal_leaves_optional_columns_out_and_says_so() -> None:
    buffer = io.StringIO()
    render_rich(_result(), Console(file=buffer, width=80, color_system=None))
    lines = buffer.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "p95 ms" not in " ".join(line for line in lines if line.startswith("operation"))
    assert "(p95 ms left out to fit 80 columns; --json or a pipe shows every column)" in lines
    row = next(line for line in lines if line.startswith("get_user_projects") and "120" in line)
    assert " ".join(row.split()) == "get_user_projects 51 → 2 53 → 4 120.00 → 10.00 92% faster"


def test_a_wide_terminal_shows_every_column() -> None:
    buffer = io.StringIO()
    render_rich(_result(), Console(file=buffer, width=120, color_system=None))
    output = buffer.getvalue()
    assert "left out" not in output
    assert "180.00 → 15.00" in output
    assert "Throughput, 50 concurrent clients x 4 calls at 1 ms one-way delay" in output


def test_json_document() -> None:
    document = json.loads(json.dumps(to_json(_result())))
    assert [op["name"] for op in document["operations"]] == ["get_user_projects", "delete_chain"]
    first = document["operations"][0]
    assert first["naive"]["statements"] == 51
    assert first["optimized"]["wire_round_trips"] == 4
    assert first["naive"]["latency"]["1ms"]["median_ms"] == 120.0
    assert first["improvement_pct"]["1ms"] == 91.6667
    assert first["throughput_gain_pct"] == 400.0
    assert document["operations"][1]["no_concurrency_reason"] == "each call deletes its input"
    assert document["select1_rtt"][1] == {
        "delay_ms": 1.0,
        "samples": 50,
        "median_ms": 2.25,
        "p95_ms": 2.4,
    }
