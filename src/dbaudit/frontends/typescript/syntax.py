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

    def __init__(self, root: Node | Parsed, data: bytes, dialect: str) -> None:
        query = _identifier_query(dialect)
        if isinstance(root, Parsed):
            captured = QueryCursor(query).captures(root.tree.root_node).get("name", [])
        else:
            captured = QueryCursor(query).captures(root).get("name", [])
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

    @property
    def statements(self) -> list[Node]:
        """The top-level statements, in source order."""
        return list(self.tree.root_node.named_children)

    @property
    def has_error(self) -> bool:
        return self.tree.root_node.has_error

    @property
    def errors(self) -> int:
        return count_errors(self.tree.root_node)


def parse_recovering(source: bytes, dialect: str) -> Parsed:
    """Parse; while the tree has errors, run the repair passes and keep what leaves fewer
    errors. A repair can uncover the next one (the signature after a fixed one was hidden in
    the damage), so the passes run again while they help, a few rounds at most.

    Every parse reads the whole file (tree-sitter reuses nothing of a tree with errors, so an
    incremental re-parse costs as much as the first one), and a damaged file used to be read
    twice: once broken, once mended. So the repairs found by their text alone are made before
    the first parse, and kept when the tree built from them shows each one where it belongs
    (a blanked keyword outside strings and comments, a ``;`` between the members of a type);
    otherwise the file is parsed as it is. Then each round tries the edits of every pass at
    once, and one pass at a time only when that fails; edits after the last error cannot mend
    it and are left out, and a set of edits already turned down is not parsed again."""
    parser = parser_for(dialect)
    tree, data, repaired = _parse_pre_repaired(parser, source, dialect)
    errors = count_errors(tree.root_node) if tree.root_node.has_error else 0
    refused: set[tuple[tuple[int, int, bytes], ...]] = set()
    for round_number in range(_REPAIR_ROUNDS):
        if not errors:
            break
        last_error = _last_error_end(tree.root_node)
        found: list[tuple[tuple[int, int, bytes], ...]] = []
        for repair in _REPAIRS:
            if (round_number or repaired) and repair is _newer_keywords:
                continue  # found by their text alone: a later round finds the same spans
            edits = tuple(sorted({e for e in repair(tree.root_node, data) if e[0] <= last_error}))
            if edits and edits not in refused:
                found.append(edits)
        if not found:
            break
        together = tuple(sorted({edit for edits in found for edit in edits}))
        attempts = [together] if len(found) == 1 else [together, *found]
        progress = False
        for edits in attempts:
            if edits in refused:
                continue
            candidate_data = _apply(data, edits)
            candidate = parser.parse(candidate_data)
            candidate_errors = count_errors(candidate.root_node)
            if candidate_errors < errors:
                tree, data, errors = candidate, candidate_data, candidate_errors
                repaired += len(edits)
                progress = True
                break  # the next round looks again at what is left
            refused.add(edits)
        if not progress:
            break
    return Parsed(tree, data, repaired)


def _parse_pre_repaired(parser: Parser, source: bytes, dialect: str) -> tuple[Tree, bytes, int]:
    """The first parse: of the source with its textual repairs made when they hold, else of
    the source as it is (a third parse only for a file whose repairs misfire)."""
    edits = tuple(sorted(set(_textual_repairs(source, dialect))))
    if edits:
        data = _apply(source, edits)
        tree = parser.parse(data)
        if _repairs_hold(tree.root_node, edits):
            return tree, data, len(edits)
    return parser.parse(source), source, 0


def _textual_repairs(data: bytes, dialect: str) -> Iterator[tuple[int, int, bytes]]:
    """The repairs the text alone gives: newer keywords, and (TypeScript, not TSX or
    JavaScript, where a line can begin with ``<`` in markup) generic call signatures on a
    line of their own after an unfinished one."""
    for pattern in _KEYWORD_GAPS:
        for match in pattern.finditer(data):
            yield _blank(data, *match.span(1))
    if dialect != "typescript":
        return
    for space, _ in _signature_line_starts(data):
        yield space, space + 1, b";"


def _repairs_hold(root: Node, edits: tuple[tuple[int, int, bytes], ...]) -> bool:
    """Every textual repair where the tree built from it says it belongs: a blanked keyword
    outside strings, comments and regexes; a ``;`` between the members of a type."""
    for start, end, replacement in edits:
        if replacement == b";":
            if not _in_type_member_list(root.descendant_for_byte_range(start, end)):
                return False
        elif _inside_text(root.descendant_for_byte_range(start, end)):
            return False
    return True


def _apply(data: bytes, edits: tuple[tuple[int, int, bytes], ...]) -> bytes:
    """``data`` with the same-length ``edits`` applied."""
    buffer = bytearray(data)
    for start, end, replacement in edits:
        buffer[start:end] = replacement
    return bytes(buffer)


def _last_error_end(root: Node) -> int:
    """Where the last ``ERROR``/missing node ends: a repair after it cannot mend an error
    (the grammar reads left to right, so an error comes at or after what caused it)."""
    end = 0
    for node in _error_nodes(root):
        end = max(end, node.end_byte)
    return end


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
    for space, _ in _signature_line_starts(data):
        node = root.descendant_for_byte_range(space + 1, space + 2)
        if _in_type_member_list(node):
            yield space, space + 1, b";"


def _signature_line_starts(data: bytes) -> Iterator[tuple[int, int]]:
    """Lines that begin with ``<`` after a line that is finished: (the last space of the
    indentation, the end of the line before)."""
    for match in _GENERIC_SIGNATURE_LINE.finditer(data):
        space = match.start(1)
        end = match.start()
        while end and data[end - 1] in b" \t\r\n":
            end -= 1
        if not end or data[max(end - 2, 0) : end].endswith(_CONTINUES_ON_NEXT_LINE):
            continue  # the line before is unfinished: ``=> <T>(...)`` goes on there
        yield space, end


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


def _jsx_attribute_ampersands(root: Node, data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``<Link href="https://x.com?a=b&utm_medium=survey">``: the grammar reads ``&`` in a JSX
    attribute string as the start of a character reference (``&amp;``) and fails on one with
    no ``;``. Blanking the ``&`` leaves the string a string."""
    for error in _error_nodes(root):
        string = error.parent
        if (
            error.type != "ERROR"
            or string is None
            or string.type != "string"
            or string.parent is None
            or string.parent.type != "jsx_attribute"
        ):
            continue
        for offset in range(error.start_byte, error.end_byte):
            if data[offset : offset + 1] == b"&":
                yield _blank(data, offset, offset + 1)


_REPAIRS: tuple[Repair, ...] = (
    _newer_keywords,
    _tagged_template_type_arguments,
    _generic_signature_lines,
    _jsx_attribute_ampersands,
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


def error_lines(root: Node | Parsed, limit: int = 5) -> tuple[int, ...]:
    """1-based lines of the first ``ERROR``/missing nodes, for a note on a damaged file."""
    found: list[int] = []
    stack = [root.tree.root_node] if isinstance(root, Parsed) else [root]
    while stack and len(found) < limit:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append(node.start_point[0] + 1)
            continue
        if node.has_error:
            stack.extend(reversed(node.children))
    return tuple(sorted(set(found)))
