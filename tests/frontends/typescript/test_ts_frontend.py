"""The frontend's entry points and bad input: never a crash, always a reason (__init__.py)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbaudit.frontends.typescript import (
    SkippedSource,
    handles,
    might_touch_database,
    parse,
    parse_module,
    skip_reason,
)


def test_handles_every_script_suffix() -> None:
    for name in ("a.ts", "a.tsx", "a.js", "a.jsx", "a.mjs", "a.cjs", "a.mts", "a.cts"):
        assert handles(name)
    assert not handles("a.py") and not handles("a.json")


def test_precheck() -> None:
    assert might_touch_database("const rows = await db.select().from(t);")
    assert might_touch_database("import { PrismaClient } from '@prisma/client';")
    assert might_touch_database("export class RendersDAL {}")
    assert not might_touch_database("export const add = (a: number, b: number) => a + b;")


def test_declaration_files_are_skipped_with_a_reason() -> None:
    assert skip_reason("types/index.d.ts", "export declare const x: number;") is not None
    with pytest.raises(SkippedSource, match="declaration file"):
        parse_module("types/index.d.ts", "export declare const x: number;")


def test_minified_bundles_are_skipped_with_a_reason() -> None:
    bundle = "var a=1;" * 2000  # one line of 16k characters
    reason = skip_reason("dist/app.min.js", bundle)
    assert reason is not None and "minified" in reason
    with pytest.raises(SkippedSource, match="minified"):
        parse("dist/app.min.js", bundle)
    assert skip_reason("app.js", "const a = 1;\n" * 5000) is None


def test_nul_bytes_are_skipped() -> None:
    assert skip_reason("a.ts", "const a = 1;\0") == "binary content (NUL bytes)"


def test_syntax_errors_still_give_a_model_and_a_note() -> None:
    source = (
        "export async function ok(id) {\n  return db.select().from(t).where(eq(t.id, id));\n}\n"
        "export async function broken(ids) {\n  for (const id of ids {\n"
        "    await db.delete(t).where(eq(t.id, id));\n  }\n}\n"
    )
    outcome = parse("app/x.ts", source, resolve_files=False)
    assert outcome.notes and "syntax errors" in outcome.notes[0]
    assert outcome.module.function("ok") is not None
    assert outcome.module.function("ok").db_ops  # type: ignore[union-attr]


def test_newer_typescript_gives_no_note_and_the_code_after_it_is_read() -> None:
    # tree-sitter-typescript 0.23.2 rejects variance annotations and generic call signatures
    # on their own line; the frontend repairs them (tests/frontends/typescript/test_ts_syntax)
    source = (
        "export interface Repo<in out A, out E = never> {\n"
        "  (id: string): A\n"
        "  <B>(id: string, f: (a: A) => B): B\n"
        "}\n"
        "export async function purge(ids: string[]) {\n"
        "  for (const id of ids) {\n"
        "    await db.delete(t).where(eq(t.id, id));\n"
        "  }\n"
        "}\n"
    )
    outcome = parse("app/repo.ts", source, resolve_files=False)
    assert outcome.notes == ()
    purge = outcome.module.function("purge")
    assert purge is not None and purge.loops
    assert [(op.kind, op.span.line, op.loops) for op in purge.db_ops] == [("delete", 7, (0,))]


def test_empty_and_jsx_files() -> None:
    assert parse("a.ts", "", resolve_files=False).module.functions == ()
    module = parse(
        "app/page.tsx",
        "export default async function Page() {\n  const rows = await db.select().from(t);\n"
        "  return <ul>{rows.map((r) => <li key={r.id}>{r.name}</li>)}</ul>;\n}\n",
        resolve_files=False,
    ).module
    page = module.function("Page")
    assert page is not None and len(page.db_ops) == 1


def test_deep_nesting_is_a_reason_not_a_crash() -> None:
    source = "const x = " + "(\n" * 3000 + "1" + "\n)" * 3000 + ";\nawait f(x);\n"
    try:
        parse("deep.ts", source, resolve_files=False)
    except SkippedSource as error:
        assert "nested" in str(error)


TOKENS = st.sampled_from(
    [
        "async ",
        "function ",
        "f",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "=>",
        "await ",
        "for ",
        "of ",
        "const ",
        "let ",
        "x",
        "y",
        " = ",
        ";",
        "\n",
        ",",
        ".",
        "db",
        "select",
        "from",
        "where",
        "eq",
        "prisma",
        "user",
        "findMany",
        "Promise",
        "all",
        "map",
        "class ",
        "static ",
        "return ",
        "if ",
        "else ",
        "?",
        ":",
        "`SELECT ${x}`",
        "'s'",
        "export ",
        "import ",
        "require",
        "this",
        "new ",
        "Pool",
        "while ",
        "...",
        "<",
        ">",
        "as ",
        "@",
        "'use server'",
        "pgTable",
        "references",
        "inArray",
        "sql",
        "knex",
        "query",
        "/*",
        "*/",
        "//",
        "\u00e9",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TOKENS, max_size=80), st.sampled_from(["a.ts", "a.tsx", "a.js", "a.cjs"]))
def test_generated_text_never_crashes(tokens: list[str], path: str) -> None:
    source = "".join(tokens)
    try:
        outcome = parse(path, source, resolve_files=False)
    except SkippedSource:
        return
    assert outcome.module.language == "typescript"
    for function in outcome.module.functions:
        for op in function.db_ops:
            assert all(0 <= loop < len(function.loops) for loop in op.loops)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_unicode_never_crashes(source: str) -> None:
    with contextlib.suppress(SkippedSource):
        parse("a.ts", source, resolve_files=False)
