"""Inline suppressions: ``# dbaudit: ignore[DBA101, DBA105]`` or a bare ``# dbaudit: ignore``.

TypeScript and JavaScript write the same comment as ``// dbaudit: ignore[DBA101]``.

A comment silences a finding when it sits on the finding's own line, or on the header line of
a loop or function that encloses it: the place a reader looks when a loop is flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbaudit.findings import Finding

# ``#`` in Python; ``//`` or ``/*`` in TypeScript and JavaScript
_COMMENT = re.compile(
    r"(?:#|//|/\*)\s*dbaudit:\s*ignore\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE
)
_CODE = re.compile(r"[A-Za-z]+[0-9]+")

ALL_RULES: frozenset[str] = frozenset({"*"})  # a bare ``ignore``: every rule


@dataclass(frozen=True, slots=True)
class Suppressions:
    """What one file suppresses: comment lines and the enclosing-block headers they can sit on.

    ``by_line`` maps a line to the rule codes ignored there (``ALL_RULES`` for all).
    ``blocks`` are (header line, first line, last line) of every loop and function, so a
    comment on a ``for`` or ``def`` line covers the findings in its body.
    """

    by_line: tuple[tuple[int, frozenset[str]], ...] = ()
    blocks: tuple[tuple[int, int, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.by_line)

    def covers(self, finding: Finding) -> bool:
        if not self.by_line:
            return False
        lines = dict(self.by_line)
        candidates = {finding.line}
        for header, first, last in self.blocks:
            if first <= finding.line <= last:
                candidates.add(header)
        for line in candidates:
            codes = lines.get(line)
            if codes is not None and ("*" in codes or finding.rule.upper() in codes):
                return True
        return False


NO_SUPPRESSIONS = Suppressions()


def comment_lines(source: str) -> tuple[tuple[int, frozenset[str]], ...]:
    """Lines carrying a dbaudit suppression comment; cheap when there is none."""
    if "dbaudit" not in source:
        return ()
    found: list[tuple[int, frozenset[str]]] = []
    for number, text in enumerate(source.splitlines(), start=1):
        if "dbaudit" not in text:
            continue
        match = _COMMENT.search(text)
        if match is None:
            continue
        raw = match.group("codes")
        codes = ALL_RULES if raw is None else frozenset(c.upper() for c in _CODE.findall(raw))
        found.append((number, codes))
    return tuple(found)
