"""The JSON report: a documented, versioned schema (docs/json-schema.md, audit-report.schema.json).

``schema_version`` changes its major number only when a field is removed or changes meaning;
new fields may appear in any version, so consumers should ignore keys they do not know.
"""

from __future__ import annotations

import json as _json
from typing import Any

from dbaudit import __version__
from dbaudit.findings import (
    Audit,
    CallHop,
    DatabaseReview,
    ExistingIndex,
    FileSummary,
    Finding,
    Fix,
    GoodPractice,
    IndexRecommendation,
    OperationMetric,
    RuntimeEvidence,
    SkippedFile,
    StatementCost,
)
from dbaudit.report.common import SEVERITIES_DESC, severity_counts
from dbaudit.scan import skipped_by_design
from dbaudit.scan.layers import LAYERS

SCHEMA_ID = "urn:dbaudit:schema:audit-report:1"
SCHEMA_VERSION = "1.2"  # 1.1: "database" and "metrics"; 1.2: evidence unit totals


def render(audit: Audit) -> str:
    return _json.dumps(to_dict(audit), indent=2, ensure_ascii=False) + "\n"


def to_dict(audit: Audit) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "dbaudit", "version": __version__},
        "roots": list(audit.roots),
        "summary": _summary(audit),
        "findings": [finding_dict(f) for f in audit.findings],
        "good_practices": [_practice(p) for p in audit.good_practices],
        "files": [_file(f) for f in audit.files],
        "skipped": [_skipped(s) for s in audit.skipped],
        "metrics": [_metric(m) for m in audit.metrics],
        "database": None if audit.database is None else _database(audit.database),
    }


def _summary(audit: Audit) -> dict[str, Any]:
    counts = severity_counts(audit.findings)
    by_layer = {layer: 0 for layer in LAYERS}
    for summary in audit.files:
        by_layer[summary.layer] = by_layer.get(summary.layer, 0) + 1
    return {
        "files_audited": len(audit.files),
        "lines_audited": sum(f.lines for f in audit.files),
        "files_by_layer": by_layer,
        "files_skipped": len(audit.skipped),
        "files_not_analyzable": sum(1 for s in audit.skipped if not skipped_by_design(s)),
        "findings": len(audit.findings),
        "findings_by_severity": {str(s): counts[s] for s in SEVERITIES_DESC},
        "good_practices": len(audit.good_practices),
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": str(finding.severity),
        "confidence": finding.confidence,
        "source": finding.source,
        "path": finding.path,
        "line": finding.line,
        "end_line": finding.end_line,
        "column": finding.col + 1,
        "function": finding.function,
        "message": finding.message,
        "problem": finding.problem,
        "query_cost": finding.query_cost,
        "fixed_query_cost": finding.fixed_query_cost,
        "call_chain": [_hop(h) for h in finding.call_chain],
        "fix": None if finding.fix is None else _fix(finding.fix),
        "code": finding.code,
        "evidence": None if finding.evidence is None else _evidence(finding.evidence),
        "baseline_key": finding.baseline_key(),
    }


def _hop(hop: CallHop) -> dict[str, Any]:
    return {"path": hop.path, "line": hop.line, "function": hop.function, "detail": hop.detail}


def _fix(fix: Fix) -> dict[str, Any]:
    return {"summary": fix.summary, "code": fix.code, "language": fix.language}


def _evidence(evidence: RuntimeEvidence) -> dict[str, Any]:
    return {
        "queries": evidence.queries,
        "total_ms": evidence.total_ms,
        "unit": evidence.unit,
        "fingerprint": evidence.fingerprint,
        # the whole unit's totals (0 when not known): the measured "before" of the operation
        "unit_queries": evidence.unit_queries,
        "unit_ms": evidence.unit_ms,
    }


def _practice(practice: GoodPractice) -> dict[str, Any]:
    return {
        "kind": practice.kind,
        "path": practice.path,
        "line": practice.line,
        "end_line": practice.end_line,
        "function": practice.function,
        "description": practice.description,
        "query_cost": practice.query_cost,
        "code": practice.code,
    }


def _file(summary: FileSummary) -> dict[str, Any]:
    return {
        "path": summary.path,
        "lines": summary.lines,
        "layer": summary.layer,
        "language": summary.language,
    }


def _skipped(skipped: SkippedFile) -> dict[str, Any]:
    return {
        "path": skipped.path,
        "reason": skipped.reason,
        "by_design": skipped_by_design(skipped),
    }


def _metric(metric: OperationMetric) -> dict[str, Any]:
    return {
        "name": metric.name,
        "queries_before": metric.queries_before,
        "queries_after": metric.queries_after,
        "ms_before": metric.ms_before,
        "ms_after": metric.ms_after,
        "measured": metric.measured,
    }


def _database(review: DatabaseReview) -> dict[str, Any]:
    return {
        "database": review.database,
        "source": review.source,
        "server_version": review.server_version,
        "tables": review.tables,
        "planner": review.planner,
        "workload_source": review.workload_source,
        "workload_statements": review.workload_statements,
        "workload_cost_before": review.workload_cost_before,
        "workload_cost_after": review.workload_cost_after,
        "recommendations": [_recommendation(r) for r in review.recommendations],
        "not_recommended": [
            {"ddl": r.ddl, "table": r.table, "reason": r.reason} for r in review.not_recommended
        ],
        "existing_indexes": [_existing(i) for i in review.existing_indexes],
        "settings": dict(review.settings),
        "connections_by_state": dict(review.connections_by_state),
        "problems": list(review.problems),
    }


def _recommendation(recommendation: IndexRecommendation) -> dict[str, Any]:
    return {
        "ddl": recommendation.ddl,
        "table": recommendation.table,
        "priority": recommendation.priority,
        "size_bytes": recommendation.size_bytes,
        "reason": recommendation.reason,
        "statements": [_statement(s) for s in recommendation.statements],
    }


def _statement(cost: StatementCost) -> dict[str, Any]:
    return {
        "label": cost.label,
        "query": cost.query,
        "calls": cost.calls,
        "cost_before": cost.cost_before,
        "cost_after": cost.cost_after,
        "ms_before": cost.ms_before,
        "ms_after": cost.ms_after,
    }


def _existing(index: ExistingIndex) -> dict[str, Any]:
    return {
        "table": index.table,
        "name": index.name,
        "definition": index.definition,
        "size_bytes": index.size_bytes,
        "scans": index.scans,
        "backs_constraint": index.backs_constraint,
    }
