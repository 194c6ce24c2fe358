"""Which frame of a call chain is the loop: the line a reader changes to fix an N+1.

At run time every iteration of a loop has the same call chain; which of its frames loops is
only visible in the source. ``loop_frame`` reads each frame's file once (cached), and returns
the innermost frame whose line sits inside a ``for``/``while`` body or a comprehension. Files
that cannot be read or parsed answer "no loop here", never an error.
"""

from __future__ import annotations

import ast
import functools
import linecache

from dbaudit.runtime.events import CallSite

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def loop_frame(stack: tuple[CallSite, ...]) -> int | None:
    """Index in ``stack`` (innermost first) of the innermost frame inside a loop, or None."""
    for index, site in enumerate(stack):
        if site.line in loop_lines(site.path):
            return index
    return None


@functools.lru_cache(maxsize=1024)
def loop_lines(path: str) -> frozenset[int]:
    """Lines of ``path`` that run once per iteration of some loop or comprehension."""
    source = "".join(linecache.getlines(path))
    if not source:
        return frozenset()
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, _LOOPS) and node.body:
            end = node.body[-1].end_lineno or node.body[-1].lineno
            lines.update(range(node.body[0].lineno, end + 1))
        elif isinstance(node, _COMPREHENSIONS):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)
