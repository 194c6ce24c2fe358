"""``dbaudit report EVENTS.json``: runtime findings in the same reporters as the static audit.

EVENTS.json is what ``pytest --dbaudit-json`` writes (format in ``dbaudit.runtime.export``).
The same problem seen in several tests is one finding, with the evidence of its worst test.
With ``--source PATH``, the static audit of PATH is merged in (``dbaudit.runtime.merge``): a
problem both saw is shown once, as the static finding marked "confirmed at runtime".
"""

from __future__ import annotations

import argparse
import sys

from dbaudit.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from dbaudit.commands.audit import print_report, write_report
from dbaudit.findings import Audit
from dbaudit.report import FORMATS, render
from dbaudit.runtime.export import EventsFileError, load, to_audit
from dbaudit.runtime.merge import merge

HELP = "Render the findings of a runtime events file (pytest --dbaudit-json) as a report."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", metavar="EVENTS.json", help="a dbaudit runtime events file")
    parser.add_argument(
        "--format", "-f", choices=FORMATS, default="text", help="report format (default: text)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    parser.add_argument(
        "--source",
        nargs="+",
        metavar="PATH",
        help="also audit these source paths statically and show each problem once: static "
        "findings the runtime saw are marked confirmed, with the measured queries and time",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when the file holds findings (for CI)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        units = load(args.events)
    except EventsFileError as error:
        raise UsageError(str(error)) from None
    audit = to_audit(units, roots=(args.events,))
    if args.source:
        audit = merge(_static_audit(args.source), audit)
    if args.output:
        write_report(args.output, render(audit, args.format))
        print(f"dbaudit: wrote {args.format} report to {args.output}", file=sys.stderr)
    else:
        print_report(audit, args.format)
    return EXIT_FINDINGS if args.exit_code and audit.findings else EXIT_OK


def _static_audit(paths: list[str]) -> Audit:
    from dbaudit.audit import AuditError, run_static_audit

    try:
        return run_static_audit(paths)
    except AuditError as error:
        raise UsageError(str(error)) from None
