"""Parse Python written for a newer interpreter than the one dbaudit runs on.

dbaudit runs on Python 3.11, whose ``ast`` refuses PEP 695's type parameters (3.12:
``def first[T](items: list[T]) -> T``, ``class Loader[K, V]``, ``type Ids = list[int]``). Those
only declare types; what dbaudit reads (calls, loops, queries) is the same without them. So a
module that fails to parse is read again with them blanked out by the tokenizer, every line and
the columns of everything the frontend reports kept where they were.

It also refuses PEP 758's exception lists without brackets (3.14: ``except ValueError,
TypeError:``, ``except* A, B:``), which mean what ``except (ValueError, TypeError):`` means: they
are given their brackets, in the spaces of the clause where it has them (the columns after the
clause stay where they were; without a space to take, the line's rest moves two columns).
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
    parameters parses with them blanked out, and on one older than 3.14 PEP 758's exception
    lists get their brackets. When it is still invalid, the ``SyntaxError`` is the one past
    those (the error the newer interpreter would report)."""
    try:
        return ast.parse(source, filename=path)
    except SyntaxError:
        if sys.version_info >= (3, 14):
            raise
        rewritten = source
        if sys.version_info < (3, 12):
            rewritten = without_type_parameters(rewritten)
        rewritten = with_bracketed_exceptions(rewritten)
        if rewritten == source:
            raise
    return ast.parse(rewritten, filename=path)


def with_bracketed_exceptions(source: str) -> str:
    """``source`` with each PEP 758 ``except A, B:`` (and ``except* A, B:``) written
    ``except (A, B):``, lines kept (pure; ``source`` unchanged when it has none or does not
    tokenize). The brackets take the clause's spaces, so what follows the colon keeps its
    column when there are two to take.

    >>> with_bracketed_exceptions("try: f()\\nexcept ValueError, TypeError: pass\\n")
    'try: f()\\nexcept(ValueError,TypeError): pass\\n'
    >>> with_bracketed_exceptions("try: f()\\nexcept* A, B as e: pass\\n")  # invalid: kept
    'try: f()\\nexcept* A, B as e: pass\\n'
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # row, first column, end column, new text
    for index, token in enumerate(tokens):
        if token.type != tokenize.NAME or token.string != "except":
            continue
        if index and tokens[index - 1].type not in _STATEMENT_START:
            continue
        start = index + 1
        if start < len(tokens) and tokens[start].string == "*":
            start += 1
        clause = _exception_list(tokens, start)
        if clause is None:
            continue
        first, colon = tokens[start], tokens[clause]
        if first.start[0] != colon.start[0]:
            continue  # a list continued over lines: rare, left as it is
        row = first.start[0]
        begin = tokens[start - 1].end[1]  # just after ``except`` / ``*``
        text = lines[row - 1][first.start[1] : colon.start[1]].rstrip()
        room = colon.start[1] - begin
        bracketed = f"({text})"
        while len(bracketed) > room and ", " in bracketed:
            bracketed = bracketed.replace(", ", ",", 1)
        edits.append((row, begin, colon.start[1], bracketed.rjust(room)))
    if not edits:
        return source
    for row, begin, end, text in reversed(edits):  # right to left: columns stay valid
        line = lines[row - 1]
        lines[row - 1] = line[:begin] + text + line[end:]
    return "".join(lines)


def _exception_list(tokens: list[tokenize.TokenInfo], start: int) -> int | None:
    """The index of the colon ending an ``except`` clause that starts at ``start`` when the
    clause is a list of exceptions without brackets (a comma outside any bracket, no ``as``);
    else None."""
    depth = 0
    comma = False
    for index in range(start, len(tokens)):
        token = tokens[index]
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif depth == 0 and token.type == tokenize.OP and token.string == ",":
            comma = True
        elif depth == 0 and token.type == tokenize.NAME and token.string == "as":
            return None
        elif depth == 0 and token.type == tokenize.OP and token.string == ":":
            return index if comma else None
        elif token.type in {tokenize.NEWLINE, tokenize.ENDMARKER}:
            return None
    return None


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
