"""``dbaudit demo``: the whole story on the bundled reference app, in one ``Audit``.

1. The naive and the optimized variant of the reference render platform are audited statically
   (the code as installed, with the shared ``schema.py``) and summarised.
2. The demo resolves a PostgreSQL server (``DBAUDIT_DATABASE_URL``, 127.0.0.1:5432, else an
   embedded one), creates two temporary databases (one per variant: the optimized schema has
   indexes the naive one lacks), loads the same data into both and runs every operation of both
   variants behind a delay proxy that imitates a networked database (the before/after table).
3. The naive operations run once more under dbaudit's runtime profiler, on their own engine, and
   the runtime findings are merged into the static audit: each finding the profiler saw is
   marked confirmed with its measured queries and time (:mod:`dbaudit.demo.confirmation`).
4. The naive database is reviewed live, with the profiled statements as the workload: index
   advice judged by the planner, index health, connection settings
   (:mod:`dbaudit.demo.live_review`).
5. That one ``Audit`` (static findings confirmed at runtime, live findings, ``Audit.database``
   and the measured numbers per operation in ``Audit.metrics``) is written as ``audit.md`` and
   ``audit.html`` (into the current directory, ``--output-dir`` or not at all with
   ``--no-report``).

The terminal shows the same order: static summary, runtime confirmation, live review, measured
before/after table, the files written. The temporary databases and any embedded server are
removed on exit, on errors and on Ctrl-C or SIGTERM.

``--json`` prints one document: ``audit`` (per variant: files, lines, findings by severity and
by rule, good practices; ``reports``: the paths written, or null), ``runtime`` (per operation the
queries profiled and expected, the static findings confirmed and not, with the reason, and the
runtime-only ones), ``review`` (planner method, workload cost before and after, recommended
indexes, findings by rule, problems), ``database`` (source and redacted URL),
``temporary_databases``, ``rows`` per table, ``settings``, ``select1_rtt`` and, per operation,
``statements`` and ``wire_round_trips``, latency per delay, throughput, ``improvement_pct``,
``results_equal`` and the ``expected_statements`` of the operations table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from dbaudit.bench.reference import ReferenceRun, run_reference
from dbaudit.bench.runner import Settings
from dbaudit.bench.table import render_plain, render_rich, to_json
from dbaudit.cli import UsageError
from dbaudit.db import (
    DatabaseUnavailable,
    PostgresServer,
    redact,
    resolve_server,
    temporary_database,
)
from dbaudit.demo.confirmation import (
    Confirmation,
    confirm,
    confirmation_json,
    confirmation_rows,
    profile_naive_operations,
    verdict,
)
from dbaudit.demo.confirmation import headline as confirmation_headline
from dbaudit.demo.live_review import (
    LiveReview,
    advice_rows,
    advice_summary,
    demo_scale,
    other_findings_lines,
    review_json,
    review_naive_database,
    with_review,
    workload_from_units,
)
from dbaudit.demo.live_review import headline as review_headline
from dbaudit.demo.reference_audit import (
    VARIANTS,
    Variant,
    VariantSummary,
    WrittenReports,
    audit_variant,
    headline,
    measured_metrics,
    prepare_output_dir,
    reference_app_dir,
    rule_rows,
    summarize,
    summary_json,
    summary_lines,
    with_metrics,
    write_reports,
)
from dbaudit.findings import Audit
from dbaudit.runtime import Unit

HELP = (
    "Audit the bundled reference app, measure naive vs optimized on a real PostgreSQL, "
    "write audit.md and audit.html."
)

DEFAULT_DELAY_MS = 1.0
DEFAULT_REPEAT = 10
DEFAULT_CLIENTS = 20
DEFAULT_CALLS_PER_CLIENT = 3
SEVERITY_STYLES = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
NAIVE_INSIDE = "render_platform/naive/"  # printed paths are shown inside the naive app
SOURCE_NAMES = {
    "env": "DBAUDIT_DATABASE_URL",
    "local": "local server",
    "embedded": "embedded PostgreSQL (pgserver)",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=DEFAULT_DELAY_MS,
        metavar="MS",
        help="one-way network delay injected in each direction (default %(default)g; 0 allowed)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        metavar="N",
        help="timed calls per operation and variant (default %(default)d)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=DEFAULT_CLIENTS,
        metavar="N",
        help="concurrent clients for the throughput run; 0 skips it (default %(default)d)",
    )
    parser.add_argument(
        "--calls-per-client",
        type=int,
        default=DEFAULT_CALLS_PER_CLIENT,
        metavar="N",
        help="calls each concurrent client makes (default %(default)d)",
    )
    parser.add_argument("--seed", type=int, default=0, help="data generator seed (default 0)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of tables"
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        metavar="DIR",
        help="where audit.md and audit.html go, created if missing (default: current directory)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="do not write audit.md and audit.html"
    )


def settings_from(args: argparse.Namespace) -> Settings:
    if args.delay_ms < 0:
        raise UsageError(f"--delay-ms must be 0 or more, not {args.delay_ms:g}")
    if args.repeat < 1:
        raise UsageError(f"--repeat must be at least 1, not {args.repeat}")
    if args.clients < 0:
        raise UsageError(f"--clients must be 0 or more, not {args.clients}")
    if args.calls_per_client < 1:
        raise UsageError(f"--calls-per-client must be at least 1, not {args.calls_per_client}")
    return Settings(
        delays_ms=(args.delay_ms,),
        repeat=args.repeat,
        warmup=2,
        clients=args.clients,
        calls_per_client=args.calls_per_client,
        concurrency_delay_ms=args.delay_ms if args.clients > 0 else None,
        rtt_samples=20,
    )


@contextlib.contextmanager
def _server() -> Iterator[PostgresServer]:
    with warnings.catch_warnings():
        # pgserver's platformdirs warns about XDG_RUNTIME_DIR on minimal machines; not ours.
        warnings.filterwarnings("ignore", module="platformdirs")
        server = resolve_server()
    with server:
        yield server


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold a Ctrl-C or a SIGTERM back until the block is done, then act on it.

    An event loop interrupted half-built cannot be closed, and its ``__del__`` prints a
    traceback at exit (a SIGTERM there, whose handler raises SystemExit, made the demo exit 1
    instead of 143). A signal the interpreter received but has not handled yet is handled by
    the handler installed when it gets to it, so swapping handlers leaves no gap.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {held: signal.signal(held, hold) for held in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
    if signal.SIGTERM in received:
        handler = previous[signal.SIGTERM]
        if callable(handler):  # the CLI's: SystemExit(128 + SIGTERM), which unwinds
            handler(signal.SIGTERM, None)
        else:
            signal.raise_signal(signal.SIGTERM)
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _database(server: PostgresServer) -> Iterator[str]:
    """A temporary database on ``server``, dropped on exit; failing to create one is one line."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_database(server))
        except psycopg.Error as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise DatabaseUnavailable(
                f"cannot create a temporary database on {redact(server.url)}: {first_line}"
            ) from None
        yield url


def _database_name(url: str) -> str:
    return make_url(url).database or ""


def _report_dir(args: argparse.Namespace) -> Path | None:
    """Checked before anything slow runs, so a bad ``--output-dir`` costs no measurement."""
    if args.no_report:
        if args.output_dir is not None:
            raise UsageError("--output-dir and --no-report cannot be used together")
        return None
    directory = args.output_dir if args.output_dir is not None else "."
    try:
        return prepare_output_dir(directory)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"--output-dir {directory}: {reason}") from None


async def _measure_and_profile(
    naive_url: str,
    optimized_url: str,
    settings: Settings,
    seed: int,
    progress: Callable[[str], None],
) -> tuple[ReferenceRun, list[Unit]]:
    """The measured before/after first, then the profiled pass: the profiler never runs while
    something is timed for the table."""
    reference = await run_reference(
        naive_url, optimized_url, settings, scale=demo_scale(), seed=seed, progress=progress
    )
    units = await profile_naive_operations(naive_url, reference.dataset)
    progress("profiled the naive operations under the runtime profiler")
    return reference, units


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    report_dir = _report_dir(args)
    on_terminal = sys.stdout.isatty() and not args.json
    progress = Console(stderr=True, soft_wrap=True)
    console = Console(soft_wrap=True) if on_terminal else None

    def report(step: str) -> None:
        if not args.json:
            progress.print(f"  {step}", style="dim", highlight=False)

    # The story starts with what reading the code finds; that needs no database (about a second).
    audits: dict[Variant, Audit] = {variant: audit_variant(variant) for variant in VARIANTS}
    summaries = {variant: summarize(variant, audits[variant]) for variant in VARIANTS}
    if not args.json:
        print_summaries(summaries, console)

    with _server() as server, _database(server) as naive_url, _database(server) as optimized_url:
        databases = [_database_name(naive_url), _database_name(optimized_url)]
        if not args.json:
            progress.print(
                f"dbaudit demo: reference render platform on {SOURCE_NAMES[server.source]} "
                f"({redact(server.url)}), temporary databases {' and '.join(databases)}, "
                f"{args.delay_ms:g} ms one-way delay",
                highlight=False,
            )

        measuring = _measure_and_profile(naive_url, optimized_url, settings, args.seed, report)
        try:
            runner = asyncio.Runner()
            try:
                with _signals_deferred():
                    runner.get_loop()  # builds the event loop
                reference, units = runner.run(measuring)
            except asyncio.CancelledError:
                # asyncio.Runner turns Ctrl-C into cancelling the main task; when a cleanup
                # inside (a task group, a wait_for) cancelled it once more, the CancelledError
                # escapes instead of KeyboardInterrupt. Nothing else cancels the main task.
                raise KeyboardInterrupt from None
            finally:
                runner.close()
        finally:
            # A Ctrl-C before the runner started it must not add a "never awaited" warning.
            measuring.close()
        live = review_naive_database(naive_url, workload_from_units(units))
        report("reviewed the naive database live")

    confirmation = confirm(audits["naive"], units, reference_app_dir().parent)
    # the one Audit every report renders: static findings confirmed at runtime, the live
    # review's findings and record, the measured numbers per operation
    audit = with_metrics(with_review(confirmation.audit, live), measured_metrics(reference.result))
    written = None
    if report_dir is not None:
        try:
            written = write_reports(audit, report_dir)
        except OSError as error:
            raise UsageError(f"cannot write the reports into {report_dir}: {error}") from None

    if args.json:
        document = {
            "audit": audit_json(summaries, written),
            "runtime": confirmation_json(confirmation),
            "review": review_json(live),
            **demo_json(reference, server, databases),
        }
        print(json.dumps(document, indent=2))
        return 0
    print_confirmation(confirmation, console)
    print_review(live, console)
    if console is not None:
        render_rich(reference.result, console)
        for line in [*notes(reference), "", *report_lines(written)]:
            console.print(line, highlight=False)
    else:
        sys.stdout.write(render_plain(reference.result))
        for line in [*notes(reference), "", *report_lines(written)]:
            print(line)
    return 0


def _print_rows(
    rows: Sequence[Sequence[str]],
    console: Console | None,
    headers: Sequence[str],
    styled: Callable[[Sequence[str]], Sequence[str]] | None = None,
) -> None:
    """Aligned columns: a Rich table on a terminal, plain padded text in a pipe (no header).

    The last column is free text and is neither padded nor wrapped.
    """
    if not rows:
        return
    if console is None:
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print(f"  {'  '.join([*cells, row[-1]])}")
        return
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0))
    for number, header in enumerate(headers):
        last = number == len(headers) - 1
        table.add_column(f"  {header}" if number == 0 else header, no_wrap=not last)
    for row in rows:
        cells = list(styled(row) if styled is not None else row)
        table.add_row(f"  {cells[0]}", *cells[1:])
    console.print(table)


def _title(text: str, console: Console | None) -> None:
    if console is None:
        print(text)
    else:
        console.print(f"[bold]{text}[/]", highlight=False)


def _line(text: str, console: Console | None, style: str | None = None) -> None:
    if console is None:
        print(text)
    else:
        console.print(text, style=style, highlight=False)


def _severity_styled(row: Sequence[str]) -> Sequence[str]:
    return [row[0], f"[{SEVERITY_STYLES.get(row[1], '')}]{row[1]}[/]", *row[2:]]


def print_confirmation(confirmation: Confirmation, console: Console | None) -> None:
    """Step 3 on the terminal: the profiled operations, then each static finding confirmed or
    not (with the reason), then the findings only the runtime saw."""
    _title("Confirmed at runtime (the naive operations under dbaudit's profiler)", console)
    _line(confirmation_headline(confirmation), console)
    complete = not confirmation.unconfirmed and not confirmation.runtime_only
    _line(verdict(confirmation), console, "green" if complete else None)
    _print_rows(
        confirmation_rows(confirmation, NAIVE_INSIDE),
        console,
        ("rule", "severity", "where", "function", "runtime"),
        _severity_styled,
    )
    _line("", console)


def print_review(live: LiveReview, console: Console | None) -> None:
    """Step 4 on the terminal: what the advisor was given and advised, then the other live
    findings (index health, connection settings) one line per rule."""
    _title("Live review of the naive database", console)
    _line(review_headline(live), console)
    for line in advice_summary(live):
        _line(line, console)
    _print_rows(advice_rows(live), console, ("priority", "size", "helps", "index"))
    for line in other_findings_lines(live):
        _line(line, console)
    _line("", console)


def print_summaries(summaries: dict[Variant, VariantSummary], console: Console | None) -> None:
    """The static audit's summary: a table per rule for naive, one line for optimized."""
    if console is None:
        print("Static audit of the bundled reference app")
        for summary in summaries.values():
            for line in summary_lines(summary):
                print(line)
        print(flush=True)
        return
    console.print("[bold]Static audit of the bundled reference app[/]")
    for summary in summaries.values():
        clean = summary.at_or_above_low == 0
        console.print(headline(summary), style="green" if clean else None, highlight=False)
        if clean:
            continue
        table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0))
        table.add_column("  rule", no_wrap=True)
        table.add_column("name", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("files")
        for rule, name, severity, count, files in rule_rows(summary):
            styled = f"[{SEVERITY_STYLES[severity]}]{severity}[/]"
            table.add_row(f"  {rule}", name, styled, count, files)
        console.print(table)
    console.print()


def report_lines(written: WrittenReports | None) -> list[str]:
    if written is None:
        return ["reports not written (--no-report)"]
    return [
        "audit of the naive app (static findings confirmed at runtime, the live review, the "
        "measured numbers above per operation):",
        f"  {written.markdown}",
        f"  {written.html}",
    ]


def audit_json(
    summaries: dict[Variant, VariantSummary], written: WrittenReports | None
) -> dict[str, Any]:
    return {
        **{variant: summary_json(summary) for variant, summary in summaries.items()},
        "reports": None
        if written is None
        else {"markdown": str(written.markdown), "html": str(written.html)},
    }


def notes(reference: ReferenceRun) -> list[str]:
    """Lines under the table: result equality and any statement count off the app's table."""
    lines = [""]
    unequal = [name for name, equal in reference.results_equal if not equal]
    if unequal:
        lines.append("naive and optimized returned DIFFERENT results for: " + ", ".join(unequal))
    else:
        lines.append(
            f"naive and optimized returned identical results for all "
            f"{len(reference.results_equal)} operations"
        )
    measured = {case.name: case for case in reference.result.cases}
    for name, naive, optimized in reference.expected_statements:
        case = measured[name]
        if (case.before.statements, case.after.statements) != (naive, optimized):
            lines.append(
                f"{name}: measured {case.before.statements} → {case.after.statements} "
                f"statements; the operations table states {naive} → {optimized}"
            )
    overhead = dict(reference.checkout_overhead)
    lines.append(
        f"each use of a pooled connection costs wire round trips besides its statements: "
        f"naive engine {overhead.get('naive')}, optimized engine {overhead.get('optimized')} "
        f"(BEGIN/ROLLBACK, plus pool pre-ping where enabled)"
    )
    lines.append(
        "statements: SQL statements the app sent (SQLAlchemy cursor events), the round trips "
        "of the operations table; wire round trips: times a client waited on the network, "
        "counted by the proxy over all connections, with BEGIN/ROLLBACK, statement "
        "preparation and pool pre-ping"
    )
    return lines


def demo_json(
    reference: ReferenceRun, server: PostgresServer, databases: list[str]
) -> dict[str, Any]:
    document = to_json(reference.result)
    equal = dict(reference.results_equal)
    expected = {name: (naive, opt) for name, naive, opt in reference.expected_statements}
    for operation in document["operations"]:
        operation["results_equal"] = equal[operation["name"]]
        naive, optimized = expected[operation["name"]]
        operation["expected_statements"] = {"naive": naive, "optimized": optimized}
    return {
        "database": {"source": server.source, "url": redact(server.url)},
        "temporary_databases": databases,
        "rows": dict(reference.row_counts),
        "checkout_overhead_round_trips": dict(reference.checkout_overhead),
        **document,
    }
