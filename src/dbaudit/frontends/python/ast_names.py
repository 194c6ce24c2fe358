"""Names as a Python syntax tree spells them, shared by the parser and the aiosql reader."""

from __future__ import annotations

import ast


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of Name and Attribute nodes, None for anything else.

    >>> dotted(ast.parse("aiosql.from_path", mode="eval").body)
    'aiosql.from_path'
    >>> dotted(ast.parse("f().x", mode="eval").body) is None
    True
    """
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None
