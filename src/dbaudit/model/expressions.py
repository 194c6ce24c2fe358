"""Reading the expressions the model keeps as text (``Filter.value``, ``Call.args``,
``Loop.iterable``), the same way for every language's frontend."""

from __future__ import annotations

import re


def free_names(expression: str) -> set[str]:
    """Names an expression reads (``Number(link.recipientId)`` -> Number, link): not the
    properties after a dot, nor the words of a string. Python's expressions read the same.

    >>> sorted(free_names("Number(link.recipientId) + 'a b'"))
    ['Number', 'link']
    >>> sorted(free_names('f"{action}_{obj.__class__.__name__.lower()}"'))
    ['action', 'obj']
    """
    unquoted = _STRING.sub(_string_reads, expression)
    return set(re.findall(r"(?<![\w$.])[A-Za-z_$][\w$]*", unquoted))


# a string literal and the letters written before it (a Python prefix: f, rb, ...)
_STRING = re.compile(r"""(?<![\w$])([A-Za-z_$][\w$]*)?('[^']*'|"[^"]*")""")
_PREFIX = frozenset("rRbBuUfF")


def _string_reads(match: re.Match[str]) -> str:
    """A string literal as the names it reads: none, but a Python f-string reads what its
    replacement fields hold (``f"{action}_{obj.kind}"`` reads action and obj); a string's
    prefix is no name, anything else written before it is."""
    prefix = match.group(1) or ""
    if prefix and not set(prefix) <= _PREFIX:
        return f"{prefix} "
    if "f" not in prefix.lower():
        return " "
    body = match.group(2)[1:-1].replace("{{", "").replace("}}", "")
    fields = re.findall(r"\{([^{}]*)\}", body)
    return " " + " ".join(re.split(r"[!:]", field, maxsplit=1)[0] for field in fields) + " "


def object_pairs(literal: str) -> list[tuple[str, str]]:
    """``{ userId, key: entry.key }`` -> [("userId", "userId"), ("key", "entry.key")]; [] when
    the literal is not there whole or holds a spread (its keys are not known).

    >>> object_pairs("{ userId, key: entry.key }")
    [('userId', 'userId'), ('key', 'entry.key')]
    """
    inner = literal.strip()
    if not (inner.startswith("{") and inner.endswith("}")) or inner == "{ ... }":
        return []
    pieces: list[str] = []
    depth, start = 0, 1
    for index, char in enumerate(inner[1:-1], start=1):
        depth += {"{": 1, "(": 1, "[": 1, "}": -1, ")": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            pieces.append(inner[start:index])
            start = index + 1
    pieces.append(inner[start:-1])
    pairs: list[tuple[str, str]] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        key, colon, value = piece.partition(":")
        key = key.strip().strip("'\"")
        if not re.fullmatch(r"[A-Za-z_$][\w$]*", key):
            return []  # a spread, a computed key, a method
        pairs.append((key, value.strip() if colon else key))
    return pairs
