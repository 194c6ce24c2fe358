"""The pytest plugin's baseline: what each test already does, so only new or worse fails.

Turning the gate on in a suite that already has N+1s would fail twenty tests on day one; a
baseline records them (``pytest --dbaudit-baseline FILE --dbaudit-baseline-update``) and later
runs (``pytest --dbaudit-baseline FILE``) fail only on what is new or worse.

Format ``dbaudit.runtime.baseline``, version 1, one JSON object (keys sorted, so a diff in review
shows exactly what moved)::

    {
      "format": "dbaudit.runtime.baseline",
      "version": 1,
      "tests": {
        "tests/test_api.py::test_list": {            # the pytest node id
          "queries": 12,                             # every statement the test sent
          "findings": [
            {
              "rule": "DBA101",                      # key, with the test id and the fingerprint
              "fingerprint": "0d3f7185ba9974c2",     # dbaudit.sql.fingerprint digest of the SQL
              "count": 1,                            # findings with this key in the test
              "queries": 50,                         # the most queries one of them explained
              "sql": "SELECT * FROM renders WHERE renders.project_id = ?"    # for the reader
            }
          ]
        }
      }
    }

A finding's key is (test id, rule, fingerprint): no line numbers, so an edit above a loop does
not expire its entry, and the SQL's literals are already gone from the fingerprint. Against a
baseline a test fails when it has a finding (of a failing rule) whose key is not recorded, more
findings with one key than recorded, or one that explains more queries than recorded (worse);
and when it sends more queries in all than recorded. Tests missing from the file are judged as
without a baseline. Entries that no longer occur are listed, not dropped: pruning them is a
reviewed update. Nothing in the file depends on timing, so re-recording an unchanged suite
rewrites the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbaudit.findings import Finding

FORMAT = "dbaudit.runtime.baseline"
VERSION = 1


class BaselineFileError(ValueError):
    """The file is not a baseline this version can read (message is one line)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What a baseline holds for one (test, rule, fingerprint)."""

    rule: str
    fingerprint: str
    count: int
    queries: int
    sql: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.fingerprint)


@dataclass(frozen=True, slots=True)
class RecordedTest:
    queries: int
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One test against its baseline: what fails it and what the baseline tolerates."""

    regressions: tuple[str, ...]  # one line each: new or worse findings, more queries
    tolerated: tuple[Finding, ...]
    stale: tuple[Entry, ...]  # recorded, not seen this time


def finding_key(finding: Finding) -> tuple[str, str]:
    fingerprint = finding.evidence.fingerprint if finding.evidence is not None else ""
    return (finding.rule, fingerprint)


def entries_for(findings: Iterable[Finding], sql_of: Mapping[str, str]) -> list[Entry]:
    """Findings of one test as baseline entries (one per key); ``sql_of`` maps fingerprint
    digests to the normalised SQL, for the reader of the file."""
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding_key(finding), []).append(finding)
    entries = []
    for (rule, fingerprint), group in sorted(grouped.items()):
        worst = max(group, key=_queries)
        entries.append(
            Entry(
                rule,
                fingerprint,
                len(group),
                _queries(worst),
                sql_of.get(fingerprint, ""),
            )
        )
    return entries


def compare(
    baseline: RecordedTest | None,
    queries: int,
    findings: Iterable[Finding],
    fail_on: Iterable[str],
) -> Verdict:
    """Judge one test's findings (only rules in ``fail_on`` can fail it) and its query count
    against its baseline (pure)."""
    failing_rules = frozenset(fail_on)
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding_key(finding), []).append(finding)
    entries = baseline.entries if baseline is not None else {}
    regressions: list[str] = []
    tolerated: list[Finding] = []
    for key, group in grouped.items():
        if key[0] not in failing_rules:
            continue
        entry = entries.get(key)
        if entry is None:
            regressions += [_describe(f, "new") for f in group]
            continue
        worse = [f for f in group if _queries(f) > entry.queries]
        regressions += [
            _describe(f, f"worse: {_queries(f)} queries, baseline {entry.queries}") for f in worse
        ]
        if len(group) > entry.count:
            regressions.append(
                f"{key[0]} {group[0].message}: {len(group)} findings, baseline {entry.count}"
            )
        elif not worse:
            tolerated += group
    if baseline is not None and queries > baseline.queries:
        regressions.append(f"{queries} queries, baseline {baseline.queries}")
    stale = tuple(e for key, e in entries.items() if key not in grouped)
    return Verdict(tuple(regressions), tuple(tolerated), stale)


def _describe(finding: Finding, why: str) -> str:
    return f"{finding.rule} at {finding.path}:{finding.line} ({why}): {finding.message}"


def _queries(finding: Finding) -> int:
    return finding.evidence.queries if finding.evidence is not None else 0


def load(path: str | Path) -> dict[str, RecordedTest]:
    """Test id -> its baseline; a missing file is an empty baseline (the first run records)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineFileError(f"{path}: cannot read: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineFileError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BaselineFileError(f"{path}: not a dbaudit runtime baseline (format {FORMAT!r})")
    version = document.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise BaselineFileError(
            f"{path}: baseline version {version!r}; this dbaudit reads {VERSION}"
        )
    try:
        return {str(test): _test_from_dict(data) for test, data in document["tests"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BaselineFileError(f"{path}: malformed baseline: {error!r}") from None


def _test_from_dict(data: Mapping[str, Any]) -> RecordedTest:
    entries = [entry_from_dict(e) for e in data.get("findings", ())]
    return RecordedTest(int(data["queries"]), {e.key: e for e in entries})


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    return {
        "rule": entry.rule,
        "fingerprint": entry.fingerprint,
        "count": entry.count,
        "queries": entry.queries,
        "sql": entry.sql,
    }


def entry_from_dict(data: Mapping[str, Any]) -> Entry:
    return Entry(
        str(data["rule"]),
        str(data["fingerprint"]),
        int(data.get("count", 1)),
        int(data["queries"]),
        str(data.get("sql", "")),
    )


def dumps(tests: Mapping[str, RecordedTest]) -> str:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "tests": {
            test: {
                "queries": baseline.queries,
                "findings": [entry_to_dict(e) for _, e in sorted(baseline.entries.items())],
            }
            for test, baseline in sorted(tests.items())
        },
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write(path: str | Path, tests: Mapping[str, RecordedTest]) -> None:
    Path(path).write_text(dumps(tests), encoding="utf-8")
