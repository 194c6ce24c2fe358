"""``dbaudit check PATH...``: the CI gate.

Exit status: 1 when a finding at or above ``--fail-on`` (default: low) is new against the
baseline; otherwise 3 when some files could not be analyzed, else 0; 2 on usage errors.
``info`` findings never fail a check. ``--write-baseline FILE`` accepts every current finding.

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
from dbaudit.cli import EXIT_FINDINGS, UsageError
from dbaudit.commands._static_options import (
    add_scan_arguments,
    not_analyzed_exit,
    parse_severity,
    run_scan,
)
from dbaudit.commands.audit import write_report
from dbaudit.findings import Audit, Severity
from dbaudit.report import FORMATS, render
from dbaudit.report import json as json_report
from dbaudit.report import sarif as sarif_report
from dbaudit.report import text as text_report

HELP = "CI gate: exit 1 when code has new database performance findings."


def configure(parser: argparse.ArgumentParser) -> None:
    add_scan_arguments(parser)
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
    scan_run = run_scan(args)
    audit = scan_run.audit
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
    fail_on = fail_on_arg or scan_run.config.fail_on or Severity.LOW
    if fail_on == Severity.INFO:
        raise UsageError(f"{scan_run.config.path}: fail-on = info never fails; use low or above")
    baseline_path = args.baseline or scan_run.config.baseline
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
