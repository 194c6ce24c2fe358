"""A loop keeps its variable's binding as written (``Loop.pattern``), beside the names it
binds (``Loop.targets``), so fixes can map over the items with the same shape."""

from __future__ import annotations

import pytest

from dbaudit.frontends.typescript import parse
from dbaudit.model import Loop


def only_loop(body: str, path: str = "app/loop.ts") -> Loop:
    source = f"export const walk = async (items: any[], acc: any) => {{\n{body}\n}};\n"
    (function,) = parse(path, source, resolve_files=False).module.functions
    (loop,) = function.loops
    return loop


@pytest.mark.parametrize(
    ("body", "pattern", "targets"),
    [
        ("for (const item of items) {}", "item", ("item",)),
        ("for (const { recipientId } of items) {}", "{ recipientId }", ("recipientId",)),
        ("for (const { id, name: label } of items) {}", "{ id, name: label }", ("id", "label")),
        ("for (let [key, value] of items) {}", "[key, value]", ("key", "value")),
        (
            "for (const { member: { seatId, role = 'viewer' } } of items) {}",
            "{ member: { seatId, role = 'viewer' } }",
            ("seatId", "role"),
        ),
        ("for await (const {\n  id,\n  name\n} of items) {}", "{ id, name }", ("id", "name")),
        ("items.map(async ({ id }: { id: string }) => id);", "{ id }", ("id",)),
        ("items.map((item: Row, index: number) => item);", "item", ("item",)),
        ("items.forEach(([a, b] = [1, 2]) => a + b);", "[a, b]", ("a", "b")),
        ("items.reduce((total, { size }) => total + size, 0);", "{ size }", ("size",)),
    ],
)
def test_a_loop_keeps_its_binding_as_written(
    body: str, pattern: str, targets: tuple[str, ...]
) -> None:
    loop = only_loop(body)
    assert loop.pattern == pattern
    assert loop.targets == targets


def test_a_javascript_callback_keeps_its_binding() -> None:
    loop = only_loop("items.map(({ id, ...rest }) => id);", path="app/loop.js")
    assert loop.pattern == "{ id, ...rest }"
    assert loop.targets == ("id", "rest")


def test_a_counting_loop_binds_nothing() -> None:
    loop = only_loop("for (let i = 0; i < items.length; i++) {}")
    assert (loop.pattern, loop.targets) == ("", ())
