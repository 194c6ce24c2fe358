"""``dbaudit demo``: audit the bundled reference app, measure naive against optimized, report.

First the naive and the optimized variant of the reference render platform are audited
statically (the code as installed, with the shared ``schema.py``) and summarised. Then the demo
resolves a PostgreSQL server (``DBAUDIT_DATABASE_URL``, 127.0.0.1:5432, else an embedded one),
creates two temporary databases (one per variant: the optimized schema has indexes the naive
one lacks), loads the demo-scale data, runs every operation of both variants behind a delay
proxy that imitates a networked database, and prints the measured before/after table. The
temporary databases and any embedded server are removed on exit, on errors and on Ctrl-C.
Last, the naive audit gets the measured numbers per operation (``Audit.metrics``) and is written
as ``audit.md`` and ``audit.html`` (into the current directory, ``--output-dir`` or not at all
with ``--no-report``).

``--json`` prints one document: ``audit`` (per variant: files, lines, findings by severity and
by rule, good practices; ``reports``: the paths written, or null), ``database`` (source and
redacted URL), ``temporary_databases``, ``rows`` per table, ``settings``, ``select1_rtt``
and, per operation, ``statements`` and ``wire_round_trips``, latency per delay, throughput,
``improvement_pct``, ``results_equal`` and the ``expected_statements`` of the operations table.
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
from collections.abc import Iterator
from pathlib import Path
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
from dbaudit.demo.reference_audit import (
    VARIANTS,
    Variant,
    VariantSummary,
    WrittenReports,
    audit_variant,
    headline,
    prepare_output_dir,
    rule_rows,
    summarize,
    summary_json,
    summary_lines,
    write_reports,
)
from dbaudit.findings import Audit

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
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back until the block is done, then raise it.

    An event loop interrupted half-built cannot be closed, and its ``__del__`` prints a
    traceback at exit. A signal the interpreter received but has not handled yet is handled
    by the handler installed when it gets to it, so swapping handlers leaves no gap.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
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


def _database_label(server: PostgresServer) -> str:
    return f"PostgreSQL ({SOURCE_NAMES[server.source]})"


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

        measuring = run_reference(naive_url, optimized_url, settings, progress=report)
        try:
            runner = asyncio.Runner()
            try:
                with _ctrl_c_deferred():
                    runner.get_loop()  # builds the event loop
                reference = runner.run(measuring)
            finally:
                runner.close()
        finally:
            # A Ctrl-C before the runner started it must not add a "never awaited" warning.
            measuring.close()

    written = None
    if report_dir is not None:
        try:
            written = write_reports(
                audits["naive"], reference.result, report_dir, _database_label(server)
            )
        except OSError as error:
            raise UsageError(f"cannot write the reports into {report_dir}: {error}") from None

    if args.json:
        document = {
            "audit": audit_json(summaries, written),
            **demo_json(reference, server, databases),
        }
        print(json.dumps(document, indent=2))
    elif console is not None:
        render_rich(reference.result, console)
        for line in [*notes(reference), "", *report_lines(written)]:
            console.print(line, highlight=False)
    else:
        sys.stdout.write(render_plain(reference.result))
        for line in [*notes(reference), "", *report_lines(written)]:
            print(line)
    return 0


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
        "audit of the naive app, with the measured numbers above per operation:",
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
