"""The static audit of the bundled reference app, and the report the demo writes from it.

``dbaudit demo`` audits both variants of the reference render platform (each with the shared
``schema.py``, so relationships are known), summarises what was found, puts the measured
before/after numbers into the naive audit's ``Audit.metrics`` and writes that audit (with the
runtime confirmation and the live review folded in by the command) as ``audit.md`` and
``audit.html``, rendered by the reporters alone. The app is found through the installed
package, so this works the same from a source checkout and from a non-editable ``pip install``.
"""

from __future__ import annotations

import errno
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from dbaudit.audit import AuditOptions, run_static_audit
from dbaudit.bench.runner import BenchmarkResult
from dbaudit.findings import Audit, OperationMetric, Severity
from dbaudit.report import render
from dbaudit.report.common import rule_names

Variant = Literal["naive", "optimized"]
VARIANTS: tuple[Variant, ...] = ("naive", "optimized")
MARKDOWN_NAME = "audit.md"
HTML_NAME = "audit.html"


def reference_app_dir() -> Path:
    """The ``render_platform`` package folder, wherever dbaudit is installed."""
    from dbaudit.reference import render_platform

    return Path(render_platform.__file__).resolve().parent


def variant_paths(variant: Variant) -> tuple[str, ...]:
    """What is audited for ``variant``, relative to the folder holding ``render_platform``.

    The shared ``schema.py`` goes with each variant: the rules read the ORM models from the tree
    to know which attributes are relationships.
    """
    return (f"render_platform/{variant}", "render_platform/schema.py")


def audit_variant(variant: Variant) -> Audit:
    """The static audit of one variant, with paths shown as ``render_platform/...``.

    No cache (it would be written next to the installed package) and no project configuration
    (the user's ``[tool.dbaudit]`` in the current directory is about their code, not ours).
    """
    options = AuditOptions(
        cwd=str(reference_app_dir().parent), use_cache=False, use_project_config=False
    )
    return run_static_audit(variant_paths(variant), options)


@dataclass(frozen=True, slots=True)
class RuleCount:
    """How often one rule fired at one severity, and in which files."""

    rule: str
    name: str
    severity: Severity
    count: int
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VariantSummary:
    variant: Variant
    files: int
    lines: int
    findings: int
    # severity name -> findings, most severe first, only severities that occur
    by_severity: tuple[tuple[str, int], ...]
    rules: tuple[RuleCount, ...]
    good_practices: int
    not_analyzed: int
    at_or_above_low: int


def summarize(variant: Variant, audit: Audit) -> VariantSummary:
    names = rule_names()
    severities = Counter(finding.severity for finding in audit.findings)
    grouped: dict[tuple[str, Severity], list[str]] = defaultdict(list)
    for finding in audit.findings:
        grouped[(finding.rule, finding.severity)].append(finding.path)
    rules = tuple(
        RuleCount(
            rule=rule,
            name=names.get(rule, ""),
            severity=severity,
            count=len(paths),
            paths=tuple(dict.fromkeys(paths)),
        )
        for (rule, severity), paths in sorted(grouped.items(), key=lambda i: (-i[0][1], i[0][0]))
    )
    return VariantSummary(
        variant=variant,
        files=len(audit.files),
        lines=sum(summary.lines for summary in audit.files),
        findings=len(audit.findings),
        by_severity=tuple(
            (str(severity), severities[severity]) for severity in sorted(severities, reverse=True)
        ),
        rules=rules,
        good_practices=len(audit.good_practices),
        not_analyzed=len(audit.skipped),
        at_or_above_low=len(audit.findings_at_or_above(Severity.LOW)),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def headline(summary: VariantSummary) -> str:
    """One line: what was audited and what it came to."""
    scope = (
        f"{summary.variant} app (render_platform/{summary.variant} + schema.py): "
        f"{_plural(summary.files, 'file')}, {_plural(summary.lines, 'line')}"
    )
    practices = _plural(summary.good_practices, "good practice")
    if summary.not_analyzed:
        practices += f", {summary.not_analyzed} not analyzed"
    if summary.at_or_above_low == 0:
        info = summary.findings - summary.at_or_above_low
        advisory = f" ({_plural(info, 'info finding')})" if info else ""
        return f"{scope}: no findings at low or above{advisory}, {practices}"
    severities = ", ".join(f"{count} {name}" for name, count in summary.by_severity)
    return f"{scope}: {_plural(summary.findings, 'finding')} ({severities}), {practices}"


def rule_rows(summary: VariantSummary) -> list[tuple[str, str, str, str, str]]:
    """(rule, name, severity, count, files) per rule and severity, most severe first.

    Files are shown inside the variant's folder, which the headline names.
    """
    inside = f"render_platform/{summary.variant}/"
    return [
        (
            item.rule,
            item.name,
            str(item.severity),
            str(item.count),
            ", ".join(path.removeprefix(inside) for path in item.paths),
        )
        for item in summary.rules
    ]


def summary_lines(summary: VariantSummary) -> list[str]:
    """The plain-text summary: the headline, then one aligned line per rule and severity."""
    lines = [headline(summary)]
    if summary.at_or_above_low == 0:
        return lines
    rows = rule_rows(summary)
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
        lines.append(f"  {'  '.join(cells)}  {row[3].rjust(widths[3])}  {row[4]}")
    return lines


def summary_json(summary: VariantSummary) -> dict[str, Any]:
    return {
        "paths": list(variant_paths(summary.variant)),
        "files": summary.files,
        "lines": summary.lines,
        "findings": summary.findings,
        "findings_at_or_above_low": summary.at_or_above_low,
        "by_severity": dict(summary.by_severity),
        "by_rule": [
            {
                "rule": item.rule,
                "name": item.name,
                "severity": str(item.severity),
                "count": item.count,
                "paths": list(item.paths),
            }
            for item in summary.rules
        ],
        "good_practices": summary.good_practices,
        "not_analyzed": summary.not_analyzed,
    }


def measured_metrics(result: BenchmarkResult) -> tuple[OperationMetric, ...]:
    """Per operation: statements and median call latency, naive (before) → optimized (after).

    Latency is taken at the first injected delay (the demo injects one).
    """
    delay = result.settings.delays_ms[0]
    return tuple(
        OperationMetric(
            name=case.name,
            queries_before=case.before.statements,
            queries_after=case.after.statements,
            ms_before=case.before.latency_at(delay).median_ms,
            ms_after=case.after.latency_at(delay).median_ms,
            measured=True,
            # the median latency of a whole call through the delay proxy, not database time
            timed="call",
        )
        for case in result.cases
    )


def with_metrics(audit: Audit, metrics: tuple[OperationMetric, ...]) -> Audit:
    return replace(audit, metrics=metrics)


@dataclass(frozen=True, slots=True)
class WrittenReports:
    markdown: Path
    html: Path


def prepare_output_dir(directory: str) -> Path:
    """The folder the reports go to, created if missing; ``OSError`` when that cannot be."""
    path = Path(directory).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    # found out now, not after the minute of measuring that comes before the writing
    if not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, "not writable", str(path))
    return path


def write_reports(audit: Audit, directory: Path) -> WrittenReports:
    """Write ``audit`` as ``audit.md`` and ``audit.html``: the reporters render everything it
    carries (findings confirmed at runtime, ``Audit.database``, ``Audit.metrics``)."""
    markdown = directory / MARKDOWN_NAME
    html = directory / HTML_NAME
    markdown.write_text(render(audit, "markdown"), encoding="utf-8")
    html.write_text(render(audit, "html"), encoding="utf-8")
    return WrittenReports(markdown=markdown, html=html)
