"""Baselines: the findings a project has accepted for now, so ``dbaudit check`` fails on new ones.

Entries are keyed by ``Finding.baseline_key()`` (rule, file, function and the code's shape, never
line numbers), so code that moves within its file keeps its entry. Paths are taken relative to
the baseline file's folder, so the key does not depend on the directory ``check`` runs from.
Identical findings are counted: a second copy of an accepted N+1 is new.

Each entry also carries the rule, path, function and a message for reviewers; none of them is
read back. A runtime finding's message quotes the run's counts and times, so its entry gets a
stable one instead (the rule's name, "seen at runtime"): writing the baseline again after
another run changes no line. Files written with the run's message still load and match.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dbaudit import __version__
from dbaudit.findings import Finding

BASELINE_VERSION = 1


class BaselineError(ValueError):
    """The baseline file cannot be read or is not a dbaudit baseline."""


@dataclass(frozen=True, slots=True)
class Baseline:
    counts: dict[str, int]  # baseline key -> how many identical findings were accepted

    def new_findings(self, findings: Iterable[Finding], base_dir: str, cwd: str) -> list[Finding]:
        """Findings beyond what the baseline accepted, in the order given."""
        remaining = Counter(self.counts)
        fresh: list[Finding] = []
        for finding in sorted(findings, key=lambda f: (f.path, f.line, f.col, f.rule)):
            key = key_for(finding, base_dir, cwd)
            if remaining[key] > 0:
                remaining[key] -= 1
            else:
                fresh.append(finding)
        return fresh


def key_for(finding: Finding, base_dir: str, cwd: str) -> str:
    """The finding's baseline key with its path relative to the baseline's folder."""
    absolute = os.path.normpath(os.path.join(cwd, finding.path))
    try:
        relative = os.path.relpath(absolute, base_dir).replace(os.sep, "/")
    except ValueError:
        relative = finding.path
    return replace(finding, path=relative).baseline_key()


def load(path: str) -> Baseline:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise BaselineError(f"baseline file {path} does not exist") from None
    except OSError as error:
        raise BaselineError(f"cannot read baseline {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BaselineError(f"baseline {path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("tool") != "dbaudit":
        raise BaselineError(f"{path} is not a dbaudit baseline")
    version = document.get("version")
    if version != BASELINE_VERSION:
        raise BaselineError(
            f"baseline {path} has version {version!r}; this dbaudit reads {BASELINE_VERSION}"
        )
    counts: dict[str, int] = {}
    for entry in document.get("findings", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise BaselineError(f"baseline {path} has an entry without a key")
        count = entry.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise BaselineError(f"baseline {path}: entry {entry['key']} has a bad count")
        counts[entry["key"]] = counts.get(entry["key"], 0) + count
    return Baseline(counts)


def dumps(findings: Iterable[Finding], base_dir: str, cwd: str) -> str:
    """A baseline accepting ``findings``; entries carry rule, path and message for reviewers."""
    names: dict[str, str] | None = None
    entries: dict[str, dict[str, object]] = {}
    counts: Counter[str] = Counter()
    for finding in sorted(findings, key=lambda f: (f.path, f.line, f.col, f.rule)):
        key = key_for(finding, base_dir, cwd)
        counts[key] += 1
        if key in entries:
            continue
        absolute = os.path.normpath(os.path.join(cwd, finding.path))
        message = finding.message
        if finding.source == "runtime":
            if names is None:
                from dbaudit.report.common import rule_names

                names = rule_names()
            message = f"{names.get(finding.rule, finding.rule)}, seen at runtime"
        entries[key] = {
            "key": key,
            "rule": finding.rule,
            "path": os.path.relpath(absolute, base_dir).replace(os.sep, "/"),
            "function": finding.function,
            "message": message,
        }
    for key, entry in entries.items():
        entry["count"] = counts[key]
    document = {
        "tool": "dbaudit",
        "version": BASELINE_VERSION,
        "generated_by": f"dbaudit {__version__}",
        "findings": sorted(entries.values(), key=lambda e: (str(e["path"]), str(e["key"]))),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(path: str, findings: Iterable[Finding], cwd: str) -> None:
    base_dir = os.path.dirname(os.path.abspath(path))
    text = dumps(findings, base_dir, cwd)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise BaselineError(f"cannot write baseline {path}: {error.strerror}") from None
