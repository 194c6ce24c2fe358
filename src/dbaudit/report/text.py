"""Terminal output in the convention of linters: ``path:line:col: DBA101 message``, grouped by file.

Under each finding, indented: severity, function, query cost now and after the fix, the chain
of calls from the loop to the query, and runtime evidence when there is some ("confirmed at
runtime" under a static finding the profile saw too, "seen at runtime" under a finding only the
profile saw: nothing static was confirmed). Then the files
not analyzed and one summary line. ``build`` returns a rich ``Text`` (coloured on a terminal);
``render`` its plain form for pipes and files.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from rich.text import Text

from dbaudit.findings import Audit, Finding, Severity, SkippedFile
from dbaudit.report.common import (
    analyzed_partly,
    evidence_text,
    location,
    not_analyzed,
    plural,
    queries,
    severity_summary,
)
from dbaudit.scan import skipped_by_design

SEVERITY_STYLES: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}

MAX_LISTED = 20  # good practices and skipped files; JSON lists them all
MAX_PARTLY_LISTED = 5  # more files analyzed in part are one line
# the detail runtime.detect gives the other call sites of a runtime finding's statements, which
# it appends to the call chain (Markdown and HTML print each hop's detail; one line cannot)
ALSO_FROM_HERE = "also from here"


def render(audit: Audit, *, note: str = "") -> str:
    return build(audit, note=note).plain


def build(audit: Audit, *, note: str = "") -> Text:
    out = Text()
    ordered = sorted(audit.findings, key=lambda f: (f.path, f.line, f.col, f.rule))
    for _, group in groupby(ordered, key=lambda f: f.path):
        for finding in group:
            _finding(out, finding)
        out.append("\n")
    _practices(out, audit)
    _skipped(out, audit)
    if note:
        out.append(note + "\n", style="dim")
    out.append(summary_line(audit) + "\n", style="bold")
    return out


def summary_line(audit: Audit) -> str:
    files_with = len({f.path for f in audit.findings})
    lines = sum(f.lines for f in audit.files)
    if audit.findings:
        head = (
            f"Found {plural(len(audit.findings), 'finding')} "
            f"({severity_summary(audit.findings)}) in {plural(files_with, 'file')}"
        )
    else:
        head = "No findings"
    parts = [
        head,
        f"audited {plural(len(audit.files), 'file')} ({plural(lines, 'line')})",
        f"{plural(len(audit.good_practices), 'operation')} already optimized",
    ]
    # a file analyzed only in part is among the audited files: counted once, as audited
    skipped = not_analyzed(audit)
    if skipped:
        parts.append(f"{plural(len(skipped), 'file')} not analyzed")
    partly = analyzed_partly(audit)
    if partly:
        parts.append(f"{plural(len(partly), 'file')} partly analyzed")
    return "; ".join(parts) + "."


def _finding(out: Text, finding: Finding) -> None:
    out.append(f"{location(finding)}: ", style="bold")
    out.append(finding.rule, style=SEVERITY_STYLES[finding.severity])
    out.append(f" {finding.message}\n")
    details = [str(finding.severity)]
    if finding.function:
        details.append(f"in {finding.function}")
    if finding.query_cost:
        cost = queries(finding.query_cost)
        if finding.fixed_query_cost:
            cost += f", {queries(finding.fixed_query_cost)} after fix"
        details.append(cost)
    if finding.source != "static":
        details.append(f"source: {finding.source}")
    out.append("    " + " · ".join(details) + "\n", style="dim")
    chain = [h for h in finding.call_chain if h.detail != ALSO_FROM_HERE]
    also = [h for h in finding.call_chain if h.detail == ALSO_FROM_HERE]
    if chain:
        hops = " -> ".join(f"{h.function} ({h.path}:{h.line})" for h in chain)
        out.append(f"    via {hops}\n", style="dim")
    if also:  # other places the same statements ran from: not further hops of the chain
        sites = ", ".join(f"{h.function} ({h.path}:{h.line})" for h in also)
        out.append(f"    also from {sites}\n", style="dim")
    if finding.evidence is not None:
        out.append(f"    {evidence_text(finding)}\n", style="magenta")
    if finding.fix is not None and finding.fix.summary:
        out.append(f"    fix: {finding.fix.summary}\n", style="green")
        if finding.fix.language == "sql" and finding.fix.code and "\n" not in finding.fix.code:
            out.append(f"    {finding.fix.code}\n", style="green")  # an index's DDL: one line


def _practices(out: Text, audit: Audit) -> None:
    if not audit.good_practices:
        return
    out.append("Already optimized:\n", style="bold green")
    for practice in audit.good_practices[:MAX_LISTED]:
        cost = f" ({queries(practice.query_cost)})" if practice.query_cost else ""
        out.append(f"  {practice.path}:{practice.line}: ", style="green")
        out.append(f"{practice.function}: {practice.kind}{cost}\n")
    _more(out, len(audit.good_practices), "green")
    out.append("\n")


def _skipped(out: Text, audit: Audit) -> None:
    if not audit.skipped:
        return
    skipped = not_analyzed(audit)
    broken = [s for s in skipped if not skipped_by_design(s)]
    by_design = [s for s in skipped if skipped_by_design(s)]
    partly = analyzed_partly(audit)
    if skipped:
        _not_analyzed(out, broken, by_design)
    if not partly:
        return
    out.append("Partly analyzed (audited as far as the parser recovered):\n", style="bold")
    if len(partly) > MAX_PARTLY_LISTED:
        # a real tree can have a hundred (the grammar lags the language): one line, not a page
        out.append(f"  {plural(len(partly), 'file')} (listed by --format json)\n", style="dim")
    else:
        for skipped_file in partly:
            out.append(f"  {skipped_file.path}: {skipped_file.reason}\n", style="dim")
    out.append("\n")


def _not_analyzed(out: Text, broken: list[SkippedFile], by_design: list[SkippedFile]) -> None:
    out.append("Not analyzed:\n", style="bold yellow")
    for skipped in broken[:MAX_LISTED]:
        out.append(f"  {skipped.path}: {skipped.reason}\n", style="yellow")
    _more(out, len(broken), "yellow")
    if len(by_design) > MAX_LISTED - min(len(broken), MAX_LISTED):
        reasons = Counter(s.reason.split(" (")[0] for s in by_design)
        summary = ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
        out.append(f"  skipped by design: {summary} (listed by --format json)\n", style="dim")
    else:
        for skipped in by_design:
            out.append(f"  {skipped.path}: {skipped.reason}\n", style="dim")
    out.append("\n")


def _more(out: Text, total: int, style: str) -> None:
    hidden = total - MAX_LISTED
    if hidden > 0:
        out.append(f"  ... and {hidden} more (all are listed by --format json)\n", style=style)
