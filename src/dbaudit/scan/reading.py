"""Reading one source file into text, with a reason for every file that cannot be read.

Python source may declare its encoding (PEP 263) or start with a UTF-8 BOM; both are honoured.
A file that does not decode is not guessed at: it is listed as not analyzed.
"""

from __future__ import annotations

import hashlib
import io
import tokenize
from dataclasses import dataclass

DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024  # generated tables and vendored blobs, not app code


@dataclass(frozen=True, slots=True)
class RawSource:
    data: bytes
    digest: str  # content hash of the bytes, the cache key's main part


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: str
    is_error: bool = True  # False for files skipped by design (empty, over the size limit)


def read_bytes(real_path: str, max_bytes: int) -> RawSource | Unreadable:
    try:
        with open(real_path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except IsADirectoryError:
        return Unreadable("is a directory")
    except OSError as error:
        return Unreadable(f"unreadable: {(error.strerror or type(error).__name__).lower()}")
    if len(data) > max_bytes:
        return Unreadable(
            f"too large (over {_human_bytes(max_bytes)}; raise max-file-size to audit it)",
            is_error=False,
        )
    if not data.strip():
        return Unreadable("empty file", is_error=False)
    return RawSource(data=data, digest=content_digest(data))


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode(data: bytes) -> str | Unreadable:
    """The text of a Python source file, or why it has none."""
    if b"coding" not in data[:400] and not data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            return Unreadable(f"not valid UTF-8 (byte {error.start})")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        return Unreadable(f"bad encoding declaration: {error.msg}")
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except (UnicodeDecodeError, LookupError) as error:
        return Unreadable(f"does not decode as its declared {encoding}: {type(error).__name__}")


def count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _human_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MiB"
    if size >= 1024:
        return f"{size / 1024:g} KiB"
    return f"{size} bytes"
