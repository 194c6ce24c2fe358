"""Which frame of a call chain is the loop: the line a reader changes to fix an N+1.

At run time every iteration of a loop has the same call chain; which of its frames loops is
only visible in the source. ``loop_frame`` reads each frame's file once (cached), and returns
the innermost frame whose instruction runs once per iteration of a ``for``/``while`` body or a
comprehension, with the first line of that loop: the loop's identity, so the detectors can tell
one loop that reaches a query through two helpers (one problem) from two loops that call one
helper (two). Files that cannot be read or parsed answer "no loop here", never an error.

A comprehension evaluates its first iterable once, in the enclosing function, and the rest (the
element, the conditions, the inner ``for`` clauses) once per item, often on the same line:
``sorted(t.name for t in article.tags.all())`` queries once per call, not once per tag. Where
the frame's instruction span is known (``CallSite.position``) it decides; a generator
expression's own frame runs per item whatever its instruction. Without a span, the line does.

A call inside a ``return`` or ``raise`` statement of a loop's body ends the function: its loop
goes round again only when the call raised, a retry (``for attempt in range(10): try: return
create(doc) except IntegrityError: ...``). Such a frame runs the call once per call of its
function, so it is not the loop of an N+1: the frame that calls it from a loop is (a comprehension
inside the ``return`` still runs per item).
"""

from __future__ import annotations

import ast
import functools
import linecache
from typing import NamedTuple

from dbaudit.runtime.events import CallSite

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_EXITS = (ast.Return, ast.Raise)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)  # their own returns
_GENERATOR_FRAME = "<genexpr>"

Span = tuple[int, int, int, int]  # line, column, end line, end column (ast's order)


class _Loop(NamedTuple):
    header: int  # the loop's first line: its identity
    whole: Span  # the statement or comprehension
    per_item: tuple[Span, ...]  # what runs once per iteration
    generator: bool  # a generator expression: a frame of its own on every Python version
    exits: tuple[Span, ...] = ()  # the body's return and raise statements: they end the function


def loop_frame(stack: tuple[CallSite, ...]) -> tuple[int, int] | None:
    """(index in ``stack`` (innermost first) of the innermost frame running once per iteration
    of a loop, the first line of that loop), or None.

    Answered once per chain object: capture hands out one shared tuple per call chain, and the
    same chains come back in every unit (each entry keeps its chain alive, so an ``id`` is not
    reused while it is cached).
    """
    known = _BY_CHAIN.get(id(stack))
    if known is not None and known[0] is stack:
        return known[1]
    found = None
    for index, site in enumerate(stack):
        header = _header_of(site)
        if header is not None:
            found = index, header
            break
    if len(_BY_CHAIN) >= _BY_CHAIN_LIMIT:
        _BY_CHAIN.clear()
    _BY_CHAIN[id(stack)] = (stack, found)
    return found


_BY_CHAIN: dict[int, tuple[tuple[CallSite, ...], tuple[int, int] | None]] = {}
_BY_CHAIN_LIMIT = 4096


def _header_of(site: CallSite) -> int | None:
    """The first line of the innermost loop ``site``'s instruction runs once per iteration of."""
    position = site.position
    if position is None:
        return loop_headers(site.path).get(site.line)
    loops = _loops_by_line(site.path).get(site.line)
    if not loops:
        return None
    line, end_line, column, end_column = position
    instruction = (line, column, end_line, end_column)
    if site.function.endswith(_GENERATOR_FRAME):
        for loop in loops:  # innermost first
            if loop.generator and _within(instruction, loop.whole):
                return loop.header
    for loop in loops:
        if any(_within(instruction, span) for span in loop.exits):
            return None  # it ends the function (the loops around it: see the module docstring)
        if any(_within(instruction, span) for span in loop.per_item):
            return loop.header
    return None


def _within(inner: Span, outer: Span) -> bool:
    return outer[:2] <= inner[:2] and inner[2:] <= outer[2:]


def loop_lines(path: str) -> frozenset[int]:
    """Lines of ``path`` that run once per iteration of some loop or comprehension."""
    return frozenset(loop_headers(path))


@functools.lru_cache(maxsize=1024)
def loop_headers(path: str) -> dict[int, int]:
    """Each line of ``path`` that runs once per iteration -> the first line of the innermost
    loop (or comprehension) it runs in."""
    headers = {}
    for line, loops in _loops_by_line(path).items():
        for loop in loops:
            if any(first <= line <= last for first, _, last, _ in loop.exits):
                break  # a line of a return or raise statement: see the module docstring
            headers[line] = loop.header
            break
    return headers


@functools.lru_cache(maxsize=1024)
def _loops_by_line(path: str) -> dict[int, tuple[_Loop, ...]]:
    """Each line of ``path`` inside a loop's body or a comprehension -> those loops, innermost
    first."""
    source = "".join(linecache.getlines(path))
    if not source:
        return {}
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return {}
    found: list[tuple[_Loop, int, int]] = []  # the loop, and the lines it claims
    for node in ast.walk(tree):
        if isinstance(node, _LOOPS) and node.body:
            body = _span(node.body[0], node.body[-1])
            exits = tuple(_span(exit, exit) for exit in _exits(node.body))
            found.append((_Loop(node.lineno, body, (body,), False, exits), body[0], body[2]))
        elif isinstance(node, _COMPREHENSIONS):
            whole = _span(node, node)
            generator = isinstance(node, ast.GeneratorExp)
            comprehension = _Loop(node.lineno, whole, _per_item(node), generator)
            found.append((comprehension, whole[0], whole[2]))
    by_line: dict[int, list[_Loop]] = {}
    for loop, first, last in found:
        for line in range(first, last + 1):
            by_line.setdefault(line, []).append(loop)
    # A loop's span holds the spans of the loops nested in it: the smaller one is inner.
    return {
        line: tuple(sorted(loops, key=lambda loop: _size(loop.whole)))
        for line, loops in by_line.items()
    }


def _exits(body: list[ast.stmt]) -> list[ast.Return | ast.Raise]:
    """The return and raise statements of a loop's body that end its function (not those of a
    function or class defined in it)."""
    found: list[ast.Return | ast.Raise] = []
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, _EXITS):
            found.append(node)
        elif not isinstance(node, _SCOPES):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _per_item(
    node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp,
) -> tuple[Span, ...]:
    """What a comprehension runs once per item: the element, every condition, and the inner
    ``for`` clauses (their iterables too); not the first iterable, evaluated once."""
    parts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    first, *inner = node.generators
    parts.extend(first.ifs)
    for clause in inner:
        parts.extend((clause.iter, *clause.ifs))
    return tuple(_span(part, part) for part in parts)


def _span(first: ast.AST, last: ast.AST) -> Span:
    start: ast.expr | ast.stmt = first  # type: ignore[assignment]  # located nodes only
    end: ast.expr | ast.stmt = last  # type: ignore[assignment]
    return (
        start.lineno,
        start.col_offset,
        end.end_lineno or end.lineno,
        end.end_col_offset if end.end_col_offset is not None else end.col_offset,
    )


def _size(span: Span) -> tuple[int, int]:
    return span[2] - span[0], span[3] - span[1]
