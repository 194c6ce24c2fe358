"""Which source files an audit reads (``.py`` and the TypeScript/JavaScript suffixes).

A directory walk that survives whatever a real tree holds.

Symlink loops, broken links, unreadable directories and excluded folders never stop the walk;
each file that is not read gets a ``SkippedFile`` with the reason. Paths given explicitly on the
command line are always audited, even when an exclude pattern would match them (as in ruff).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from dbaudit.findings import SkippedFile

# Folders that hold somebody else's code, generated code or tool state, never the app itself.
# Migrations run once, so a per-row loop in one is not the steady-state cost the audit is about.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".env",
    "env",
    ".tox",
    ".nox",
    "node_modules",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".turbo",
    ".yarn",
    "site-packages",
    "dist-packages",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".dbaudit-cache",
    ".eggs",
    "*.egg-info",
    "build",
    "dist",
    "migrations",
)


# ``dbaudit.frontends.typescript.SUFFIXES`` (a test keeps them equal), spelled out here so that
# walking a Python-only tree does not import tree-sitter and its grammars (a quarter second)
SCRIPT_SUFFIXES: tuple[str, ...] = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


def is_script(path: str) -> bool:
    """A TypeScript or JavaScript file, for ``dbaudit.frontends.typescript``."""
    return path.lower().endswith(SCRIPT_SUFFIXES)


def is_source_name(name: str) -> bool:
    """A file name the audit reads when walking a folder: Python, TypeScript or JavaScript."""
    return name.endswith(".py") or is_script(name)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to audit: where it is on disk and how reports show it."""

    real_path: str  # absolute, symlinks resolved; what the reader opens
    display_path: str  # relative to the working directory when under it, posix separators
    root: str  # the display form of the command-line path it was found under


@dataclass(frozen=True, slots=True)
class Discovery:
    files: tuple[SourceFile, ...]
    skipped: tuple[SkippedFile, ...]


@dataclass(frozen=True, slots=True)
class ExcludeMatcher:
    """Glob patterns in the style of ruff's ``exclude``.

    A pattern without ``/`` matches a file or folder name (``migrations``, ``*_pb2.py``); a
    pattern with ``/`` matches the path relative to ``base`` (``legacy/*``, ``app/gen/**``).
    The walk asks about every entry on its way down, so names of parent folders need no check.
    """

    patterns: tuple[str, ...]
    base: str

    def matches(self, path: str) -> bool:
        name = os.path.basename(path)
        relative: str | None = None
        for raw in self.patterns:
            pattern = raw.rstrip("/")
            if not pattern:
                continue
            if "/" not in pattern:
                if fnmatchcase(name, pattern):
                    return True
                continue
            if relative is None:
                relative = _relative_posix(path, self.base)
            pattern = pattern.removeprefix("./")
            if fnmatchcase(relative, pattern):
                return True
        return False


def display_path(path: str, cwd: str) -> str:
    """Relative to the working directory when the file is under it, else absolute; always ``/``."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive on Windows
        return Path(absolute).as_posix()
    if relative == os.curdir:
        return "."
    if relative.startswith(os.pardir):
        return Path(absolute).as_posix()
    return Path(relative).as_posix()


def discover(
    paths: Iterable[str],
    excludes: Iterable[ExcludeMatcher],
    cwd: str | None = None,
) -> Discovery:
    """Every source file under ``paths`` (files given directly are taken whatever their suffix)."""
    cwd = os.path.abspath(cwd or os.getcwd())
    matchers = tuple(excludes)
    files: list[SourceFile] = []
    skipped: list[SkippedFile] = []
    seen_files: dict[str, str] = {}  # real path -> display path that was audited
    for given in paths:
        root_display = display_path(given, cwd)
        walker = _Walker(cwd, root_display, matchers, seen_files, files, skipped)
        walker.start(given)
    files.sort(key=lambda f: f.display_path)
    unique_skipped = sorted(set(skipped), key=lambda s: (s.path, s.reason))
    return Discovery(files=tuple(files), skipped=tuple(unique_skipped))


class _Walker:
    def __init__(
        self,
        cwd: str,
        root: str,
        matchers: tuple[ExcludeMatcher, ...],
        seen_files: dict[str, str],
        files: list[SourceFile],
        skipped: list[SkippedFile],
    ) -> None:
        self.cwd = cwd
        self.root = root
        self.matchers = matchers
        self.seen_files = seen_files
        self.files = files
        self.skipped = skipped
        self.active_dirs: dict[tuple[int, int], str] = {}  # directories on the current path

    def start(self, given: str) -> None:
        shown = display_path(given, self.cwd)
        if not os.path.lexists(given):
            self.skipped.append(SkippedFile(shown, "does not exist"))
            return
        if os.path.islink(given) and not os.path.exists(given):
            self.skipped.append(SkippedFile(shown, "broken symlink"))
            return
        if os.path.isdir(given):
            self._walk_dir(os.path.abspath(given))
        else:
            self._add_file(os.path.abspath(given))

    def _excluded(self, path: str) -> bool:
        return any(m.matches(path) for m in self.matchers)

    def _walk_dir(self, directory: str) -> None:
        shown = display_path(directory, self.cwd)
        try:
            info = os.stat(directory)
        except OSError as error:
            self.skipped.append(SkippedFile(shown, f"unreadable directory: {_os_reason(error)}"))
            return
        identity = (info.st_dev, info.st_ino)
        if identity in self.active_dirs:
            first = self.active_dirs[identity]
            self.skipped.append(SkippedFile(shown, f"symlink loop (points back to {first})"))
            return
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as error:
            self.skipped.append(SkippedFile(shown, f"unreadable directory: {_os_reason(error)}"))
            return
        self.active_dirs[identity] = shown
        try:
            for entry in entries:
                self._visit(entry)
        finally:
            del self.active_dirs[identity]

    def _visit(self, entry: os.DirEntry[str]) -> None:
        path = entry.path
        if self._excluded(path):
            return
        try:
            is_dir = entry.is_dir()  # follows symlinks
            is_link = entry.is_symlink()
        except OSError as error:
            self.skipped.append(
                SkippedFile(display_path(path, self.cwd), f"unreadable: {_os_reason(error)}")
            )
            return
        if is_dir:
            self._walk_dir(path)
            return
        if not is_source_name(entry.name):
            return
        if is_link and not os.path.exists(path):
            self.skipped.append(SkippedFile(display_path(path, self.cwd), "broken symlink"))
            return
        self._add_file(path)

    def _add_file(self, path: str) -> None:
        shown = display_path(path, self.cwd)
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError as error:
            self.skipped.append(SkippedFile(shown, f"unreadable: {_os_reason(error)}"))
            return
        if not regular:  # a FIFO or device would block or never end when read
            self.skipped.append(SkippedFile(shown, "not a regular file"))
            return
        real = os.path.realpath(path)
        if real in self.seen_files:
            if self.seen_files[real] != shown:
                reason = f"same file as {self.seen_files[real]} (symlink), audited there"
                self.skipped.append(SkippedFile(shown, reason))
            return
        self.seen_files[real] = shown
        self.files.append(SourceFile(real_path=real, display_path=shown, root=self.root))


def _relative_posix(path: str, base: str) -> str:
    try:
        relative = os.path.relpath(os.path.abspath(path), base)
    except ValueError:
        return Path(path).as_posix()
    return Path(relative).as_posix()


def _os_reason(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()
