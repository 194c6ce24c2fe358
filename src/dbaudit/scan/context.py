"""What a file's model depends on besides its own bytes, as a digest for the cache key.

A TypeScript or JavaScript file's imports are resolved against the nearest ``tsconfig.json``
(or ``jsconfig.json``) and the files it ``extends``: editing its ``paths`` aliases moves an
import to another module, so the cached model of every file under it must be rebuilt. The
search mirrors ``dbaudit.frontends.typescript.resolution.load_tsconfig``.
"""

from __future__ import annotations

import hashlib
import os
import re

from dbaudit.scan.discovery import is_script

_CONFIG_NAMES = ("tsconfig.json", "jsconfig.json")
_EXTENDS = re.compile(r'"extends"\s*:\s*"([^"]+)"')
_MAX_EXTENDS = 5


class ContextDigests:
    """Digests per folder for one scan (a tree has few configs and many files under each)."""

    def __init__(self) -> None:
        self._by_directory: dict[str, str] = {}

    def for_file(self, real_path: str) -> str:
        if not is_script(real_path):
            return ""
        return self._for_directory(os.path.dirname(real_path))

    def _for_directory(self, directory: str) -> str:
        known = self._by_directory.get(directory)
        if known is not None:
            return known
        digest = ""
        for name in _CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                digest = config_digest(candidate)
                break
        else:
            parent = os.path.dirname(directory)
            if parent != directory and os.path.basename(directory) != "node_modules":
                digest = self._for_directory(parent)
        self._by_directory[directory] = digest
        return digest


def config_digest(path: str) -> str:
    """The path and content of a tsconfig.json and of the configs it extends (relative ones)."""
    digest = hashlib.blake2b(digest_size=12)
    current: str | None = path
    for _ in range(_MAX_EXTENDS + 1):
        if current is None:
            break
        digest.update(current.encode("utf-8", "surrogateescape"))
        try:
            with open(current, "rb") as handle:
                data = handle.read(1_000_000)
        except OSError as error:
            digest.update(f"unreadable: {error.errno}".encode())
            break
        digest.update(data)
        current = _extended(current, data)
    return digest.hexdigest()


def _extended(path: str, data: bytes) -> str | None:
    match = _EXTENDS.search(data.decode("utf-8", "replace"))
    if match is None or not match.group(1).startswith("."):
        return None  # a package's shared config does not change with the app's code
    target = os.path.normpath(os.path.join(os.path.dirname(path), match.group(1)))
    return target if target.endswith(".json") else target + ".json"
