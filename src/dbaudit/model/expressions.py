"""Reading the expressions the model keeps as text (``Filter.value``, ``Call.args``,
``Loop.iterable``), the same way for every language's frontend."""

from __future__ import annotations

import re


def free_names(expression: str) -> set[str]:
    """Names an expression reads (``Number(link.recipientId)`` -> Number, link): not the
    properties after a dot, nor the words of a string. Python's expressions read the same.

    >>> sorted(free_names("Number(link.recipientId) + 'a b'"))
    ['Number', 'link']
    """
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", expression)
    return set(re.findall(r"(?<![\w$.])[A-Za-z_$][\w$]*", unquoted))


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
