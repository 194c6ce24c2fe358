"""tree-sitter plumbing: one cached parser per dialect, and small helpers over nodes.

The grammars come from the PyPI wheels ``tree-sitter-typescript`` (TypeScript and TSX) and
``tree-sitter-javascript``. Everything else in this frontend works on the nodes these return;
nothing outside ``frontends/typescript`` ever sees them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


# Valid TypeScript that tree-sitter-typescript 0.23.2 (the newest wheel on PyPI) rejects. An
# error there does not stay local: on Effect's sources one ``<in out A>`` or one generic call
# signature turned the signatures and function bodies after it into hundreds of error nodes.
# Each repair blanks or replaces bytes one for one (every line and column is unchanged) and is
# kept only when the tree parsed from the result has fewer errors.
#
# Keywords whose removal changes nothing the model reads:
# - variance annotations (TS 4.7): ``interface Cache<in out K, out V = never>``;
# - ``export type * from "./types"`` (TS 5.0);
# - ``static accessor x`` (TS 4.9 auto-accessors after another modifier).
_VARIANCE = re.compile(
    rb"(?<=[<,])\s*((?:in\s+(?:out\s+)?|out\s+))(?=[A-Za-z_$][\w$]*\s*(?:extends\b|[=,>]))"
)
_EXPORT_TYPE_STAR = re.compile(rb"\bexport\s+(type)\s+\*")
_ACCESSOR_AFTER_MODIFIER = re.compile(
    rb"\b(?:static|override|readonly|declare|abstract|public|private|protected)\s+"
    rb"(accessor)\s+(?=[#\w$\[])"
)
_KEYWORD_GAPS = (_VARIANCE, _EXPORT_TYPE_STAR, _ACCESSOR_AFTER_MODIFIER)
# A generic call signature on its own line after another member with no ``;``:
# ``{\n  (a: A): B\n  <T>(t: T): T\n}`` is read as ``B<T>(...)``; TypeScript ends the member
# at the line break. The repair writes a ``;`` over the last space of the indentation.
_GENERIC_SIGNATURE_LINE = re.compile(rb"\n[ \t]*([ \t])<")
_CONTINUES_ON_NEXT_LINE = (b"{", b";", b",", b"|", b"&", b"(", b"<", b"=", b"=>", b":", b"?")
_TYPE_MEMBER_LISTS = frozenset({"object_type", "interface_body"})
_CODE_CONTEXTS = frozenset(
    {"statement_block", "class_body", "arguments", "program", "arrow_function", "jsx_element"}
)
_REPAIR_ROUNDS = 10
_TEXT_NODES = frozenset({"string", "template_string", "comment", "regex"})
Repair = Callable[[Node, bytes], Iterator[tuple[int, int, bytes]]]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A tree and the bytes it was parsed from: the source, or the source with syntax that
    the grammar lacks blanked out (same length, so every line and column is unchanged)."""

    tree: Tree
    data: bytes
    repaired: int = 0  # how many spans were rewritten


def parse_recovering(source: bytes, dialect: str) -> Parsed:
    """Parse; while the tree has errors, run the repair passes and keep each result that
    leaves fewer errors. A repair can uncover the next one (the signature after a fixed one
    was hidden in the damage), so the passes run again while they help, a few rounds at most.
    Each attempt is an incremental parse of the edited spans (tree-sitter reuses the rest)."""
    parser = parser_for(dialect)
    tree = parser.parse(source)
    data = source
    repaired = 0
    errors = count_errors(tree.root_node)
    for round_number in range(_REPAIR_ROUNDS):
        progress = False
        for repair in _REPAIRS:
            if not errors:
                break
            if round_number and repair is _newer_keywords:
                continue  # found by their text alone: a later round finds the same spans
            edits = sorted(set(repair(tree.root_node, data)))
            if not edits:
                continue
            buffer = bytearray(data)
            edited = tree.copy()
            for start, end, replacement in edits:
                buffer[start:end] = replacement
                start_point, end_point = _point(data, start), _point(data, end)
                edited.edit(start, end, end, start_point, end_point, end_point)
            candidate_data = bytes(buffer)
            candidate = parser.parse(candidate_data, edited)
            candidate_errors = count_errors(candidate.root_node)
            if candidate_errors < errors:
                tree, data, errors = candidate, candidate_data, candidate_errors
                repaired += len(edits)
                progress = True
        if not progress:
            break
    return Parsed(tree, data, repaired)


def _point(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset), offset - line_start


def _blank(data: bytes, start: int, end: int) -> tuple[int, int, bytes]:
    """Spaces over ``data[start:end]``, line breaks kept (lines and columns stay put)."""
    return start, end, bytes(b if b in b"\r\n" else 32 for b in data[start:end])


def _newer_keywords(root: Node, data: bytes) -> Iterator[tuple[int, int, bytes]]:
    for pattern in _KEYWORD_GAPS:
        for match in pattern.finditer(data):
            start, end = match.span(1)
            if not _inside_text(root.descendant_for_byte_range(start, end)):
                yield _blank(data, start, end)


def _tagged_template_type_arguments(root: Node, data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``sql<{ id: string }>`SELECT ...```: the grammar reads the tag as a non-null
    expression missing its ``!``; without the type arguments it is a plain tagged template."""
    for missing in _error_nodes(root):
        wrapper = missing.parent
        if not missing.is_missing or missing.type != "!" or wrapper is None:
            continue
        call = wrapper.parent
        inner = wrapper.named_children[0] if wrapper.named_children else None
        while inner is not None and inner.type in {"yield_expression", "await_expression"}:
            inner = inner.named_children[-1] if inner.named_children else None  # yield* sql<T>`
        if wrapper.type != "non_null_expression" or call is None or inner is None:
            continue
        template = call.child_by_field_name("arguments")
        if call.type != "call_expression" or template is None:
            continue
        if template.type == "template_string" and inner.type == "instantiation_expression":
            arguments = inner.child_by_field_name("type_arguments")
            if arguments is not None:
                yield _blank(data, arguments.start_byte, arguments.end_byte)


def _generic_signature_lines(root: Node, data: bytes) -> Iterator[tuple[int, int, bytes]]:
    for match in _GENERIC_SIGNATURE_LINE.finditer(data):
        space = match.start(1)
        end = match.start()
        while end and data[end - 1] in b" \t\r\n":
            end -= 1
        if not end or data[max(end - 2, 0) : end].endswith(_CONTINUES_ON_NEXT_LINE):
            continue  # the line before is unfinished: ``=> <T>(...)`` goes on there
        node = root.descendant_for_byte_range(space + 1, space + 2)
        if _in_type_member_list(node):
            yield space, space + 1, b";"


def _in_type_member_list(node: Node | None) -> bool:
    start = node.start_byte if node is not None else -1
    first = node
    while first is not None and first.start_byte == start:
        if _closed_early(first.prev_sibling):
            return True  # what starts here follows a member list closed by a MISSING ``}``
        first = first.parent
    while node is not None:
        if node.type in _TYPE_MEMBER_LISTS:
            return True
        if node.type in _CODE_CONTEXTS:
            return False
        node = node.parent
    return False


def _closed_early(node: Node | None) -> bool:
    """``node`` ends with a type member list whose ``}`` the parser had to invent."""
    while node is not None and node.child_count:
        last = node.children[-1]
        if node.type in _TYPE_MEMBER_LISTS:
            return last.is_missing and last.type == "}"
        node = last
    return False


_REPAIRS: tuple[Repair, ...] = (
    _newer_keywords,
    _tagged_template_type_arguments,
    _generic_signature_lines,
)


def _inside_text(node: Node | None) -> bool:
    while node is not None:
        if node.type in _TEXT_NODES:
            return True
        node = node.parent
    return False


def _error_nodes(root: Node) -> Iterator[Node]:
    """``ERROR`` and missing nodes, outermost first (subtrees without errors are skipped)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            yield node
        if node.has_error:
            stack.extend(reversed(node.children))


def count_errors(root: Node) -> int:
    return sum(1 for _ in _error_nodes(root))


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
