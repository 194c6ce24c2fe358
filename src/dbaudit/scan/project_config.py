"""``[tool.dbaudit]`` in the audited project's ``pyproject.toml``.

Example::

    [tool.dbaudit]
    select = ["DBA1"]            # rule codes or prefixes; default: every rule
    ignore = ["DBA110"]
    exclude = ["legacy/*", "scripts"]
    fail-on = "medium"           # dbaudit check: lowest severity that fails (never info)
    min-severity = "low"         # reports leave out findings below this
    baseline = "dbaudit-baseline.json"
    max-file-size = 4194304      # bytes; larger files are listed as not analyzed
    cache-dir = ".dbaudit-cache"

The nearest ``pyproject.toml`` with a ``[tool.dbaudit]`` table, searching upward from the first
audited path, is used. Paths in it are relative to that file's folder. Unknown keys are an
error, so a typo never silently does nothing.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from typing import Any

from dbaudit.findings import Severity

KNOWN_KEYS = frozenset(
    {
        "select",
        "ignore",
        "exclude",
        "fail-on",
        "min-severity",
        "baseline",
        "max-file-size",
        "cache-dir",
    }
)


class ConfigError(ValueError):
    """``[tool.dbaudit]`` is malformed; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    path: str = ""  # the pyproject.toml it came from, "" when none
    base_dir: str = ""
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    fail_on: Severity | None = None
    min_severity: Severity | None = None
    baseline: str | None = None  # absolute
    max_file_size: int | None = None
    cache_dir: str | None = None  # absolute


def find_pyproject(start: str) -> str | None:
    """The nearest pyproject.toml at or above ``start`` that has a ``[tool.dbaudit]`` table."""
    directory = os.path.abspath(start)
    if not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate) and _has_dbaudit_table(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load(path: str) -> ProjectConfig:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    table = document.get("tool", {}).get("dbaudit", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.dbaudit] must be a table")
    return parse_table(table, path)


def parse_table(table: dict[str, Any], path: str) -> ProjectConfig:
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        known = ", ".join(sorted(KNOWN_KEYS))
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} in [tool.dbaudit] (known: {known})")
    base = os.path.dirname(os.path.abspath(path))
    select = table.get("select")
    return ProjectConfig(
        path=path,
        base_dir=base,
        select=None if select is None else _codes(select, "select", path),
        ignore=_codes(table.get("ignore", []), "ignore", path),
        exclude=_strings(table.get("exclude", []), "exclude", path),
        fail_on=_severity(table.get("fail-on"), "fail-on", path),
        min_severity=_severity(table.get("min-severity"), "min-severity", path),
        baseline=_path(table.get("baseline"), "baseline", path, base),
        max_file_size=_positive_int(table.get("max-file-size"), "max-file-size", path),
        cache_dir=_path(table.get("cache-dir"), "cache-dir", path, base),
    )


def _has_dbaudit_table(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read()
    except OSError:
        return False
    if b"dbaudit" not in head:
        return False
    try:
        document = tomllib.loads(head.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError:
        return True  # let load() report the syntax error instead of silently ignoring the file
    tool = document.get("tool", {})
    return isinstance(tool, dict) and "dbaudit" in tool


def _strings(value: Any, key: str, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: [tool.dbaudit] {key} must be a list of strings")
    return tuple(value)


def _codes(value: Any, key: str, path: str) -> tuple[str, ...]:
    return tuple(code.strip().upper() for code in _strings(value, key, path) if code.strip())


def _severity(value: Any, key: str, path: str) -> Severity | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: [tool.dbaudit] {key} must be a severity name")
    try:
        return Severity.parse(value)
    except ValueError as error:
        raise ConfigError(f"{path}: [tool.dbaudit] {key}: {error}") from None


def _path(value: Any, key: str, path: str, base: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: [tool.dbaudit] {key} must be a path")
    return os.path.normpath(os.path.join(base, value))


def _positive_int(value: Any, key: str, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: [tool.dbaudit] {key} must be a positive integer")
    return value
