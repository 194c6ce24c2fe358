"""``dbaudit audit PATH... [--runtime EVENTS.json ...] [--db URL]``: one audit from every source.

The static audit of Python, TypeScript and JavaScript code, with the runtime profiles
(``pytest --dbaudit-json`` files) folded in and, with ``--db``, the live PostgreSQL review
(index advice judged by the planner, index health, connection settings): one ``Audit``
(``dbaudit.complete_audit``), written as text, JSON, Markdown, HTML or SARIF
(``dbaudit.report.FORMATS``).

``--select``, ``--ignore`` and ``--min-severity`` (and their ``[tool.dbaudit]`` keys) apply to
the runtime findings too, and accept the runtime's own rules (DBA301 duplicate and DBA302 slow
queries, DBA401 missing index); a ``# dbaudit: ignore`` comment silences a runtime finding as it
silences a static one. ``dbaudit check --runtime`` shares all of it (:class:`RuleOptions`,
:func:`load_runtime`, :func:`dbaudit.complete_audit.fold_runtime`, :func:`print_runtime`).

Exit status: 0 when the report was written and every file was analyzed, 3 when some files
could not be analyzed (syntax errors, unreadable, not UTF-8; they are listed in the report),
2 on usage errors, an unreadable events file or a database that cannot be reached. What the
database review could not do (no HypoPG, no workload) is a line on stderr and in the report;
the rest of the report is still written. Findings alone never fail ``audit``; ``dbaudit check``
is the CI gate.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console

from dbaudit.audit import AuditError, check_rule_codes
from dbaudit.cli import UsageError
from dbaudit.commands._review_options import (
    add_review_arguments,
    advisor_settings,
    given_without_database,
)
from dbaudit.commands._static_options import (
    add_scan_arguments,
    codes,
    not_analyzed_exit,
    parse_severity,
    run_scan,
)
from dbaudit.complete_audit import RuleSelection, RuntimeFold
from dbaudit.findings import Audit
from dbaudit.report import FORMATS, render
from dbaudit.report import text as text_report

if TYPE_CHECKING:
    from dbaudit.runtime.export import UnitRecord
    from dbaudit.scan.project_config import ProjectConfig

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
    rules = RuleOptions.from_args(args)
    live = None
    if args.db:
        live = LiveOptions(args.db, advisor_settings(args), args.pool_connections)
        _probe(args.db)  # an unreachable database ends the command before the scan
    else:
        _refuse_review_options_without_db(args)
    run_result = run_scan(args)
    selection = rules.resolve(args, run_result.config)
    result = complete(
        run_result, runtime_files=args.runtime, units=units, live=live, rules=selection
    )
    if result.runtime is not None:
        print_runtime(result.runtime, args.runtime)
    for problem in result.problems:
        print(f"dbaudit: {problem}", file=sys.stderr)
    audit = result.audit
    if args.output:
        write_report(args.output, render(audit, args.format))
        print(f"dbaudit: wrote {args.format} report to {args.output}", file=sys.stderr)
    else:
        print_report(audit, args.format)
    return not_analyzed_exit(audit)


def load_runtime(paths: Sequence[str]) -> list[UnitRecord]:
    """The units of every events file (paths read from a subfolder's events file made
    relative to here: :func:`dbaudit.complete_audit.load_units`); a file that cannot be read
    is a usage error."""
    if not paths:
        return []
    from dbaudit.complete_audit import load_units
    from dbaudit.runtime.export import EventsFileError

    for path in paths:
        if os.path.isdir(path):
            raise UsageError(
                f"--runtime {path}: a folder, not an events file (--runtime takes every "
                "argument after it: put the PATHs first)"
            )
    try:
        return load_units(paths)
    except EventsFileError as error:
        raise UsageError(str(error)) from None


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """``--select``/``--ignore`` as given, codes of the static audit's rules or the runtime's
    (DBA301, DBA302, DBA401).

    The scan takes them all (a runtime code selects no static finding); the whole selection
    (:meth:`resolve`) applies to the findings once the runtime's are folded in, giving a static
    finding the answer the scan gave it.
    """

    select: tuple[str, ...]
    ignore: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RuleOptions:
        options = cls(codes(args.select), codes(args.ignore))
        try:
            check_rule_codes(options.select, "--select")
            check_rule_codes(options.ignore, "--ignore")
        except AuditError as error:
            raise UsageError(str(error)) from None
        return options

    def resolve(self, args: argparse.Namespace, config: ProjectConfig) -> RuleSelection:
        """With ``[tool.dbaudit]``'s, as the scan resolves them: the command line's select
        wins, ignores add up."""
        min_severity = parse_severity(args.min_severity, "--min-severity")
        try:
            return RuleSelection.resolve(self.select or None, self.ignore, min_severity, config)
        except AuditError as error:
            raise UsageError(str(error)) from None


def print_runtime(fold: RuntimeFold, files: Sequence[str]) -> None:
    """One line on stderr: what became of the runtime findings (and a unit-less file said)."""
    names = ", ".join(files)
    if not fold.units:
        print(f"dbaudit: {names}: no test or request was profiled (no unit)", file=sys.stderr)
    print(
        f"dbaudit: runtime: {fold.units} unit(s) in {names}; {fold.confirmed} static "
        f"finding(s) confirmed, {fold.observed} seen only at runtime, {fold.suppressed} "
        f"suppressed inline, {fold.filtered} filtered out",
        file=sys.stderr,
    )


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
