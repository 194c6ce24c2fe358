"""SARIF 2.1.0 for code scanning (GitHub code scanning, VS Code's SARIF viewer, Azure DevOps).

One run: ``tool.driver`` lists every rule of the registry with its docs as help text, plus any
rule a finding names that the registry does not know (runtime and live-database rules). Each
finding becomes a result with its primary location, a related location and a code flow step for
every hop of its call chain, the baseline key as partial fingerprint (stable when lines move) and
its query costs as properties. Files that could not be analyzed become tool notifications.

Paths relative to the working directory the audit ran in are written relative to the
``%SRCROOT%`` base; pass ``source_root`` to record where that was (SARIF viewers need it to
open files; GitHub resolves it against the repository by itself).
"""

from __future__ import annotations

import json as _json
import os
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from dbaudit import __version__
from dbaudit.findings import Audit, CallHop, Finding, Severity, SkippedFile
from dbaudit.report.common import LIVE_RULE_NAMES, RUNTIME_RULE_NAMES, queries
from dbaudit.scan import skipped_by_design

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "dbauditBaselineKey/v1"  # Finding.baseline_key(): rule, file, function, code

# SARIF has three levels that mean something; critical and high both block a merge.
LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning sorts and filters by this property (error / warning / recommendation).
GITHUB_SEVERITIES: dict[str, str] = {
    "error": "error",
    "warning": "warning",
    "note": "recommendation",
}
# SARIF precision values GitHub understands, from the finding's confidence.
PRECISIONS: dict[str, str] = {"high": "high", "medium": "medium", "low": "low"}

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# reST literals in the rule docs (``x``), never the fences of their code examples (```python)
_DOUBLE_BACKTICKS = re.compile(r"(?<!`)``([^`\n]+)``(?!`)")


def render(audit: Audit, *, source_root: str | None = None) -> str:
    return _json.dumps(to_dict(audit, source_root=source_root), indent=2, ensure_ascii=False) + "\n"


def to_dict(audit: Audit, *, source_root: str | None = None) -> dict[str, Any]:
    rules = _rules(audit.findings)
    index = {rule["id"]: number for number, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "dbaudit",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [_invocation(audit.skipped)],
        "results": [_result(f, index[f.rule]) for f in audit.findings],
    }
    if source_root is not None:
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"uri": _directory_uri(source_root)}}
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


# --- rules -----------------------------------------------------------------------------------


def _rules(findings: list[Finding]) -> list[dict[str, Any]]:
    from dbaudit.rules.registry import RULES

    described = [
        _rule(rule.code, rule.name, rule.severity, rule.doc, rule.category) for rule in RULES
    ]
    known = {rule.code for rule in RULES}
    # runtime (DBA3xx) and live-database (DBA4xx, DBA5xx) findings name rules the static
    # registry does not hold; describe them from their first finding
    for finding in findings:
        if finding.rule not in known:
            known.add(finding.rule)
            described.append(_unregistered_rule(finding))
    return described


def _rule(code: str, name: str, severity: Severity, doc: str, category: str) -> dict[str, Any]:
    markdown = _DOUBLE_BACKTICKS.sub(r"`\1`", doc)
    level = LEVELS[severity]
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": _title(code, markdown) or name},
        "fullDescription": {"text": _section(markdown, "What it does") or _title(code, markdown)},
        "help": {"text": markdown, "markdown": markdown},
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["database", "performance", category],
            "severity": str(severity),
            "problem.severity": GITHUB_SEVERITIES[level],
        },
    }


def _unregistered_rule(finding: Finding) -> dict[str, Any]:
    level = LEVELS[finding.severity]
    text = finding.problem or finding.message
    name = LIVE_RULE_NAMES.get(finding.rule) or RUNTIME_RULE_NAMES.get(finding.rule)
    return {
        "id": finding.rule,
        **({"name": name} if name else {}),
        "shortDescription": {"text": _first_sentence(finding.message)},
        "fullDescription": {"text": text},
        "help": {"text": text},
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["database", "performance", finding.source],
            "severity": str(finding.severity),
            "problem.severity": GITHUB_SEVERITIES[level],
        },
    }


def _title(code: str, doc: str) -> str:
    """``DBA101: query in a loop.`` -> ``Query in a loop.``"""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if first.startswith(code):
        first = first[len(code) :].lstrip(":").strip()
    return first[:1].upper() + first[1:]


def _section(doc: str, heading: str) -> str:
    """The paragraph text under ``## heading`` (up to the next heading), joined into one string."""
    lines = doc.splitlines()
    marker = f"## {heading}"
    if marker not in lines:
        return ""
    body: list[str] = []
    for line in lines[lines.index(marker) + 1 :]:
        if line.startswith("#"):
            break
        body.append(line)
    paragraphs = "\n".join(body).strip().split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    end = flat.find(": ")
    return flat if end < 0 else flat[:end]


# --- results ---------------------------------------------------------------------------------


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": _message(finding)},
        "locations": [_primary_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.baseline_key()},
        "properties": _properties(finding),
    }
    if finding.call_chain:
        hops = [_hop_location(hop, number) for number, hop in enumerate(finding.call_chain, 1)]
        result["relatedLocations"] = hops
        result["codeFlows"] = [
            {
                "message": {"text": "from the loop down to the query it issues"},
                "threadFlows": [{"locations": [{"location": hop} for hop in hops]}],
            }
        ]
    return result


def _message(finding: Finding) -> str:
    text = finding.message.rstrip(".") + "."
    if finding.query_cost:
        text += f" Queries: {queries(finding.query_cost)}"
        if finding.fixed_query_cost:
            text += f", {queries(finding.fixed_query_cost)} after the fix"
        text += "."
    if finding.evidence is not None:
        evidence = finding.evidence
        spent = milliseconds(evidence.total_ms)
        text += f" Measured at runtime: {evidence.queries} queries, {spent}"
        text += f" in {evidence.unit}." if evidence.unit else "."
    if finding.fix is not None:
        text += f" Fix: {finding.fix.summary.rstrip('.')}."
    return text


def milliseconds(value: float) -> str:
    """``412 ms``, ``23.8 ms``, ``0.09 ms``: sub-millisecond times do not read as 0."""
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f}".rstrip("0").rstrip(".") + " ms" if value > 0 else "0 ms"


def _primary_location(finding: Finding) -> dict[str, Any]:
    location: dict[str, Any] = {}
    if finding.line >= 1:
        region: dict[str, Any] = {
            "startLine": finding.line,
            "endLine": max(finding.end_line, finding.line),
            "startColumn": finding.col + 1,
        }
        location["physicalLocation"] = {
            "artifactLocation": _artifact(finding.path),
            "region": region,
        }
        if finding.function:
            location["logicalLocations"] = [
                {"fullyQualifiedName": finding.function, "kind": "function"}
            ]
    else:
        # a database object (``db://app/renders``) or a setting: no file to point at
        location["logicalLocations"] = [{"fullyQualifiedName": finding.path, "kind": "resource"}]
    return location


def _hop_location(hop: CallHop, number: int) -> dict[str, Any]:
    text = f"{hop.function}: {hop.detail}" if hop.detail else hop.function
    location: dict[str, Any] = {"id": number, "message": {"text": text}}
    physical: dict[str, Any] = {"artifactLocation": _artifact(hop.path)}
    if hop.line >= 1:
        physical["region"] = {"startLine": hop.line}
    location["physicalLocation"] = physical
    return location


def _artifact(path: str) -> dict[str, Any]:
    """A relative path under ``%SRCROOT%``; an absolute one as a ``file:`` URI; URIs unchanged."""
    if _URI_SCHEME.match(path):
        return {"uri": path}
    posix = path.replace(os.sep, "/") if os.sep != "/" else path
    if PurePosixPath(posix).is_absolute() or re.match(r"^[A-Za-z]:/", posix):
        return {"uri": "file://" + ("" if posix.startswith("/") else "/") + quote(posix)}
    return {"uri": quote(posix), "uriBaseId": SOURCE_ROOT}


def _directory_uri(path: str) -> str:
    absolute = os.path.abspath(path).replace(os.sep, "/")
    if not absolute.startswith("/"):
        absolute = "/" + absolute  # C:/work -> /C:/work
    return "file://" + quote(absolute.rstrip("/") + "/")


def _properties(finding: Finding) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "severity": str(finding.severity),
        "confidence": finding.confidence,
        "precision": PRECISIONS.get(finding.confidence, "medium"),
        "source": finding.source,
    }
    if finding.function:
        properties["function"] = finding.function
    if finding.query_cost:
        properties["queryCost"] = finding.query_cost
    if finding.fixed_query_cost:
        properties["fixedQueryCost"] = finding.fixed_query_cost
    if finding.evidence is not None:
        properties["evidence"] = {
            "queries": finding.evidence.queries,
            "totalMs": finding.evidence.total_ms,
            "unit": finding.evidence.unit,
        }
    if finding.fix is not None:
        properties["fix"] = {
            "summary": finding.fix.summary,
            "code": finding.fix.code,
            "language": finding.fix.language,
        }
    return properties


# --- skipped files ---------------------------------------------------------------------------


def _invocation(skipped: list[SkippedFile]) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if skipped:
        invocation["toolExecutionNotifications"] = [_not_analyzed(s) for s in skipped]
    return invocation


def _not_analyzed(skipped: SkippedFile) -> dict[str, Any]:
    # an empty or oversized file was left out on purpose; a syntax error needs the user
    return {
        "level": "note" if skipped_by_design(skipped) else "warning",
        "message": {"text": f"not analyzed: {skipped.reason}"},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(skipped.path)}}],
        "descriptor": {"id": "not-analyzed"},
    }
