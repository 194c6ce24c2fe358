"""Parse Python written for a newer interpreter than the one dbaudit runs on.

dbaudit runs on Python 3.11, whose ``ast`` refuses PEP 695's type parameters (3.12:
``def first[T](items: list[T]) -> T``, ``class Loader[K, V]``, ``type Ids = list[int]``). Those
only declare types; what dbaudit reads (calls, loops, queries) is the same without them. So a
module that fails to parse is read again with them blanked out by the tokenizer, every line and
the columns of everything the frontend reports kept where they were.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize

# tokens after which a statement starts: ``type`` is a soft keyword only there
_STATEMENT_START = frozenset({tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT})


def parse_python(source: str, path: str = "<unknown>") -> ast.Module:
    """``ast.parse(source)``; on an interpreter older than 3.12, a module using PEP 695 type
    parameters parses with them blanked out. When it is still invalid, the ``SyntaxError`` is
    the one past the type parameters (the error 3.12 would report)."""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError:
        if sys.version_info >= (3, 12):
            raise
        rewritten = without_type_parameters(source)
        if rewritten == source:
            raise
    return ast.parse(rewritten, filename=path)


def without_type_parameters(source: str) -> str:
    """``source`` with PEP 695 type-parameter lists turned into spaces and ``type X = ...``
    into ``X = ...`` (pure; ``source`` unchanged when it has none or does not tokenize).

    >>> without_type_parameters("def first[T](items: list[T]) -> T: ...")
    'def first   (items: list[T]) -> T: ...'
    >>> without_type_parameters("class Loader[K, V](Base): ...")
    'class Loader      (Base): ...'
    >>> without_type_parameters("type Ids[T] = list[T]")
    'Ids         = list[T]'
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    lines = source.splitlines(keepends=True)
    blanks: list[tuple[tuple[int, int], tuple[int, int]]] = []
    moves: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    for index, token in enumerate(tokens[:-2]):
        name, after = tokens[index + 1], tokens[index + 2]
        if token.type != tokenize.NAME or name.type != tokenize.NAME:
            continue
        if token.string in {"def", "class"} and after.exact_type == tokenize.LSQB:
            closing = _closing_bracket(tokens, index + 2)
            if closing is not None:
                blanks.append((after.start, tokens[closing].end))
        elif (
            token.string == "type"
            and (index == 0 or tokens[index - 1].type in _STATEMENT_START)
            and after.exact_type in {tokenize.EQUAL, tokenize.LSQB}
        ):
            end = name.end
            if after.exact_type == tokenize.LSQB:
                closing = _closing_bracket(tokens, index + 2)
                if closing is None:
                    continue
                end = tokens[closing].end
            moves.append((token.start, end, name.string))
    if not blanks and not moves:
        return source
    for start, end in blanks:
        _blank(lines, start, end)
    for start, end, alias in moves:  # ``type Ids[T]`` -> ``Ids`` where ``type`` stood
        _blank(lines, start, end)
        row, column = start
        line = lines[row - 1]
        lines[row - 1] = line[:column] + alias + line[column + len(alias) :]
    return "".join(lines)


def _closing_bracket(tokens: list[tokenize.TokenInfo], opening: int) -> int | None:
    depth = 0
    for index in range(opening, len(tokens)):
        kind = tokens[index].exact_type
        depth += (kind == tokenize.LSQB) - (kind == tokenize.RSQB)
        if depth == 0:
            return index
    return None


def _blank(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> None:
    """Spaces over ``start``..``end`` (tokenizer rows and columns), line breaks kept: a line
    the brackets continued ends in a backslash instead, so the statement still goes on."""
    for row in range(start[0], end[0] + 1):
        line = lines[row - 1]
        first = start[1] if row == start[0] else 0
        last = end[1] if row == end[0] else len(line.rstrip("\r\n"))
        blank = " " * (last - first)
        if row < end[0]:
            blank = blank[:-1] + "\\" if blank else "\\"
        lines[row - 1] = line[:first] + blank + line[last:]
