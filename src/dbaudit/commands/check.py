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
wrote relative to another folder are read from the events file's folder (:class:`_Rebase`).
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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rich.console import Console

from dbaudit import baseline as baseline_module
from dbaudit.audit import _rule_selected, known_rule_codes
from dbaudit.cli import EXIT_FINDINGS, UsageError
from dbaudit.commands._static_options import (
    add_scan_arguments,
    codes,
    not_analyzed_exit,
    parse_severity,
    run_scan,
)
from dbaudit.commands.audit import load_runtime, write_report
from dbaudit.findings import Audit, Finding, Severity
from dbaudit.report import FORMATS, render
from dbaudit.report import json as json_report
from dbaudit.report import sarif as sarif_report
from dbaudit.report import text as text_report
from dbaudit.scan import project_config
from dbaudit.scan.project_config import ConfigError, ProjectConfig

if TYPE_CHECKING:
    from dbaudit.runtime.export import UnitRecord

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
    units = _load_runtime(args.runtime)  # a bad events file ends the check before the scan
    rules = _RuleSelection.from_args(args) if args.runtime else None
    if args.paths:
        scan_run = run_scan(args if rules is None else rules.static_args(args))
        audit, config = scan_run.audit, scan_run.config
    else:
        config = _project_config(args)
        audit = Audit(roots=())
    if rules is not None:
        audit = _with_runtime(audit, units, args.runtime, rules.resolve(args, config))
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


def _load_runtime(paths: Sequence[str]) -> list[UnitRecord]:
    for path in paths:
        if os.path.isdir(path):
            raise UsageError(
                f"--runtime {path}: a folder, not an events file (--runtime takes every "
                "argument after it: put the PATHs first)"
            )
    units: list[UnitRecord] = []
    for path in paths:
        folder = os.path.dirname(path)
        rebase = _Rebase(folder) if folder else None
        units += [rebase.unit(u) if rebase else u for u in load_runtime([path])]
    return units


class _Rebase:
    """Paths the profiler wrote relative to the folder pytest ran in, made relative to ours.

    ``cd backend && pytest --dbaudit-json events.json``, then ``dbaudit check backend --runtime
    backend/events.json`` from the repository root: ``app/dal.py`` names no file from here but
    does from the events file's folder, so it becomes ``backend/app/dal.py`` (the static audit's
    path, the baseline's and the SARIF's). A path that names a file from here is kept.
    """

    def __init__(self, folder: str) -> None:
        self._folder = folder
        self._paths: dict[str, str] = {}

    def unit(self, unit: UnitRecord) -> UnitRecord:
        return replace(unit, findings=tuple(self._finding(f) for f in unit.findings))

    def _finding(self, finding: Finding) -> Finding:
        hops = tuple(replace(hop, path=self._path(hop.path)) for hop in finding.call_chain)
        return replace(finding, path=self._path(finding.path), call_chain=hops)

    def _path(self, path: str) -> str:
        found = self._paths.get(path)
        if found is None:
            found = path
            if not os.path.isabs(path) and not os.path.isfile(path):
                there = os.path.join(self._folder, path)
                if os.path.isfile(there):
                    found = os.path.normpath(there)
            self._paths[path] = found
        return found


def _project_config(args: argparse.Namespace) -> ProjectConfig:
    """``[tool.dbaudit]`` when there is no PATH to search from: from the working directory."""
    try:
        if args.config is not None:
            return project_config.load(args.config)
        if args.isolated:
            return ProjectConfig()
        found = project_config.find_pyproject(os.getcwd())
        return ProjectConfig() if found is None else project_config.load(found)
    except ConfigError as error:
        raise UsageError(str(error)) from None


@dataclass(frozen=True, slots=True)
class _Rules:
    """Which findings a check keeps, resolved against the project's config."""

    select: tuple[str, ...] | None
    ignore: tuple[str, ...]
    min_severity: Severity

    def keeps(self, finding: Finding) -> bool:
        return (
            _rule_selected(finding.rule, self.select, self.ignore)
            and finding.severity >= self.min_severity
        )


@dataclass(frozen=True, slots=True)
class _RuleSelection:
    """``--select``/``--ignore`` codes, which may name runtime-only rules (DBA301, DBA302, DBA401).

    The static audit refuses codes it has no rule for, so it is given only the codes that name
    one of its rules; the whole selection is applied to the merged findings afterwards (for a
    static finding that gives the same answer as the scan did).
    """

    select: tuple[str, ...]
    ignore: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _RuleSelection:
        runtime = _runtime_rules()
        known = (*known_rule_codes(), *runtime)
        selection = cls(codes(args.select), codes(args.ignore))
        for option, chosen in (("--select", selection.select), ("--ignore", selection.ignore)):
            for code in chosen:
                if not any(rule.startswith(code) for rule in known):
                    raise UsageError(
                        f"unknown rule code {code!r} in {option} (see `dbaudit rules`; the "
                        f"runtime's rules are {', '.join(runtime)})"
                    )
        return selection

    def static_args(self, args: argparse.Namespace) -> argparse.Namespace:
        static = known_rule_codes()

        def for_scan(chosen: tuple[str, ...]) -> list[str]:
            return [c for c in chosen if any(rule.startswith(c) for rule in static)]

        return argparse.Namespace(
            **{**vars(args), "select": for_scan(self.select), "ignore": for_scan(self.ignore)}
        )

    def resolve(self, args: argparse.Namespace, config: ProjectConfig) -> _Rules:
        """As the scan resolves them: the command line's select wins, ignores add up."""
        min_severity = parse_severity(args.min_severity, "--min-severity")
        return _Rules(
            select=self.select or config.select,
            ignore=tuple(dict.fromkeys((*config.ignore, *self.ignore))),
            min_severity=min_severity or config.min_severity or Severity.INFO,
        )


def _runtime_rules() -> tuple[str, ...]:
    """The rules whose findings an events file can hold: the detectors' and the pytest
    plugin's missing-index check (``--dbaudit-explain``)."""
    from dbaudit.runtime.detect import RULES
    from dbaudit.runtime.plans import RULE as MISSING_INDEX

    return tuple(sorted({*RULES, MISSING_INDEX}))


def _with_runtime(
    audit: Audit, units: Sequence[UnitRecord], files: Sequence[str], rules: _Rules
) -> Audit:
    """``audit`` with the runtime findings folded in as ``dbaudit audit --runtime`` does."""
    from dbaudit.runtime.export import to_audit
    from dbaudit.runtime.merge import merge

    merged = merge(audit, to_audit(units, roots=tuple(files)))
    kept = sorted(
        (f for f in merged.findings if rules.keeps(f)),
        key=lambda f: (f.path, f.line, f.col, f.rule),
    )
    confirmed = sum(1 for f in kept if f.source == "static" and f.evidence is not None)
    observed = sum(1 for f in kept if f.source == "runtime")
    names = ", ".join(files)
    if not units:
        print(f"dbaudit: {names}: no test or request was profiled (no unit)", file=sys.stderr)
    print(
        f"dbaudit: runtime: {len(units)} unit(s) in {names}; {confirmed} static finding(s) "
        f"confirmed, {observed} seen only at runtime",
        file=sys.stderr,
    )
    return replace(merged, findings=kept)


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
