import pytest
from tree_sitter import Node

from dbaudit.frontends.typescript import syntax
from dbaudit.frontends.typescript.syntax import (
    IdentifierIndex,
    count_errors,
    dialect_for,
    error_lines,
    parse,
    parse_recovering,
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


# Valid TypeScript that tree-sitter-typescript 0.23.2 rejects, each followed by code the
# frontend must read: the first error used to damage everything after it.
NEWER_SYNTAX = {
    "variance": b"export interface Cache<in out K, out V = never> extends P<V> {}\n",
    "variance over lines": b"type Fn<\n  in T,\n  out R\n> = (t: T) => R\n",
    "export type star": b'export type * from "./types"\n',
    "static accessor": b"class A { static accessor size = 2 }\n",
    "tagged template with type arguments": (
        b"function* f() {\n  const rows = yield* sql<{\n    readonly id: string\n"
        b"  }>`SELECT 1`\n}\n"
    ),
    "generic call signature after a member": (
        b"export const dual: {\n  (n: number): <A>(self: A) => A\n"
        b"  <A>(self: A, n: number): A\n} = g\n"
    ),
    "generic call signature after a closing >": (
        b"interface C<In> {\n  <E>(ab: X): S<B, R>\n  <E>(ab: X): S<E>\n}\n"
    ),
}
AFTER = b"async function later(id) {\n  return db.select().from(t).where(eq(t.id, id))\n}\n"


@pytest.mark.parametrize("name", sorted(NEWER_SYNTAX))
def test_newer_syntax_is_repaired_without_moving_a_line(name: str) -> None:
    source = NEWER_SYNTAX[name] + AFTER
    assert count_errors(parse(source, "typescript").root_node) > 0  # the grammar's gap
    parsed = parse_recovering(source, "typescript")
    assert parsed.errors == 0 and not parsed.has_error
    assert parsed.repaired > 0
    assert len(parsed.data) == len(source)
    assert [i for i, b in enumerate(parsed.data) if b == 10] == [
        i for i, b in enumerate(source) if b == 10
    ]
    assert parsed.data.endswith(AFTER)


def test_repairs_leave_strings_comments_and_good_code_alone() -> None:
    source = (
        b'const label = "Map<in K, out V>" // <in out T>\n'
        b"const f = <A,>(a: A) => a\nconst g = (a) =>\n  <B>(b: B) => b\n" + AFTER
    )
    assert count_errors(parse(source, "typescript").root_node) == 0
    assert parse_recovering(source, "typescript").data == source
    damaged = b'let x = "<in A>" in out; <in out T>(\nconst b = ;\n'
    parsed = parse_recovering(damaged, "typescript")
    assert parsed.data.startswith(b'let x = "<in A>"')
    assert parsed.errors > 0


def test_a_repair_that_does_not_help_is_dropped() -> None:
    source = b"const b = ;\nfunction (\n"
    parsed = parse_recovering(source, "typescript")
    assert parsed.data == source and parsed.repaired == 0
    first = parse(source, "typescript").root_node
    assert parsed.errors == count_errors(first)


def test_repairs_of_two_passes_mend_a_file_together() -> None:
    # two passes find edits here (a variance annotation, a generic call signature on its
    # own line): one parse with both mends the file; each kept edit is counted once
    source = (
        NEWER_SYNTAX["variance"] + NEWER_SYNTAX["generic call signature after a member"] + AFTER
    )
    parsed = parse_recovering(source, "typescript")
    assert parsed.errors == 0 and parsed.repaired >= 2
    assert len(parsed.data) == len(source)


class CountingParser:
    def __init__(self, dialect: str) -> None:
        self.parser = syntax.parser_for(dialect)
        self.parses = 0

    def parse(self, data: bytes) -> object:
        self.parses += 1
        return self.parser.parse(data)


def test_a_file_the_text_repairs_mend_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # the repairs found by their text are made before the first parse: no broken parse first
    counting = CountingParser("typescript")
    monkeypatch.setattr(syntax, "parser_for", lambda dialect: counting)
    source = NEWER_SYNTAX["variance"] + NEWER_SYNTAX["generic call signature after a member"]
    parsed = parse_recovering(source + AFTER, "typescript")
    assert parsed.errors == 0 and parsed.repaired >= 2 and counting.parses == 1
    # a keyword pattern inside a string misfires: the file is parsed as it is, and left alone
    counting.parses = 0
    quoted = b'const s = "<in A, out B>";\n' + AFTER
    assert parse_recovering(quoted, "typescript").data == quoted and counting.parses == 2


def test_an_ampersand_in_a_jsx_attribute_string_is_no_error() -> None:
    # tree-sitter-typescript reads ``&utm_medium`` as a character reference missing its ``;``
    source = (
        b'const a = <Link href="https://x.com?utm_source=app&utm_medium=survey">x</Link>;\n'
        b'const b = <a title="Tom &amp; Jerry">y</a>;\nconst c = "a&b";\n'
    )
    assert count_errors(parse(source, "tsx").root_node) > 0
    parsed = parse_recovering(source, "tsx")
    assert parsed.errors == 0
    assert len(parsed.data) == len(source)
    assert b"utm_source=app utm_medium=survey" in parsed.data
    assert b"Tom &amp; Jerry" in parsed.data and b'"a&b"' in parsed.data
