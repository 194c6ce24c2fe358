"""The TypeScript/JavaScript frontend: tree-sitter -> the same program model as Python.

``parse_module(path, source)`` builds the ``ModuleModel`` of one file (``language=
"typescript"``); ``parse(path, source)`` also returns notes (syntax errors tree-sitter
recovered from). ``skip_reason(path, source)`` says why a file is not analyzed at all
(declaration files, minified bundles); ``parse_module`` raises ``SkippedSource`` (a
``ValueError``) for those. ``might_touch_database(source)`` is the cheap text pre-check.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass

from dbaudit.frontends.typescript import patterns as P
from dbaudit.frontends.typescript.builder import ModuleBuilder, ModuleContext
from dbaudit.frontends.typescript.queries import Source
from dbaudit.frontends.typescript.resolution import tsconfig_for
from dbaudit.frontends.typescript.syntax import (
    IdentifierIndex,
    dialect_for,
    error_lines,
    parse_recovering,
)
from dbaudit.model import ModuleModel

SUFFIXES: tuple[str, ...] = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
DECLARATION_SUFFIXES: tuple[str, ...] = (".d.ts", ".d.mts", ".d.cts")


class SkippedSource(ValueError):
    """The file is not analyzed; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class ParseOutcome:
    module: ModuleModel
    notes: tuple[str, ...] = ()  # one line each, e.g. "syntax errors at lines 3, 9 (recovered)"
    # glob patterns of files the model depends on not being there: an import's candidates
    # looked for before the file it resolved to (the scan cache re-reads it once one exists)
    inputs: tuple[str, ...] = ()


def handles(path: str) -> bool:
    """True for the files this frontend reads (declaration files are listed, then skipped)."""
    return path.lower().endswith(SUFFIXES)


def might_touch_database(source: str) -> bool:
    """False when the text cannot reach a database by itself or through a helper it calls."""
    if any(token in source for token in P.PRECHECK_TOKENS):
        return True
    return P.PRECHECK_WORDS.search(source) is not None


def skip_reason(path: str, source: str) -> str | None:
    return _skip_reason(path, source, None)


def _skip_reason(path: str, source: str, split: list[str] | None) -> str | None:
    """``split`` is ``source.splitlines()`` when the caller has it already."""
    lowered = path.lower()
    if lowered.endswith(DECLARATION_SUFFIXES):
        return "TypeScript declaration file (.d.ts): types only, no code"
    if "\0" in source:
        return "binary content (NUL bytes)"
    lines = source.count("\n") + 1
    longest = max(map(len, source.splitlines() if split is None else split), default=0)
    if longest > P.MINIFIED_LINE or (
        len(source) > 20_000 and len(source) / lines > P.MINIFIED_AVERAGE
    ):
        return f"minified or bundled JavaScript (a line of {longest} characters)"
    return None


def parse(path: str, source: str, *, resolve_files: bool = True) -> ParseOutcome:
    """Model one file. ``resolve_files=False`` keeps import specifiers as written (no I/O)."""
    split = source.splitlines()
    reason = _skip_reason(path, source, split)
    if reason is not None:
        raise SkippedSource(reason)
    dialect = dialect_for(path)
    # newer syntax the grammar lacks (variance annotations, ...) is blanked and parsed again:
    # ``data`` may differ from the source in those keywords only, never in length or lines
    parsed = parse_recovering(source.encode("utf-8", "surrogatepass"), dialect)
    data = parsed.data
    ctx = ModuleContext(
        path=path,
        src=Source(data),
        lines=split,
        config=tsconfig_for(path) if resolve_files else None,
        resolve_files=resolve_files,
        identifiers=IdentifierIndex(parsed, data, dialect),
    )
    try:
        module = ModuleBuilder(ctx).build(parsed.statements)
    except RecursionError:
        raise SkippedSource("too deeply nested to model") from None
    notes: tuple[str, ...] = ()
    if parsed.has_error:
        where = ", ".join(str(line) for line in error_lines(parsed))
        notes = (f"syntax errors near line {where}: modeled what tree-sitter could recover",)
    inputs = tuple(dict.fromkeys(glob.escape(p) for p in ctx.looked_for))
    return ParseOutcome(module, notes, inputs)


def parse_module(path: str, source: str) -> ModuleModel:
    return parse(path, source).module


__all__ = [
    "DECLARATION_SUFFIXES",
    "SUFFIXES",
    "ParseOutcome",
    "SkippedSource",
    "handles",
    "might_touch_database",
    "parse",
    "parse_module",
    "skip_reason",
]
