from dbaudit.frontends.typescript.syntax import dialect_for, error_lines, parse, unwrap


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
