"""``dbaudit check [PATH...] [--runtime EVENTS.json ...]``: the CI gate.

Exit status: 1 when a finding at or above ``--fail-on`` (default: low) is new against the
baseline; otherwise 3 when some files could not be analyzed, else 0; 2 on usage errors and on
an events file that cannot be read. ``info`` findings never fail a check.
``--write-baseline FILE`` accepts every current finding.

``--runtime`` folds in the findings of runtime events files (``pytest --dbaudit-json FILE``)
the way ``dbaudit audit --runtime`` does (:func:`dbaudit.runtime.merge.merge`): a problem seen
both ways is the static finding, confirmed; what only the runtime saw is a finding of its own
and gates like any other. ``--select``, ``--ignore`` and ``--min-severity`` (and their
``[tool.dbaudit]`` keys) apply to runtime findings too, so ``--ignore DBA302`` leaves out slow
queries, whose existence depends on the machine's speed. With ``--runtime`` and no PATH the
check gates on the runtime findings alone (a usage error without either). Paths the profiler
wrote relative to another folder are read from the events file's folder, and a ``# dbaudit:
ignore`` comment silences a runtime finding as it does a static one (all shared with ``dbaudit
audit --runtime``: :mod:`dbaudit.commands.audit`, :func:`dbaudit.complete_audit.fold_runtime`).
A runtime finding's baseline key is its rule, file and function (``Finding.baseline_key``; it
has no code excerpt), never a line, a count or a time, so a re-run with other timings matches
the same entries.

The report holds the findings that fail the check (new against the baseline, at or above
``--fail-on``) in any of ``dbaudit.report.FORMATS``. With ``-o FILE`` it goes to FILE and the
text report with the verdict still goes to stdout, so one CI step both gates and writes the
SARIF that code scanning uploads (each result then has ``baselineState: new`` when a baseline
is in use, and the run's properties carry the verdict).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from rich.console import Console

from dbaudit import baseline as baseline_module
from dbaudit.audit import AuditError, load_config
from dbaudit.cli import EXIT_FINDINGS, UsageError
from dbaudit.commands._static_options import (
    add_scan_arguments,
    not_analyzed_exit,
    parse_severity,
    run_scan,
)
from dbaudit.commands.audit import RuleOptions, load_runtime, print_runtime, write_report
from dbaudit.complete_audit import fold_runtime
from dbaudit.findings import Audit, Severity
from dbaudit.report import FORMATS, render
from dbaudit.report import json as json_report
from dbaudit.report import sarif as sarif_report
from dbaudit.report import text as text_report
from dbaudit.scan.project_config import ProjectConfig

HELP = "CI gate: exit 1 when code or a test run has new database performance findings."

EPILOG = """\
runtime findings:
  Run the tests with the profiler writing an events file, then gate on what the code
  shows and what the tests ran, with one baseline:

    pytest --dbaudit-json dbaudit-events.json
    dbaudit check app --runtime dbaudit-events.json --baseline dbaudit-baseline.json

  A problem seen both ways is one finding, "confirmed at runtime". Without a PATH,
  `dbaudit check --runtime FILE` gates on the runtime findings alone. A baseline matches
  runtime findings by rule, file and function, never by counts or timings; write it with
  the same PATHs and events files the check uses. --ignore DBA302 leaves out slow queries.

exit status:
  0  no new finding at or above --fail-on
  1  new findings at or above --fail-on
  2  usage error, or an events file that cannot be read
  3  nothing new fails, but some files could not be analyzed
"""

# scan options that mean nothing without a PATH (refused, so a typo never does nothing)
_SCAN_ONLY = (
    ("exclude", "--exclude"),
    ("no_default_excludes", "--no-default-excludes"),
    ("jobs", "--jobs"),
    ("no_cache", "--no-cache"),
    ("cache_dir", "--cache-dir"),
    ("max_file_size", "--max-file-size"),
    ("statistics", "--statistics"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_scan_arguments(parser, paths_required=False)
    parser.add_argument(
        "--runtime",
        nargs="+",
        action="extend",
        default=[],
        metavar="EVENTS.json",
        help="runtime events files (pytest --dbaudit-json): their findings gate too; one seen "
        "by the static audit as well is that finding, confirmed; without a PATH, gate on "
        "these alone",
    )
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="lowest severity that fails: low (default), medium, high or critical",
    )
    parser.add_argument(
        "--baseline", metavar="FILE", help="findings accepted in FILE do not fail the check"
    )
    parser.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="write every current finding to FILE as the new baseline, then exit 0",
    )
    parser.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default="text",
        help="report format (default: text); sarif for code scanning",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE (the text verdict still goes to stdout)",
    )


def run(args: argparse.Namespace) -> int:
    fail_on_arg = parse_severity(args.fail_on, "--fail-on")
    if fail_on_arg == Severity.INFO:
        raise UsageError("--fail-on: info findings never fail a check (use low or above)")
    if args.write_baseline and args.output:
        raise UsageError("--write-baseline writes no report: leave out -o/--output")
    if not args.paths and not args.runtime:
        raise UsageError(
            "give a PATH to audit, or --runtime EVENTS.json to gate on runtime findings alone"
        )
    if not args.paths:
        _refuse_scan_options(args)
    units = load_runtime(args.runtime)  # a bad events file ends the check before the scan
    rules = RuleOptions.from_args(args)
    if args.paths:
        scan_run = run_scan(args)
        audit, config = scan_run.audit, scan_run.config
    else:
        config = _project_config(args)
        audit = Audit(roots=())
    selection = rules.resolve(args, config)
    if args.runtime:
        fold = fold_runtime(audit, units, files=args.runtime, rules=selection)
        print_runtime(fold, args.runtime)
        audit = fold.audit
    else:  # a runtime-only code in select keeps every static finding out
        audit = selection.apply(audit)
    cwd = os.getcwd()
    if args.write_baseline:
        try:
            baseline_module.write(args.write_baseline, audit.findings, cwd)
        except baseline_module.BaselineError as error:
            raise UsageError(str(error)) from None
        print(
            f"dbaudit: wrote baseline of {len(audit.findings)} finding(s) to {args.write_baseline}",
            file=sys.stderr,
        )
        return 0
    fail_on = fail_on_arg or config.fail_on or Severity.LOW
    if fail_on == Severity.INFO:
        raise UsageError(f"{config.path}: fail-on = info never fails; use low or above")
    baseline_path = args.baseline or config.baseline
    new = audit.findings
    accepted = 0
    if baseline_path:
        try:
            accepted_set = baseline_module.load(baseline_path)
        except baseline_module.BaselineError as error:
            raise UsageError(str(error)) from None
        base_dir = os.path.dirname(os.path.abspath(baseline_path))
        new = accepted_set.new_findings(audit.findings, base_dir, cwd)
        accepted = len(audit.findings) - len(new)
    failing = [f for f in new if f.severity >= fail_on]
    shown = replace(audit, findings=failing)
    verdict = _verdict(len(failing), fail_on, accepted, baseline_path)
    summary = {
        "fail_on": str(fail_on),
        "baseline": baseline_path or None,
        "accepted_by_baseline": accepted,
        "failed": bool(failing),
    }
    if args.output:
        content = _report(shown, args.format, verdict, summary, bool(baseline_path))
        write_report(args.output, content)
        print(f"dbaudit: wrote {args.format} report to {args.output}", file=sys.stderr)
        _print_text(shown, verdict)
    elif args.format == "text":
        _print_text(shown, verdict)
    else:
        sys.stdout.write(_report(shown, args.format, verdict, summary, bool(baseline_path)))
    if failing:
        return EXIT_FINDINGS
    return not_analyzed_exit(audit)


# -- runtime findings -------------------------------------------------------------------------


def _refuse_scan_options(args: argparse.Namespace) -> None:
    for dest, option in _SCAN_ONLY:
        if getattr(args, dest) not in (None, False, []):
            raise UsageError(f"{option} applies to the static audit: give a PATH too")


def _project_config(args: argparse.Namespace) -> ProjectConfig:
    """``[tool.dbaudit]`` when there is no PATH to search from: from the working directory."""
    try:
        return load_config(os.getcwd(), args.config, not args.isolated)
    except AuditError as error:
        raise UsageError(str(error)) from None


def _report(
    shown: Audit, fmt: str, verdict: str, summary: dict[str, object], with_baseline: bool
) -> str:
    """The check's report in ``fmt``; JSON and SARIF also carry the verdict as data."""
    if fmt == "json":
        document = json_report.to_dict(shown)
        document["check"] = summary
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "sarif":
        sarif_document = sarif_report.to_dict(shown, source_root=os.getcwd())
        for run in sarif_document["runs"]:
            run.setdefault("properties", {})["dbauditCheck"] = summary
            if with_baseline:  # every result shown is one the baseline does not accept
                for result in run["results"]:
                    result["baselineState"] = "new"
        return json.dumps(sarif_document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        return text_report.render(shown, note=verdict)
    return render(shown, fmt)


def _print_text(shown: Audit, verdict: str) -> None:
    if sys.stdout.isatty():
        console = Console(soft_wrap=True, highlight=False)
        console.print(text_report.build(shown, note=verdict), end="")
    else:
        sys.stdout.write(text_report.render(shown, note=verdict))


def _verdict(failing: int, fail_on: Severity, accepted: int, baseline_path: str | None) -> str:
    text = (
        f"check failed: {failing} new finding(s) at or above {fail_on}"
        if failing
        else f"check passed: no new finding at or above {fail_on}"
    )
    if baseline_path:
        text += f" ({accepted} accepted by baseline {baseline_path})"
    return text
