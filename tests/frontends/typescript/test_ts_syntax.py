from tree_sitter import Node

from dbaudit.frontends.typescript.syntax import (
    IdentifierIndex,
    dialect_for,
    error_lines,
    parse,
    unwrap,
)


def test_dialect_follows_the_suffix() -> None:
    assert dialect_for("a/b.ts") == "typescript"
    assert dialect_for("a/b.mts") == "typescript"
    assert dialect_for("a/B.tsx") == "tsx"
    assert dialect_for("a/b.js") == "javascript"
    assert dialect_for("a/b.cjs") == "javascript"
    assert dialect_for("a/b.jsx") == "javascript"


def test_tsx_parses_jsx_that_typescript_cannot() -> None:
    source = b"export const A = () => <div>{x}</div>;"
    assert not parse(source, "tsx").root_node.has_error
    assert parse(source, "typescript").root_node.has_error


def test_unwrap_strips_casts_and_parentheses() -> None:
    root = parse(b"(x as Foo)!;", "typescript").root_node
    expression = root.named_children[0].named_children[0]
    assert unwrap(expression).type == "identifier"


def test_error_lines_point_at_the_damage() -> None:
    root = parse(b"const a = 1;\nconst b = ;\nfunction (\n", "typescript").root_node
    lines = error_lines(root)
    assert lines and all(line >= 2 for line in lines)
    assert error_lines(parse(b"const ok = 1;", "typescript").root_node) == ()


def _names_by_walking(node: Node, data: bytes) -> list[tuple[int, int, str]]:
    """Every identifier under ``node`` by a plain walk: what the index must agree with."""
    found: list[tuple[int, int, str]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in {"identifier", "shorthand_property_identifier"}:
            text = data[current.start_byte : current.end_byte].decode("utf-8", "replace")
            found.append((current.start_byte, current.end_byte, text))
        stack.extend(current.children)
    return sorted(found)


def test_identifier_index_holds_every_identifier_in_document_order() -> None:
    sources = [
        b"const { a, b: c } = f(x, y.z);\nfor (const i of items) { g(i, a); }\n",
        # damaged: tree-sitter inserts zero-width MISSING identifiers next to real ones
        b"const a = b.;\nfunction (\nconst = c + ;\nf(a, , d)\n",
    ]
    for data in sources:
        root = parse(data, "typescript").root_node
        index = IdentifierIndex(root, data, "typescript")
        expected = _names_by_walking(root, data)
        assert index.starts == [start for start, _, _ in expected]
        assert index.names == [name for _, _, name in expected]
        assert index.within(root) == {name for _, _, name in expected}


def test_identifier_index_within_a_node_stops_at_its_end() -> None:
    data = b"f(a, b); g(c);"
    root = parse(data, "typescript").root_node
    first_call = root.named_children[0].named_children[0]
    index = IdentifierIndex(root, data, "typescript")
    assert index.within(first_call) == {"f", "a", "b"}
