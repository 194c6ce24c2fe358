"""Which frame of a call chain is the loop: the line a reader changes to fix an N+1.

At run time every iteration of a loop has the same call chain; which of its frames loops is
only visible in the source. ``loop_frame`` reads each frame's file once (cached), and returns
the innermost frame whose line sits inside a ``for``/``while`` body or a comprehension, with the
first line of that loop: the loop's identity, so the detectors can tell one loop that reaches a
query through two helpers (one problem) from two loops that call one helper (two). Files that
cannot be read or parsed answer "no loop here", never an error.
"""

from __future__ import annotations

import ast
import functools
import linecache

from dbaudit.runtime.events import CallSite

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def loop_frame(stack: tuple[CallSite, ...]) -> tuple[int, int] | None:
    """(index in ``stack`` (innermost first) of the innermost frame inside a loop, the first
    line of that loop), or None.

    Answered once per chain object: capture hands out one shared tuple per call chain, and the
    same chains come back in every unit (each entry keeps its chain alive, so an ``id`` is not
    reused while it is cached).
    """
    known = _BY_CHAIN.get(id(stack))
    if known is not None and known[0] is stack:
        return known[1]
    found = None
    for index, site in enumerate(stack):
        header = loop_headers(site.path).get(site.line)
        if header is not None:
            found = index, header
            break
    if len(_BY_CHAIN) >= _BY_CHAIN_LIMIT:
        _BY_CHAIN.clear()
    _BY_CHAIN[id(stack)] = (stack, found)
    return found


_BY_CHAIN: dict[int, tuple[tuple[CallSite, ...], tuple[int, int] | None]] = {}
_BY_CHAIN_LIMIT = 4096


def loop_lines(path: str) -> frozenset[int]:
    """Lines of ``path`` that run once per iteration of some loop or comprehension."""
    return frozenset(loop_headers(path))


@functools.lru_cache(maxsize=1024)
def loop_headers(path: str) -> dict[int, int]:
    """Each line of ``path`` that runs once per iteration -> the first line of the innermost
    loop (or comprehension) it runs in."""
    source = "".join(linecache.getlines(path))
    if not source:
        return {}
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return {}
    spans: list[tuple[int, int, int]] = []  # (first line of the per-item part, last, header)
    for node in ast.walk(tree):
        if isinstance(node, _LOOPS) and node.body:
            end = node.body[-1].end_lineno or node.body[-1].lineno
            spans.append((node.body[0].lineno, end, node.lineno))
        elif isinstance(node, _COMPREHENSIONS):
            spans.append((node.lineno, node.end_lineno or node.lineno, node.lineno))
    headers: dict[int, int] = {}
    # Outer loops first, inner ones overwrite: a line keeps its innermost loop. A loop's span
    # holds the spans of the loops nested in it, so the larger span is the outer loop.
    for first, last, header in sorted(spans, key=lambda span: span[0] - span[1]):
        for line in range(first, last + 1):
            headers[line] = header
    return headers
