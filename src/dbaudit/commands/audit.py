"""``dbaudit audit PATH...``: the static audit of Python, TypeScript and JavaScript code.

Written as text, JSON, Markdown, HTML or SARIF (``dbaudit.report.FORMATS``).

Exit status: 0 when the report was written and every file was analyzed, 3 when some files
could not be analyzed (syntax errors, unreadable, not UTF-8; they are listed in the report),
2 on usage errors. Findings alone never fail ``audit``; ``dbaudit check`` is the CI gate.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from dbaudit.cli import UsageError
from dbaudit.commands._static_options import add_scan_arguments, not_analyzed_exit, run_scan
from dbaudit.findings import Audit
from dbaudit.report import FORMATS, render
from dbaudit.report import text as text_report

HELP = (
    "Audit Python, TypeScript and JavaScript code for N+1 queries and other database"
    " performance problems."
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)
    parser.add_argument(
        "--format", "-f", choices=FORMATS, default="text", help="report format (default: text)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")


def run(args: argparse.Namespace) -> int:
    run_result = run_scan(args)
    audit = run_result.audit
    if args.output:
        write_report(args.output, render(audit, args.format))
        print(f"dbaudit: wrote {args.format} report to {args.output}", file=sys.stderr)
    else:
        print_report(audit, args.format)
    return not_analyzed_exit(audit)


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
