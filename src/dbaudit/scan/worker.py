"""What happens to one file, in whichever process runs it: read, decode, pre-check, parse once.

Python files go to ``dbaudit.frontends.python``; TypeScript and JavaScript files (whatever
``dbaudit.frontends.typescript.handles`` accepts) to the tree-sitter frontend, which builds the
same program model, so the analysis after this point does not know which language it reads.

The result is small and picklable (no source text, no syntax tree) so it crosses the process
pool and sits in the cache cheaply. Any failure becomes a reason the file was not analyzed.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass, replace
from typing import Any

from dbaudit.scan.cache import inputs_digest
from dbaudit.scan.collection import paused_collection
from dbaudit.scan.discovery import is_script
from dbaudit.scan.reading import Unreadable, count_lines, decode, read_bytes
from dbaudit.scan.suppression import NO_SUPPRESSIONS, Suppressions, comment_lines


@dataclass(frozen=True, slots=True)
class FileJob:
    real_path: str
    display_path: str
    max_bytes: int
    # what else the model depends on besides the file's bytes (a TypeScript file's tsconfig.json)
    context_digest: str = ""


@dataclass(frozen=True, slots=True)
class FileMeta:
    """Everything about a file except its model; what a cached re-scan needs."""

    lines: int = 0
    touches_db: bool = False
    skip_reason: str = ""
    suppressions: Suppressions = NO_SUPPRESSIONS
    # analyzed, with a caveat the report lists (TypeScript syntax errors tree-sitter recovered,
    # aiosql .sql files a Python module loads that could not be read)
    notes: tuple[str, ...] = ()
    language: str = "python"
    # other files the model was built from, as glob patterns (the .sql files aiosql loads), and
    # what they held then: the cache serves this file again only while they hold the same
    inputs: tuple[str, ...] = ()
    inputs_digest: str = ""


@dataclass(frozen=True, slots=True)
class FileOutcome:
    display_path: str
    digest: str  # "" when the file could not be read, so nothing is cached for it
    meta: FileMeta
    # the pickled dbaudit.model.ModuleModel when the file can reach a database: pickled once
    # here, it crosses the process pool and goes into the cache without being pickled again
    module_blob: bytes | None = None


def process_file(job: FileJob) -> FileOutcome:
    raw = read_bytes(job.real_path, job.max_bytes)
    if isinstance(raw, Unreadable):
        return FileOutcome(job.display_path, "", _skipped(raw))
    digest = cache_digest(raw.digest, job.context_digest)
    with paused_collection():
        meta, module = analyze_bytes(job.display_path, raw.data)
        if module is None:
            return FileOutcome(job.display_path, digest, meta)
        try:
            blob = pickle.dumps(module, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, RecursionError, TypeError) as error:
            reason = f"internal error while storing the model: {type(error).__name__}"
            return FileOutcome(job.display_path, digest, replace(meta, skip_reason=reason))
    return FileOutcome(job.display_path, digest, meta, blob)


def cache_digest(content_digest: str, context_digest: str) -> str:
    """The digest a file is cached under: its bytes, plus what its model also depends on."""
    if not context_digest:
        return content_digest
    combined = hashlib.blake2b(digest_size=16)
    combined.update(content_digest.encode())
    combined.update(b"\x00")
    combined.update(context_digest.encode())
    return combined.hexdigest()


def language_of(path: str) -> str:
    if not is_script(path):
        return "python"
    return "typescript" if _TYPESCRIPT_SUFFIX.search(path.lower()) else "javascript"


_TYPESCRIPT_SUFFIX = re.compile(r"\.[cm]?tsx?$")


def analyze_bytes(display_path: str, data: bytes) -> tuple[FileMeta, Any]:
    if is_script(display_path):
        from dbaudit.frontends import typescript

        if typescript.handles(display_path):
            return _analyze_script(display_path, data)
    lines = count_lines(data)
    text = decode(data)
    if isinstance(text, Unreadable):
        return FileMeta(lines=lines, skip_reason=text.reason), None
    from dbaudit.frontends import python as frontend

    try:
        if not frontend.might_touch_database(text):
            return FileMeta(lines=lines), None
        outcome = frontend.parse(display_path, text)
    except frontend.ParseError as error:
        return FileMeta(lines=lines, skip_reason=str(error) or "cannot parse"), None
    except SyntaxError as error:
        return FileMeta(lines=lines, skip_reason=_syntax_reason(error)), None
    except RecursionError:
        return FileMeta(lines=lines, skip_reason="too deeply nested to parse"), None
    except MemoryError:
        return FileMeta(lines=lines, skip_reason="out of memory while parsing"), None
    except ValueError as error:  # e.g. "source code string cannot contain null bytes"
        return FileMeta(lines=lines, skip_reason=f"cannot parse: {error}"), None
    except Exception as error:  # one bad file never stops the audit of the others
        reason = f"internal error while analyzing: {type(error).__name__}: {error}"
        return FileMeta(lines=lines, skip_reason=reason[:300]), None
    module = outcome.module
    comments = comment_lines(text)
    suppressions = Suppressions(comments, _blocks(module)) if comments else NO_SUPPRESSIONS
    meta = FileMeta(
        lines=lines,
        touches_db=True,
        suppressions=suppressions,
        notes=outcome.notes,
        inputs=outcome.inputs,
        inputs_digest=inputs_digest(outcome.inputs) if outcome.inputs else "",
    )
    return meta, module


def _analyze_script(display_path: str, data: bytes) -> tuple[FileMeta, Any]:
    from dbaudit.frontends import typescript as frontend

    lines = count_lines(data)
    language = language_of(display_path)
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        reason = f"not valid UTF-8 (byte {error.start})"
        if b"\0" in data[:8192]:
            reason = frontend.skip_reason(display_path, "\0") or reason
        return FileMeta(lines=lines, skip_reason=reason, language=language), None
    try:
        if not frontend.might_touch_database(text):
            # a declaration file or a bundle is listed with its reason even when it names no
            # database (``parse`` checks the same for the others)
            skipped = frontend.skip_reason(display_path, text)
            return FileMeta(lines=lines, skip_reason=skipped or "", language=language), None
        outcome = frontend.parse(display_path, text)
    except frontend.SkippedSource as error:
        reason = str(error)
    except RecursionError:
        reason = "too deeply nested to parse"
    except MemoryError:
        reason = "out of memory while parsing"
    except Exception as error:  # one bad file never stops the audit of the others
        reason = f"internal error while analyzing: {type(error).__name__}: {error}"[:300]
    else:
        reason = ""
    if reason:
        return FileMeta(lines=lines, skip_reason=reason, language=language), None
    module = outcome.module
    comments = comment_lines(text)
    suppressions = Suppressions(comments, _blocks(module)) if comments else NO_SUPPRESSIONS
    meta = FileMeta(
        lines=lines,
        touches_db=True,
        suppressions=suppressions,
        notes=outcome.notes,
        language=language,
        inputs=outcome.inputs,
        inputs_digest=inputs_digest(outcome.inputs) if outcome.inputs else "",
    )
    return meta, module


def _skipped(unreadable: Unreadable) -> FileMeta:
    return FileMeta(skip_reason=unreadable.reason)


def _syntax_reason(error: SyntaxError) -> str:
    where = f" (line {error.lineno})" if error.lineno else ""
    return f"syntax error: {error.msg}{where}"


def _blocks(module: Any) -> tuple[tuple[int, int, int], ...]:
    """Header line and extent of every function and loop, from the model (no second parse)."""
    blocks: list[tuple[int, int, int]] = []
    for function in getattr(module, "functions", ()):
        span = function.span
        blocks.append((span.line, span.line, span.end_line))
        for loop in function.loops:
            blocks.append((loop.span.line, loop.span.line, loop.span.end_line))
    return tuple(blocks)
