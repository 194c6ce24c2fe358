"""A content-hash cache, so a re-scan of an unchanged tree costs reading and hashing its files.

One SQLite file holds two tables: per file (keyed by path and content hash) what its worker
produced, and per tree (keyed by every analyzed file's key) the whole analysis result. Every key
also carries the analyzer's fingerprint (a hash of the frontend, model, analysis and rules source),
so upgrading dbaudit or editing a rule can never serve a stale answer. A cache that cannot be
opened or written is switched off for the run; it never fails an audit.

A file whose model is also built from other files (the ``.sql`` files a Python module loads with
aiosql) declares them in its meta as glob patterns (``inputs``), with a digest of what they held
(``inputs_digest``). Its cached meta and model are served only while those files still hold the
same, and the tree's key carries what they hold, so editing one re-analyzes the module and the
tree. A pattern matching nothing yet (a ``from_path`` folder not created, a module an import
names that does not exist) is declared too: creating the file changes the digest. A module read
only for whether it binds one name (``from app.db import queries`` where app/db.py binds none)
is declared with ``binding_probe``: only what could bind that name counts (its whole text when
it uses aiosql, else its import statements naming it), so editing a repository class that is
no queries object leaves its importers cached.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pickle
import re
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import dbaudit

CACHE_DIR_NAME = ".dbaudit-cache"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, meta BLOB NOT NULL, module BLOB)",
    "CREATE TABLE IF NOT EXISTS analyses (key TEXT PRIMARY KEY, result BLOB NOT NULL)",
)
_KEEP_ANALYSES = 8

# the packages whose code decides what a file's model and the findings are
_ANALYZER_PACKAGES = ("frontends", "model", "analysis", "rules", "findings.py", "scan")


@cache
def analyzer_fingerprint() -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(dbaudit.__version__.encode())
    digest.update(sys.version.encode())
    package = Path(dbaudit.__file__).parent
    for name in _ANALYZER_PACKAGES:
        target = package / name
        sources = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for source in sources:
            try:
                digest.update(str(source.relative_to(package)).encode())
                digest.update(source.read_bytes())
            except OSError:
                continue
    return digest.hexdigest()


# ``<_PROBE><name><_PROBE_END><glob pattern>``: see ``binding_probe``
_PROBE = "\0binds:"
_PROBE_END = "\0"


def binding_probe(name: str, pattern: str) -> str:
    """An input pattern for a Python module read only for whether it binds ``name`` as an
    aiosql queries object, itself or by importing it from elsewhere: its digest is the
    module's whole text when it uses aiosql, else its import statements that name ``name``
    (and, as for any pattern, the paths it matches: creating or deleting the file counts)."""
    return f"{_PROBE}{name}{_PROBE_END}{pattern}"


def inputs_digest(patterns: Iterable[str], seen: dict[str, bytes] | None = None) -> str:
    """What the files matching ``patterns`` hold now: their paths and contents (a file added,
    removed or edited changes it). ``seen``: each pattern's digest already taken in this run
    (many modules declare the same one: a repository most services import)."""
    digest = hashlib.blake2b(digest_size=16)
    for pattern in patterns:
        found = seen.get(pattern) if seen is not None else None
        if found is None:
            found = _pattern_digest(pattern)
            if seen is not None:
                seen[pattern] = found
        digest.update(found)
    return digest.hexdigest()


def _pattern_digest(pattern: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(pattern.encode("utf-8", "surrogateescape") + b"\0")
    name = ""
    if pattern.startswith(_PROBE):
        name, _, pattern = pattern[len(_PROBE) :].partition(_PROBE_END)
    if glob.has_magic(pattern):
        paths = sorted(glob.glob(pattern, recursive=True))
    else:  # one path, most often one that is not there (a folder looked for first)
        paths = [pattern] if os.path.lexists(pattern) else []
    for path in paths:
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            digest.update(f"unreadable: {error.errno}".encode())
            continue
        if name:
            data = _what_binds(data, name)
        digest.update(hashlib.blake2b(data, digest_size=16).digest())
    return digest.digest()


# an import statement: ``from x import a, b``, ``from x import (\n a,\n b,\n)``, ``import x``
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|[^\n]*)|import[ \t][^\n]*)", re.M
)


def _what_binds(data: bytes, name: str) -> bytes:
    """The part of a module that could bind ``name`` as aiosql queries: all of it when it
    names aiosql at all, else its import statements that name ``name`` (a re-export)."""
    if b"aiosql" in data:
        return data
    text = data.decode("utf-8", "replace").replace("\\\n", " ")
    word = re.compile(rf"\b{re.escape(name)}\b")
    kept = sorted(" ".join(s.split()) for s in _IMPORT.findall(text) if word.search(s))
    return "\n".join(kept).encode("utf-8", "surrogateescape")


def file_key(display_path: str, content_digest: str) -> str:
    return f"{display_path}\x1f{content_digest}"


def default_cache_dir(project_dir: str) -> str:
    """``<project>/.dbaudit-cache`` when writable, else the user's cache folder."""
    local = os.path.join(project_dir, CACHE_DIR_NAME)
    if os.path.isdir(local) and os.access(local, os.W_OK):
        return local
    if not os.path.exists(local) and os.access(project_dir, os.W_OK):
        return local
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    project_tag = hashlib.blake2b(os.path.abspath(project_dir).encode(), digest_size=6).hexdigest()
    return os.path.join(base, "dbaudit", project_tag)


class Cache:
    """The cache for one run; every method is a no-op once the cache has been switched off."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.problem = ""  # why the cache is off, for --verbose output
        self._db: sqlite3.Connection | None = None
        self._fingerprint = analyzer_fingerprint()
        # the input files the run's modules declared (patterns -> digest): the tree's key
        # carries them, and a meta is served only while its own still match
        self._inputs: dict[tuple[str, ...], str] = {}
        self._patterns: dict[str, bytes] = {}  # each input pattern's digest, this run
        if directory is not None:
            self._open(directory)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def _open(self, directory: str) -> None:
        try:
            os.makedirs(directory, exist_ok=True)
            _write_tag_files(directory)
            self._db = sqlite3.connect(os.path.join(directory, "cache.sqlite3"), timeout=5)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.commit()
        except (OSError, sqlite3.Error) as error:
            self._switch_off(error)

    def _switch_off(self, error: BaseException) -> None:
        self.problem = f"cache disabled: {error}"
        self.close()

    def _key(self, key: str) -> str:
        return f"{self._fingerprint}\x1e{key}"

    def get_metas(self, keys: Iterable[str]) -> dict[str, Any]:
        """Per-file results (without their models) for the keys present in the cache whose
        declared input files still hold what they held when the file was analyzed."""
        found = self._load_column("meta", keys)
        return {key: meta for key, meta in found.items() if self._inputs_unchanged(meta)}

    def _inputs_unchanged(self, meta: Any) -> bool:
        patterns = tuple(getattr(meta, "inputs", ()))
        if not patterns:
            return True
        current = self._inputs.get(patterns)
        if current is None:
            current = self._inputs[patterns] = inputs_digest(patterns, self._patterns)
        return bool(getattr(meta, "inputs_digest", "") == current)

    def _tree_key(self, key: str) -> str:
        if not self._inputs:
            return self._key(key)
        digest = hashlib.blake2b(digest_size=16)
        for patterns, value in sorted(self._inputs.items()):
            digest.update("\x1f".join(patterns).encode("utf-8", "surrogateescape"))
            digest.update(value.encode())
        return self._key(f"{key}\x1d{digest.hexdigest()}")

    def get_modules(self, keys: Iterable[str]) -> dict[str, Any]:
        return self._load_column("module", keys)

    def _load_column(
        self, column: Literal["meta", "module"], keys: Iterable[str]
    ) -> dict[str, Any]:
        """``key -> unpickled column`` for the keys stored with a value in that column."""
        wanted = list(keys)
        if self._db is None or not wanted:
            return {}
        found: dict[str, Any] = {}
        try:
            for chunk_start in range(0, len(wanted), 500):
                chunk = [self._key(k) for k in wanted[chunk_start : chunk_start + 500]]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, {column} FROM files"
                    f" WHERE key IN ({marks}) AND {column} IS NOT NULL",
                    chunk,
                ).fetchall()
                for key, blob in rows:
                    found[key.split("\x1e", 1)[1]] = pickle.loads(blob)
        except (sqlite3.Error, pickle.UnpicklingError, EOFError, AttributeError) as error:
            self._switch_off(error)
            return {}
        return found

    def put_files(self, entries: Mapping[str, tuple[Any, bytes | None]]) -> None:
        """Store ``key -> (meta, pickled module or None)``.

        Older contents of the same paths are dropped, so editing a file over and over does not
        grow the cache (a range on the primary key: ``path\x1f`` then a hex digest).
        """
        for meta, _ in entries.values():
            patterns = tuple(getattr(meta, "inputs", ()))
            if patterns:
                self._inputs[patterns] = getattr(meta, "inputs_digest", "")
        if self._db is None or not entries:
            return
        try:
            stale = []
            for key in entries:
                path_prefix = self._key(key.rsplit("\x1f", 1)[0] + "\x1f")
                stale.append((path_prefix, path_prefix + "\x7f"))
            self._db.executemany("DELETE FROM files WHERE key > ? AND key < ?", stale)
            rows = [
                (
                    self._key(key),
                    pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL),
                    module_blob,
                )
                for key, (meta, module_blob) in entries.items()
            ]
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", rows)
            self._db.commit()
        except (sqlite3.Error, pickle.PicklingError, TypeError, AttributeError) as error:
            self._switch_off(error)

    def get_analysis(self, key: str) -> Any | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT result FROM analyses WHERE key = ?", (self._tree_key(key),)
            ).fetchone()
            return None if row is None else pickle.loads(row[0])
        except (sqlite3.Error, pickle.UnpicklingError, EOFError, AttributeError) as error:
            self._switch_off(error)
            return None

    def put_analysis(self, key: str, result: Any) -> None:
        if self._db is None:
            return
        try:
            blob = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            self._db.execute(
                "INSERT OR REPLACE INTO analyses VALUES (?, ?)", (self._tree_key(key), blob)
            )
            # the newest few trees are enough: a re-scan hits the last one
            self._db.execute(
                "DELETE FROM analyses WHERE rowid NOT IN "
                "(SELECT rowid FROM analyses ORDER BY rowid DESC LIMIT ?)",
                (_KEEP_ANALYSES,),
            )
            self._db.commit()
        except (sqlite3.Error, pickle.PicklingError, TypeError, AttributeError) as error:
            self._switch_off(error)

    def prune_other_versions(self) -> None:
        """Drop entries written by another analyzer version; they can never be hit again."""
        if self._db is None:
            return
        prefix = self._fingerprint + "\x1e"
        try:
            for table in ("files", "analyses"):
                self._db.execute(
                    f"DELETE FROM {table} WHERE substr(key, 1, ?) != ?", (len(prefix), prefix)
                )
            self._db.commit()
        except sqlite3.Error as error:
            self._switch_off(error)

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def analysis_key(file_keys: Iterable[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for key in sorted(file_keys):
        digest.update(key.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _write_tag_files(directory: str) -> None:
    # keep the cache out of git and mark it as a cache for backup tools, as ruff and pytest do
    gitignore = os.path.join(directory, ".gitignore")
    if not os.path.exists(gitignore):
        with open(gitignore, "w", encoding="utf-8") as handle:
            handle.write("# created by dbaudit\n*\n")
    tag = os.path.join(directory, "CACHEDIR.TAG")
    if not os.path.exists(tag):
        with open(tag, "w", encoding="utf-8") as handle:
            handle.write("Signature: 8a477f597d28d172789f06886806bc55\n# created by dbaudit\n")
