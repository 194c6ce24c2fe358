"""tree-sitter plumbing: one cached parser per dialect, and small helpers over nodes.

The grammars come from the PyPI wheels ``tree-sitter-typescript`` (TypeScript and TSX) and
``tree-sitter-javascript``. Everything else in this frontend works on the nodes these return;
nothing outside ``frontends/typescript`` ever sees them.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import cache
from itertools import pairwise

from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

# Wrappers that change the type of an expression but not its value (TS casts, parentheses).
TRANSPARENT = frozenset(
    {
        "parenthesized_expression",
        "as_expression",
        "satisfies_expression",
        "non_null_expression",
        "type_assertion",
    }
)


def dialect_for(path: str) -> str:
    """``tsx`` for .tsx, ``javascript`` for .js/.jsx/.mjs/.cjs, ``typescript`` otherwise."""
    lowered = path.lower()
    if lowered.endswith(".tsx"):
        return "tsx"
    if lowered.endswith((".js", ".jsx", ".mjs", ".cjs")):
        return "javascript"
    return "typescript"


@cache
def language_for(dialect: str) -> Language:
    if dialect == "javascript":
        import tree_sitter_javascript

        return Language(tree_sitter_javascript.language())
    import tree_sitter_typescript

    if dialect == "tsx":
        return Language(tree_sitter_typescript.language_tsx())
    return Language(tree_sitter_typescript.language_typescript())


@cache
def parser_for(dialect: str) -> Parser:
    return Parser(language_for(dialect))


@cache
def _identifier_query(dialect: str) -> Query:
    return Query(language_for(dialect), "[(identifier) (shorthand_property_identifier)] @name")


class IdentifierIndex:
    """Every identifier read in a file, by position: the names inside any node by bisection.

    Collected once per file by a tree-sitter query (matching runs in C), so asking "which
    names does this expression read?" for each of thousands of calls never re-walks a subtree.
    """

    __slots__ = ("names", "starts")

    def __init__(self, root: Node, data: bytes, dialect: str) -> None:
        captured = QueryCursor(_identifier_query(dialect)).captures(root).get("name", [])
        starts = [n.start_byte for n in captured]
        ends = [n.end_byte for n in captured]
        if any(later <= earlier for earlier, later in pairwise(starts)):
            # captures come in document order; sort (as pairs, ties by end) only when not
            pairs = sorted(zip(starts, ends, strict=True))
            starts = [start for start, _ in pairs]
            ends = [end for _, end in pairs]
        self.starts = starts
        self.names = [
            data[start:end].decode("utf-8", "replace")
            for start, end in zip(starts, ends, strict=True)
        ]

    def within(self, node: Node) -> set[str]:
        low = bisect_left(self.starts, node.start_byte)
        high = bisect_left(self.starts, node.end_byte, low)
        return set(self.names[low:high])


def parse(source: bytes, dialect: str) -> Tree:
    return parser_for(dialect).parse(source)


def unwrap(node: Node) -> Node:
    """Strip parentheses, ``as T``, ``satisfies T`` and ``!`` around an expression."""
    while node.type in TRANSPARENT:
        inner = node.named_children
        if not inner:
            break
        node = inner[0]
    return node


def error_lines(root: Node, limit: int = 5) -> tuple[int, ...]:
    """1-based lines of the first ``ERROR``/missing nodes, for a note on a damaged file."""
    found: list[int] = []
    stack = [root]
    while stack and len(found) < limit:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append(node.start_point[0] + 1)
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return tuple(sorted(set(found)))
