"""The runtime events file: what ``pytest --dbaudit-json FILE`` writes and ``dbaudit report`` reads.

Format ``dbaudit.runtime.events``, version 1. One JSON object::

    {
      "format": "dbaudit.runtime.events",
      "version": 1,
      "created": "2026-11-25T07:00:00Z",          # UTC, ISO 8601
      "units": [
        {
          "name": "tests/test_api.py::test_list",   # test id, "GET /projects", profile name
          "queries": 51,                           # all queries, including dropped and ignored
          "dropped": 0,                            # over the per-unit event cap: counted only
          "db_time_ms": 12.5,                      # sum of kept events' durations
          "duration_ms": 40.1,                     # wall time of the unit
          "events": [
            {
              "seq": 0,                            # process-wide order
              "fingerprint": "0d3f7185ba9974c2",   # dbaudit.sql.fingerprint digest
              "sql": "SELECT * FROM renders WHERE id = ?",   # normalised: no literal values
              "literals": "5d1c2a0e9b7f3a41",      # a hash of the SQL's literal values, keyed
                                                   # per process ("" for none, absent: not known):
                                                   # equal in two events of a unit, they ran the
                                                   # same values
              "kind": "select",                    # select | insert | update | delete | other
              "start_ms": 0.42,                    # from the unit's start
              "duration_ms": 0.21,
              "rows": 1,                           # null when the driver does not say
              "source": "sqlalchemy",              # or sqlite3, psycopg, asyncpg, django, dbapi
              "thread": 140234, "task": 140567,    # task is null outside asyncio, or for a
                                                   # blocking driver's statement
              "ignored": false, "many": false, "error": null,
              "relationship": "Project.renders",  # the ORM lazy load it was, else null
                                                   # (Django's end in " @<digest of the parent>")
              "request": 3,                        # the HTTP request it served inside the
                                                   # unit (a test's requests), else null
              "stack": [{"path": "app/dal.py", "line": 10, "function": "get"}]   # innermost first
              # "params": ["1"]                    # only when the unit kept values (keep_params)
            }
          ],
          "findings": [ <Finding> ],                # the pytest plugin adds "test_code" to
                                                   # one located in test code: see below
          "suppressed": [ {"reason": "allowed by pattern '*'", "finding": <Finding>} ]
        }
      ]
    }

Under pytest-xdist (``pytest -n 2 --dbaudit-json FILE``) each worker writes its units to
``FILE.<worker>.part`` and the controller merges the parts into FILE (:func:`merge_parts`), so
FILE is always one complete document.

``<Finding>`` is ``dbaudit.findings.Finding`` field for field, with ``severity`` as its lower-case
name and ``call_chain``, ``fix`` and ``evidence`` as nested objects. A finding the pytest plugin
located in test code and did not judge (no ``--dbaudit-judge-test-code``) also has
``"test_code"``: why its file is test code ("a conftest.py"); :func:`finding_from_dict` reads
such a finding as advisory. A writer that adds keys of its own to the units builds them with
:func:`unit_to_dict` and writes them with :func:`dumps_units`. A reader must refuse a
different ``format`` and a ``version`` newer than it knows; new optional keys may appear
without a version change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbaudit.findings import Audit, CallHop, Finding, Fix, RuntimeEvidence, Severity
from dbaudit.runtime.budgets import counted
from dbaudit.runtime.detect import Suppressed
from dbaudit.runtime.events import QueryEvent
from dbaudit.runtime.unit import Unit

FORMAT = "dbaudit.runtime.events"
VERSION = 1


class EventsFileError(ValueError):
    """The file is not a dbaudit events file this version can read (message is one line)."""


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One unit as read back from a file (events stay as plain JSON objects)."""

    name: str
    queries: int
    db_time_ms: float
    events: tuple[Mapping[str, Any], ...]
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...]


def unit_to_dict(unit: Unit) -> dict[str, Any]:
    detection = unit.detection
    ended = unit.ended if unit.ended is not None else time.perf_counter()
    return {
        "name": unit.name,
        "queries": counted(unit),  # as budgets and the summary count: not a test harness' own
        "dropped": unit.dropped,
        "db_time_ms": round(unit.db_time_ms, 3),
        "duration_ms": round((ended - unit.started) * 1000, 3),
        "events": [_event_to_dict(event, unit.started, unit.keep_params) for event in unit.events],
        "findings": [finding_to_dict(f) for f in detection.findings],
        "suppressed": [
            {"reason": s.reason, "finding": finding_to_dict(s.finding)}
            for s in detection.suppressed
        ],
    }


def _event_to_dict(event: QueryEvent, origin: float, keep_params: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "seq": event.seq,
        "fingerprint": event.fingerprint.digest,
        "sql": event.fingerprint.text,
        "literals": event.fingerprint.literals,  # keyed hash: no literal value in the file
        "kind": event.fingerprint.kind,
        "start_ms": round((event.started - origin) * 1000, 3),
        "duration_ms": round(event.duration * 1000, 3),
        "rows": event.rows,
        "source": event.source,
        "thread": event.thread_id,
        "task": event.task_id,
        "ignored": event.ignored,
        "many": event.many,
        "error": event.error,
        "relationship": event.relationship if len(event) > _RELATIONSHIP_FIELD else None,
        "request": event.request if len(event) > _REQUEST_FIELD else None,
        "stack": [{"path": s.path, "line": s.line, "function": s.function} for s in event.stack],
    }
    # Slow queries keep their values in memory for EXPLAIN; only a unit that asked writes them.
    if keep_params and event.params is not None:
        values = event.params.values() if isinstance(event.params, Mapping) else event.params
        data["params"] = [repr(v) for v in values]
    return data


_RELATIONSHIP_FIELD = QueryEvent._fields.index("relationship")
_REQUEST_FIELD = QueryEvent._fields.index("request")


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": str(finding.severity),
        "message": finding.message,
        "path": finding.path,
        "line": finding.line,
        "end_line": finding.end_line,
        "function": finding.function,
        "col": finding.col,
        "query_cost": finding.query_cost,
        "fixed_query_cost": finding.fixed_query_cost,
        "call_chain": [
            {"path": h.path, "line": h.line, "function": h.function, "detail": h.detail}
            for h in finding.call_chain
        ],
        "fix": (
            {
                "summary": finding.fix.summary,
                "code": finding.fix.code,
                "language": finding.fix.language,
            }
            if finding.fix
            else None
        ),
        "confidence": finding.confidence,
        "source": finding.source,
        "code": finding.code,
        "problem": finding.problem,
        "evidence": (
            {
                "queries": finding.evidence.queries,
                "total_ms": finding.evidence.total_ms,
                "unit": finding.evidence.unit,
                "fingerprint": finding.evidence.fingerprint,
                "unit_queries": finding.evidence.unit_queries,
                "unit_ms": finding.evidence.unit_ms,
            }
            if finding.evidence
            else None
        ),
    }


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """A finding of an events file; one the pytest plugin located in test code (``"test_code"``:
    why) is advisory, as the static audit's findings in tests are: reported, never failing
    ``dbaudit check``."""
    finding = _finding_from_dict(data)
    reason = data.get("test_code")
    if reason:
        return finding.advisory(f"Reported as info: it is located in test code ({reason}).")
    return finding


def _finding_from_dict(data: Mapping[str, Any]) -> Finding:
    fix = data.get("fix")
    evidence = data.get("evidence")
    return Finding(
        rule=str(data["rule"]),
        severity=Severity.parse(str(data["severity"])),
        message=str(data["message"]),
        path=str(data["path"]),
        line=int(data["line"]),
        end_line=int(data.get("end_line", data["line"])),
        function=str(data.get("function", "")),
        col=int(data.get("col", 0)),
        query_cost=str(data.get("query_cost", "")),
        fixed_query_cost=str(data.get("fixed_query_cost", "")),
        call_chain=tuple(
            CallHop(str(h["path"]), int(h["line"]), str(h["function"]), str(h.get("detail", "")))
            for h in data.get("call_chain", ())
        ),
        fix=Fix(str(fix["summary"]), str(fix.get("code", "")), str(fix.get("language", "python")))
        if fix
        else None,
        confidence=data.get("confidence", "medium"),
        source=data.get("source", "runtime"),
        code=str(data.get("code", "")),
        problem=str(data.get("problem", "")),
        evidence=RuntimeEvidence(
            int(evidence["queries"]),
            float(evidence["total_ms"]),
            str(evidence.get("unit", "")),
            str(evidence.get("fingerprint", "")),
            int(evidence.get("unit_queries", 0)),
            float(evidence.get("unit_ms", 0.0)),
        )
        if evidence
        else None,
    )


def dumps(units: Iterable[Unit]) -> str:
    return dumps_units([unit_to_dict(unit) for unit in units])


def dumps_units(units: list[dict[str, Any]]) -> str:
    """The events document holding ``units`` (:func:`unit_to_dict`'s, or read from a file),
    stamped with this format, version and the time of writing."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "units": units,
    }
    return json.dumps(document, indent=1)


def write(path: str | Path, units: Iterable[Unit]) -> None:
    Path(path).write_text(dumps(units) + "\n", encoding="utf-8")


def merge_parts(parts: Iterable[str | Path], path: str | Path) -> int:
    """Write one events file at ``path`` holding the units of every part file (in the order
    given), then remove the parts; returns the number of units. A part that cannot be read is
    an ``EventsFileError`` and nothing is written or removed."""
    parts = list(parts)
    units: list[dict[str, Any]] = []
    for part in parts:
        units.extend(_read_document(part).get("units", []))
    Path(path).write_text(dumps_units(units) + "\n", encoding="utf-8")
    for part in parts:
        Path(part).unlink(missing_ok=True)
    return len(units)


def load(path: str | Path) -> list[UnitRecord]:
    """Read an events file; any problem is an ``EventsFileError`` with a one-line message."""
    document = _read_document(path)
    try:
        return [_unit_from_dict(unit) for unit in document.get("units", [])]
    except (KeyError, TypeError, ValueError) as error:
        raise EventsFileError(f"{path}: malformed unit: {error!r}") from None


def _read_document(path: str | Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EventsFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise EventsFileError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise EventsFileError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise EventsFileError(f"{path}: not a dbaudit runtime events file (format {FORMAT!r})")
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise EventsFileError(
            f"{path}: events file version {version!r}; this dbaudit reads {VERSION}"
        )
    if not isinstance(document.get("units", []), list):
        raise EventsFileError(f"{path}: malformed file: 'units' is not a list")
    return document


def _unit_from_dict(data: Mapping[str, Any]) -> UnitRecord:
    return UnitRecord(
        name=str(data["name"]),
        queries=int(data["queries"]),
        db_time_ms=float(data.get("db_time_ms", 0.0)),
        events=tuple(data.get("events", ())),
        findings=tuple(finding_from_dict(f) for f in data.get("findings", ())),
        suppressed=tuple(
            Suppressed(finding_from_dict(s["finding"]), str(s["reason"]))
            for s in data.get("suppressed", ())
        ),
    )


def to_audit(units: Iterable[UnitRecord], roots: tuple[str, ...] = ()) -> Audit:
    """One ``Audit`` for the reporters: the same problem seen in several units (one DAL loop
    hit by many tests) is one finding, carrying the evidence of its worst unit."""
    merged: dict[tuple[str, str, int, str], tuple[Finding, int]] = {}
    for unit in units:
        for finding in unit.findings:
            finding = _with_unit_totals(finding, unit)
            fingerprint = finding.evidence.fingerprint if finding.evidence else ""
            key = (finding.rule, finding.path, finding.line, fingerprint)
            seen = merged.get(key)
            if seen is None:
                merged[key] = (finding, 1)
                continue
            worst, count = seen
            if _queries(finding) > _queries(worst):
                worst = finding
            merged[key] = (worst, count + 1)
    findings = []
    for finding, count in merged.values():
        if count > 1:
            finding = _with_message(finding, f"{finding.message} (in {count} units)")
        findings.append(finding)
    findings.sort(key=lambda f: (-f.severity, f.path, f.line, f.rule))
    return Audit(roots=roots, findings=findings)


def _queries(finding: Finding) -> int:
    return finding.evidence.queries if finding.evidence else 0


def _with_message(finding: Finding, message: str) -> Finding:
    return replace(finding, message=message)


def _with_unit_totals(finding: Finding, unit: UnitRecord) -> Finding:
    """The unit record's totals count dropped events too, so they win over what detection saw."""
    if finding.evidence is None or unit.queries <= 0:
        return finding
    evidence = replace(finding.evidence, unit_queries=unit.queries, unit_ms=unit.db_time_ms)
    return replace(finding, evidence=evidence)
