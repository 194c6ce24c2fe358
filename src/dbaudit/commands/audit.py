"""``dbaudit audit PATH... [--runtime EVENTS.json ...] [--db URL]``: one audit from every source.

The static audit of Python, TypeScript and JavaScript code, with the runtime profiles
(``pytest --dbaudit-json`` files) folded in and, with ``--db``, the live PostgreSQL review
(index advice judged by the planner, index health, connection settings): one ``Audit``
(``dbaudit.complete_audit``), written as text, JSON, Markdown, HTML or SARIF
(``dbaudit.report.FORMATS``).

Exit status: 0 when the report was written and every file was analyzed, 3 when some files
could not be analyzed (syntax errors, unreadable, not UTF-8; they are listed in the report),
2 on usage errors, an unreadable events file or a database that cannot be reached. What the
database review could not do (no HypoPG, no workload) is a line on stderr and in the report;
the rest of the report is still written. Findings alone never fail ``audit``; ``dbaudit check``
is the CI gate.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console

from dbaudit.cli import UsageError
from dbaudit.commands._review_options import (
    add_review_arguments,
    advisor_settings,
    given_without_database,
)
from dbaudit.commands._static_options import add_scan_arguments, not_analyzed_exit, run_scan
from dbaudit.findings import Audit
from dbaudit.report import FORMATS, render
from dbaudit.report import text as text_report

if TYPE_CHECKING:
    from dbaudit.runtime.export import UnitRecord

HELP = (
    "Audit Python, TypeScript and JavaScript code for N+1 queries and other database"
    " performance problems; with runtime profiles and a live PostgreSQL review."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)
    parser.add_argument(
        "--format", "-f", choices=FORMATS, default="text", help="report format (default: text)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    add_runtime_argument(parser)
    parser.add_argument(
        "--db",
        metavar="URL",
        help="PostgreSQL URL to review: index advice judged by the planner, index health, "
        "connection settings (read-only: catalogs, statistics and EXPLAIN); the options "
        "below apply to it",
    )
    add_review_arguments(parser)


def add_runtime_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        nargs="+",
        action="extend",
        default=[],
        metavar="EVENTS.json",
        help="runtime events files (pytest --dbaudit-json): static findings the profile saw are "
        "marked confirmed with the measured queries and time, and before/after metrics are "
        "computed per test or request",
    )


def run(args: argparse.Namespace) -> int:
    from dbaudit.complete_audit import LiveOptions, complete

    units = load_runtime(args.runtime)
    live = None
    if args.db:
        live = LiveOptions(args.db, advisor_settings(args), args.pool_connections)
        _probe(args.db)  # an unreachable database ends the command before the scan
    else:
        _refuse_review_options_without_db(args)
    run_result = run_scan(args)
    result = complete(run_result, runtime_files=args.runtime, units=units, live=live)
    for problem in result.problems:
        print(f"dbaudit: {problem}", file=sys.stderr)
    audit = result.audit
    if args.output:
        write_report(args.output, render(audit, args.format))
        print(f"dbaudit: wrote {args.format} report to {args.output}", file=sys.stderr)
    else:
        print_report(audit, args.format)
    return not_analyzed_exit(audit)


def load_runtime(paths: list[str]) -> list[UnitRecord]:
    """The units of every events file; a file that cannot be read is a usage error."""
    if not paths:
        return []
    from dbaudit.complete_audit import load_units
    from dbaudit.runtime.export import EventsFileError

    try:
        return load_units(paths)
    except EventsFileError as error:
        raise UsageError(str(error)) from None


def _probe(url: str) -> None:
    from dbaudit.schema.live import connect

    connect(url).close()  # DatabaseUnavailable: one line, exit 2


def _refuse_review_options_without_db(args: argparse.Namespace) -> None:
    given = given_without_database(args)
    if given:
        raise UsageError(f"{given[0]} reviews a database: give --db URL too")


def write_report(path: str, content: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None


def print_report(audit: Audit, fmt: str) -> None:
    if fmt == "text" and sys.stdout.isatty():
        Console(soft_wrap=True, highlight=False).print(text_report.build(audit), end="")
        return
    sys.stdout.write(render(audit, fmt))
