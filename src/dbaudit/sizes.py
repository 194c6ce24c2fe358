"""Byte counts as people read them, for reports and the index review alike."""

from __future__ import annotations


def human_bytes(size: int | None) -> str:
    """``8.0 kB``, ``1.2 MB``; ``unknown size`` for None.

    >>> human_bytes(8192), human_bytes(1_300_000), human_bytes(512)
    ('8.0 kB', '1.2 MB', '512 bytes')
    """
    if size is None:
        return "unknown size"
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
