"""Options ``dbaudit audit`` and ``dbaudit check`` share, and running the scan behind both."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from dbaudit.audit import AuditError, AuditOptions, StaticAuditRun, is_error, scan
from dbaudit.cli import UsageError
from dbaudit.findings import Audit, Severity

EXIT_NOT_ANALYZED = 3  # the report is complete except for files that could not be analyzed

# a progress bar only for scans that take a while; short ones would just flicker
_PROGRESS_AFTER_SECONDS = 0.5


def add_scan_arguments(parser: argparse.ArgumentParser, *, paths_required: bool = True) -> None:
    """The scan's options; ``paths_required=False`` lets a command run without a PATH
    (``dbaudit check --runtime EVENTS.json`` gates on runtime findings alone)."""
    parser.add_argument(
        "paths",
        nargs="+" if paths_required else "*",
        metavar="PATH",
        help="files or folders to audit",
    )
    parser.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="IDS",
        help="only these rule codes or prefixes, comma separated (e.g. DBA101,DBA2)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="IDS",
        help="leave out these rule codes or prefixes, comma separated",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files and folders matching GLOB (a name like 'legacy' or a path like"
        " 'app/gen/*'); repeatable; added to the defaults (.venv, node_modules, migrations, ...)",
    )
    parser.add_argument(
        "--no-default-excludes",
        action="store_true",
        help="also audit .venv, site-packages, migrations and the other default excludes",
    )
    parser.add_argument(
        "--min-severity",
        metavar="SEVERITY",
        help="leave out findings below SEVERITY (info, low, medium, high, critical)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="parse with N processes (default: every available core)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the content-hash cache"
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="cache folder (default: <project>/.dbaudit-cache)"
    )
    parser.add_argument(
        "--config", metavar="FILE", help="read [tool.dbaudit] from FILE instead of searching"
    )
    parser.add_argument(
        "--isolated", action="store_true", help="ignore [tool.dbaudit] in pyproject.toml files"
    )
    parser.add_argument(
        "--max-file-size",
        type=int,
        metavar="BYTES",
        help="list larger files as not analyzed (default: 2 MiB)",
    )
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.add_argument(
        "--statistics",
        action="store_true",
        help="print files parsed, served from cache and time taken on stderr",
    )


def codes(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        code.strip().upper() for value in values for code in value.split(",") if code.strip()
    )


def parse_severity(text: str | None, option: str) -> Severity | None:
    if text is None:
        return None
    try:
        return Severity.parse(text)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None


def run_scan(args: argparse.Namespace) -> StaticAuditRun:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.max_file_size is not None and args.max_file_size < 1:
        raise UsageError("--max-file-size must be a positive number of bytes")
    options = AuditOptions(
        select=codes(args.select) or None,
        ignore=codes(args.ignore),
        exclude=tuple(args.exclude),
        default_excludes=not args.no_default_excludes,
        min_severity=parse_severity(args.min_severity, "--min-severity"),
        jobs=args.jobs,
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
        config_file=args.config,
        use_project_config=not args.isolated,
        max_file_bytes=args.max_file_size,
    )
    progress = _Progress() if not args.no_progress and sys.stderr.isatty() else None
    if progress is not None:
        options = _with_progress(options, progress)
    try:
        run = scan(args.paths, options)
    except AuditError as error:
        raise UsageError(str(error)) from None
    finally:
        if progress is not None:
            progress.close()
    if args.statistics:
        _print_statistics(run)
    return run


def not_analyzed_exit(audit: Audit) -> int:
    """``EXIT_NOT_ANALYZED`` when some file could not be analyzed because something is wrong."""
    broken = [s for s in audit.skipped if is_error(s)]
    if broken:
        print(
            f"dbaudit: {len(broken)} file(s) could not be analyzed (listed in the report)",
            file=sys.stderr,
        )
        return EXIT_NOT_ANALYZED
    return 0


def _with_progress(options: AuditOptions, progress: _Progress) -> AuditOptions:
    return replace(options, progress=progress.update)


def _print_statistics(run: StaticAuditRun) -> None:
    stats = run.stats
    lines = sum(f.lines for f in run.audit.files)
    rate = lines / stats.seconds if stats.seconds > 0 else 0.0
    analysis = "from cache" if stats.analysis_from_cache else "computed"
    message = (
        f"dbaudit: {stats.files_found} files, {lines:,} lines in {stats.seconds:.2f} s "
        f"({rate:,.0f} lines/s, {stats.jobs} jobs); parsed {stats.files_parsed}, "
        f"{stats.files_from_cache} from cache, analysis {analysis}; "
        f"{stats.suppressed} suppressed inline, {stats.filtered} filtered out"
    )
    if stats.cache_note:
        message += f"; {stats.cache_note}"
    print(message, file=sys.stderr)


class _Progress:
    """A rich progress bar on stderr, started only once a scan has run for a moment.

    It refreshes by hand (no background thread), so forking the worker pool stays safe.
    """

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_refresh = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._bar is None:
            if now - self._started < _PROGRESS_AFTER_SECONDS or done >= total:
                return
            bar = Progress(
                TextColumn("auditing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files"),
                console=Console(stderr=True),
                auto_refresh=False,
                transient=True,
            )
            bar.start()
            self._task = bar.add_task("audit", total=total)
            self._bar = bar
        if self._task is not None and (now - self._last_refresh >= 0.1 or done >= total):
            self._last_refresh = now
            self._bar.update(self._task, completed=done, total=total)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
