"""Print a :class:`BenchmarkResult` as the before/after table the audit report shows.

One table per injected delay (operation, statements, wire round trips, median and p95 before →
after, improvement), one throughput table for the concurrent run, and the measured ``SELECT 1``
RTT for each delay above them. The same rows feed a rich table (terminal), plain text (pipes, files,
README) and a JSON document (machines).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from dbaudit.bench.runner import BenchmarkResult, CaseResult, Throughput
from dbaudit.bench.stats import LatencySummary, improvement_pct, throughput_gain_pct

ARROW = "→"


@dataclass(frozen=True, slots=True)
class TextTable:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # Columns holding numbers are right-aligned.
    numeric: tuple[bool, ...]


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.0f}%"


def _faster(before: float, after: float) -> str:
    """``87% faster`` / ``12% slower``: the wording of the audit report."""
    pct = improvement_pct(before, after)
    if math.isnan(pct):
        return "n/a"
    return f"{pct:.0f}% faster" if pct >= 0 else f"{-pct:.0f}% slower"


def rtt_lines(result: BenchmarkResult) -> list[str]:
    return [
        f"SELECT 1 round trip through the proxy at {rtt.delay_ms:g} ms one-way delay: "
        f"median {_ms(rtt.rtt.median_ms)} ms, p95 {_ms(rtt.rtt.p95_ms)} ms"
        for rtt in result.rtts
    ]


def latency_table(result: BenchmarkResult, delay_ms: float) -> TextTable:
    rows = []
    for case in result.cases:
        before = case.before.latency_at(delay_ms)
        after = case.after.latency_at(delay_ms)
        rows.append(
            (
                case.name,
                f"{case.before.statements} {ARROW} {case.after.statements}",
                f"{case.before.wire_round_trips} {ARROW} {case.after.wire_round_trips}",
                f"{_ms(before.median_ms)} {ARROW} {_ms(after.median_ms)}",
                f"{_ms(before.p95_ms)} {ARROW} {_ms(after.p95_ms)}",
                _faster(before.median_ms, after.median_ms),
            )
        )
    samples = result.settings.repeat
    return TextTable(
        title=f"Before {ARROW} after at {delay_ms:g} ms one-way delay ({samples} calls each)",
        headers=(
            "operation",
            "statements",
            "wire round trips",
            "median ms",
            "p95 ms",
            "improvement",
        ),
        rows=tuple(rows),
        numeric=(False, True, True, True, True, True),
    )


def _per_s(throughput: Throughput | None) -> float:
    return math.nan if throughput is None else throughput.per_second


def throughput_table(result: BenchmarkResult) -> TextTable | None:
    settings = result.settings
    if settings.concurrency_delay_ms is None:
        return None
    rows = []
    for case in result.cases:
        if case.no_concurrency_reason is not None:
            rows.append((case.name, "-", "-", "not run"))
            continue
        before, after = _per_s(case.before.throughput), _per_s(case.after.throughput)
        rows.append(
            (
                case.name,
                "n/a" if math.isnan(before) else f"{before:.0f}",
                "n/a" if math.isnan(after) else f"{after:.0f}",
                _pct(throughput_gain_pct(before, after)),
            )
        )
    return TextTable(
        title=(
            f"Throughput, {settings.clients} concurrent clients x {settings.calls_per_client} calls"
            f" at {settings.concurrency_delay_ms:g} ms one-way delay"
        ),
        headers=("operation", "before calls/s", "after calls/s", "gain"),
        rows=tuple(rows),
        numeric=(False, True, True, True),
    )


def throughput_notes(result: BenchmarkResult) -> list[str]:
    """Why an operation has no concurrent run (every "no" has a reason)."""
    if result.settings.concurrency_delay_ms is None:
        return []
    return [
        f"{case.name}: no concurrent run: {case.no_concurrency_reason}"
        for case in result.cases
        if case.no_concurrency_reason is not None
    ]


def tables(result: BenchmarkResult) -> list[TextTable]:
    found = [latency_table(result, delay) for delay in result.settings.delays_ms]
    throughput = throughput_table(result)
    if throughput is not None:
        found.append(throughput)
    return found


def render_plain(result: BenchmarkResult) -> str:
    """Fixed-width text: what is printed to a pipe and pasted into the benchmarks README."""
    blocks = ["\n".join(rtt_lines(result))]
    for table in tables(result):
        blocks.append(_plain_table(table))
    notes = throughput_notes(result)
    return "\n\n".join(blocks) + "\n" + "".join(f"{note}\n" for note in notes)


def _plain_table(table: TextTable) -> str:
    widths = [
        max(len(table.headers[i]), *(len(row[i]) for row in table.rows))
        if table.rows
        else len(table.headers[i])
        for i in range(len(table.headers))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(cells, widths, table.numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([table.title, line(table.headers), rule, *(line(row) for row in table.rows)])


# Columns a narrow terminal can do without: the JSON document and a pipe still have them.
OPTIONAL_COLUMNS = ("p95 ms", "wire round trips")


def fitted(table: TextTable, width: int) -> tuple[TextTable, tuple[str, ...]]:
    """``table`` without the optional columns it needs dropping to fit ``width`` characters
    (cells never wrap: a figure split across lines is harder to read than one left out)."""
    dropped: list[str] = []
    while _rich_width(table) > width:
        optional = [header for header in OPTIONAL_COLUMNS if header in table.headers]
        if not optional:
            break
        table = _without(table, table.headers.index(optional[0]))
        dropped.append(optional[0])
    return table, tuple(dropped)


def _rich_width(table: TextTable) -> int:
    widths = [
        max([len(table.headers[i])] + [len(row[i]) for row in table.rows])
        for i in range(len(table.headers))
    ]
    return sum(widths) + 2 * (len(widths) - 1)  # two spaces between columns, none at the edges


def _without(table: TextTable, index: int) -> TextTable:
    def drop(cells: tuple[Any, ...]) -> tuple[Any, ...]:
        return cells[:index] + cells[index + 1 :]

    return TextTable(
        title=table.title,
        headers=drop(table.headers),
        rows=tuple(drop(row) for row in table.rows),
        numeric=drop(table.numeric),
    )


def render_rich(result: BenchmarkResult, console: Console) -> None:
    for text in rtt_lines(result):
        console.print(text, style="dim", highlight=False)
    for full in tables(result):
        table, dropped = fitted(full, console.width)
        # The title is a line of its own: as a table title, rich wraps it to the table's width.
        rich_table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            collapse_padding=True,
        )
        for header, numeric in zip(table.headers, table.numeric, strict=True):
            rich_table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
        for row in table.rows:
            styled = list(row)
            last = row[-1]
            if last.endswith("faster") or last.startswith("+"):
                styled[-1] = f"[bold green]{last}[/]"
            elif last.endswith("slower") or last.startswith("-"):
                styled[-1] = f"[bold red]{last}[/]"
            rich_table.add_row(*styled)
        console.print()
        console.print(table.title, style="bold", highlight=False)
        console.print(rich_table)
        if dropped:
            console.print(
                f"({', '.join(dropped)} left out to fit {console.width} columns; "
                "--json or a pipe shows every column)",
                style="dim",
                highlight=False,
            )
    for note in throughput_notes(result):
        console.print(note, style="dim", highlight=False)


def _latency_json(summary: LatencySummary) -> dict[str, Any]:
    return {
        "samples": summary.samples,
        "median_ms": _finite(summary.median_ms),
        "p95_ms": _finite(summary.p95_ms),
    }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def _variant_json(case: CaseResult, which: str) -> dict[str, Any]:
    variant = case.before if which == "before" else case.after
    throughput = variant.throughput
    return {
        "statements": variant.statements,
        "wire_round_trips": variant.wire_round_trips,
        "latency": {
            f"{item.delay_ms:g}ms": _latency_json(item.latency) for item in variant.latencies
        },
        "throughput": None
        if throughput is None
        else {
            "clients": throughput.clients,
            "calls": throughput.calls,
            "elapsed_s": round(throughput.elapsed_s, 4),
            "delay_ms": throughput.delay_ms,
            "per_second": _finite(throughput.per_second),
        },
    }


def to_json(result: BenchmarkResult) -> dict[str, Any]:
    """A JSON-ready document; ``None`` stands for a figure that could not be computed."""
    settings = result.settings
    return {
        "settings": {
            "delays_ms": list(settings.delays_ms),
            "repeat": settings.repeat,
            "warmup": settings.warmup,
            "clients": settings.clients,
            "calls_per_client": settings.calls_per_client,
            "concurrency_delay_ms": settings.concurrency_delay_ms,
        },
        "select1_rtt": [
            {"delay_ms": rtt.delay_ms, **_latency_json(rtt.rtt)} for rtt in result.rtts
        ],
        "operations": [
            {
                "name": case.name,
                "writes": case.writes,
                "naive": _variant_json(case, "before"),
                "optimized": _variant_json(case, "after"),
                "improvement_pct": {
                    f"{delay:g}ms": _finite(
                        improvement_pct(
                            case.before.latency_at(delay).median_ms,
                            case.after.latency_at(delay).median_ms,
                        )
                    )
                    for delay in settings.delays_ms
                },
                "throughput_gain_pct": _finite(
                    throughput_gain_pct(
                        _per_s(case.before.throughput), _per_s(case.after.throughput)
                    )
                ),
                "no_concurrency_reason": case.no_concurrency_reason,
            }
            for case in result.cases
        ],
    }
