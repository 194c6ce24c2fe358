"""Normalise a SQL statement and fingerprint it, so that queries of the same shape group together.

Two statements share a fingerprint when they differ only in literal values, placeholder style
(``$1``, ``%s``, ``%(name)s``, ``?``, ``:name``) or the length of an ``IN (...)`` list or a
multi-row ``VALUES`` list. This is what lets the runtime profiler see that 50 queries are "the
same query" and what the static audit and the index advisor use to key a workload.

The normalisation is an ordered tuple of small passes over a sqlglot expression (the sqlglot
optimizer's shape, STYLE.md section 3); statements sqlglot cannot parse fall back to a token-level
normalisation with the same rules, so every input gets a fingerprint. Results are cached by
(SQL text, dialect): applications send the same few statement strings over and over.

The literal values a text holds are not part of its shape, but they are what tell two executions
of it apart when the values were written into the SQL (an f-string, Django's ``qs[a:b]``): the
Fingerprint of a text carries them hashed (``literals``, ``values``), computed with it, once per
text, and never compared by ``==`` (two texts of one shape are still equal Fingerprints).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import sqlglot
from sqlglot import exp

StatementKind = Literal["select", "insert", "update", "delete", "other"]

PLACEHOLDER = "?"
CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A statement's shape: ``text`` is the normalised SQL, ``digest`` a short stable hash of it."""

    digest: str
    text: str
    kind: StatementKind
    tables: tuple[str, ...]
    parsed: bool  # False when sqlglot could not parse it and the token fallback was used
    # The literal values of this text, which the shape replaced by ``?``: ``literals`` a short
    # hash of them, keyed per process (for an events file; "" when none), ``values`` one entry
    # per value of the text in order, before lists are collapsed: ``hash()`` of a literal (an
    # integer's is itself), None for a bound parameter; () when the text has no literal (or
    # they are unknown: a Fingerprint built by hand). The runtime detectors compare them as
    # parameters (``SELECT ... OFFSET 200`` is not ``... OFFSET 100`` run again).
    literals: str = field(default="", compare=False, repr=False)
    values: tuple[int | None, ...] = field(default=(), compare=False, repr=False)


def fingerprint(sql: str, dialect: str = "postgres") -> Fingerprint:
    """Normalise ``sql`` (literals and placeholders to ``?``, ``IN`` lists collapsed) and hash it.

    >>> fp = fingerprint("SELECT * FROM renders WHERE id IN (1, 2, 3) AND status = 'done'")
    >>> fp.text
    'SELECT * FROM renders WHERE id IN (?) AND status = ?'
    >>> fp == fingerprint("select * from renders where id in ($1, $2) and status = $3")
    True
    >>> fp.kind, fp.tables
    ('select', ('renders',))
    >>> fingerprint("SELECT * FROM t WHERE a = %s LIMIT 10 OFFSET -20").values
    (None, 10, -20)
    """
    return _fingerprint_cached(sql, dialect)


def normalize(sql: str, dialect: str = "postgres") -> str:
    """The normalised text alone.

    >>> normalize("UPDATE renders SET status = %s WHERE id = %s")
    'UPDATE renders SET status = ? WHERE id = ?'
    """
    return _fingerprint_cached(sql, dialect).text


@lru_cache(maxsize=CACHE_SIZE)
def _fingerprint_cached(sql: str, dialect: str) -> Fingerprint:
    if sql.lstrip()[:4].upper() in _CONTROL_HEADS:
        control = _transaction_control(sql)
        if control is not None:
            return control
    tree = _parse(_number_params_to_pyformat(sql), dialect)
    if tree is None:
        text = _normalize_tokens(sql)
        literals = _token_literals(sql)
        kind = _kind_from_text(text)
        return Fingerprint(_digest(text), text, kind, (), False, *_hashed(literals))
    marked: tuple[str, list[_Value]] | None = None
    if tree.find(exp.Literal):  # most statements an ORM sends have none: nothing to carry
        try:
            marked = _normalize_marked(tree, dialect)
        except Exception:  # never worse than no literals: the plain passes on a fresh tree
            tree = _parse(_number_params_to_pyformat(sql), dialect) or tree
    if marked is None:
        for normalization_pass in PASSES:
            tree = normalization_pass(tree)
        marked = " ".join(tree.sql(dialect=dialect).split()), []
    text, literals = marked
    kind = statement_kind(tree)
    return Fingerprint(_digest(text), text, kind, _tables(tree), True, *_hashed(literals))


# Savepoints and constraint timing, which every Django TestCase sends around each test: read
# without sqlglot (which renders ``SAVEPOINT "x"`` as ``SAVEPOINT AS "x"``, drops ROLLBACK TO's
# SAVEPOINT keyword, and logs a warning for SET CONSTRAINTS), their savepoint name collapsed to
# ``?`` (Django names one per atomic block: ``s140_x1``, ``s140_x2``, ...), so that they are one
# text each, not one text (and one parse) per name. The first word's start is checked before the
# pattern: most statements start otherwise.
_CONTROL_HEADS = frozenset(("SAVE", "RELE", "ROLL", "SET "))
_SAVEPOINT_NAME = r'(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`|\w+)'
_CONTROL = re.compile(
    rf"""\s*(?:
        (?P<verb>SAVEPOINT|RELEASE(?:\s+SAVEPOINT)?|ROLLBACK\s+TO(?:\s+SAVEPOINT)?)
            \s+{_SAVEPOINT_NAME}
      | (?P<constraints>SET\s+CONSTRAINTS\s+.+?\s+(?:IMMEDIATE|DEFERRED))
    )\s*;?\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_CONTROL_VERBS = {"SAV": "SAVEPOINT", "REL": "RELEASE SAVEPOINT", "ROL": "ROLLBACK TO SAVEPOINT"}


def is_transaction_control(sql: str) -> bool:
    """A savepoint (``SAVEPOINT``, ``RELEASE``, ``ROLLBACK TO``) or ``SET CONSTRAINTS``
    statement."""
    return _CONTROL.match(sql) is not None


def _transaction_control(sql: str) -> Fingerprint | None:
    """The Fingerprint of a savepoint or SET CONSTRAINTS statement, None for anything else.

    >>> _transaction_control('ROLLBACK TO "s1_x2"').text
    'ROLLBACK TO SAVEPOINT ?'
    """
    match = _CONTROL.match(sql)
    if match is None:
        return None
    verb = match.group("verb")
    if verb is None:
        text = " ".join(match.group("constraints").split()).upper()
    else:
        text = _CONTROL_VERBS[verb[:3].upper()] + " ?"
    return Fingerprint(_digest(text), text, "other", (), True)


class _WhileParsing(logging.Filter):
    """Drops sqlglot's log records while dbaudit parses in this thread: a statement sqlglot
    reads as a bare command ("... contains unsupported syntax") is dbaudit's business, and was
    a WARNING in the captured log of the first test that sent it. Other uses of sqlglot, and
    other threads, log as before."""

    def __init__(self) -> None:
        super().__init__()
        self.active = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.active, "parsing", False)


_QUIET = _WhileParsing()
logging.getLogger("sqlglot").addFilter(_QUIET)


@contextmanager
def quiet_parsing() -> Iterator[None]:
    """sqlglot's log records dropped inside the block, in this thread only: a library user's
    own sqlglot calls, and other threads, still log. Nests (an inner block leaves the outer
    one quiet)."""
    previous = getattr(_QUIET.active, "parsing", False)
    _QUIET.active.parsing = True
    try:
        yield
    finally:
        _QUIET.active.parsing = previous


def _parse(sql: str, dialect: str) -> exp.Expression | None:
    with quiet_parsing():
        return _parse_quietly(sql, dialect)


def _parse_quietly(sql: str, dialect: str) -> exp.Expression | None:
    # The caller's dialect first; the generic dialect parses ``:name`` and some ``$n`` lists
    # that the PostgreSQL tokenizer rejects.
    for read in dict.fromkeys((dialect, "")):
        try:
            statements = sqlglot.parse(sql, read=read or None)
        except Exception:  # ParseError, TokenError, and plain errors on some malformed input
            continue
        if len(statements) == 1 and isinstance(statements[0], exp.Expression):
            return statements[0]
    return None


# A value's mark while a text with literals is normalised: ``?V<n>`` renders where the ``?``
# will be, ``n`` indexing the value (None for a placeholder) in the order the tree held them.
_MARK = "?V"
_MARKS = re.compile(r"\?V(\d+)")
_Value = int | float | str | None  # a literal's value; None: a bound parameter


def _normalize_marked(tree: exp.Expression, dialect: str) -> tuple[str, list[_Value]]:
    """:data:`PASSES` for a tree holding literals, rendered once: the normalised text and the
    values in the order of its ``?``, before lists are collapsed (the tree's order is not the
    text's). Each value is marked instead of replaced, the lists are collapsed as
    :func:`collapse_lists` does while the marks of the items dropped are kept beside the last
    mark of the item kept, and the marks are read back from the rendering. ``[]`` (unknown)
    when they cannot all be placed (a collapsed list inside the item of another)."""
    found: list[_Value] = []

    def mark(node: exp.Expression) -> exp.Expression:
        # the nodes replace_values replaces, in the same way
        negative = isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
        if negative or isinstance(node, exp.Literal):
            value = _literal_value(node.this if negative else node)
            found.append(-value if negative and not isinstance(value, str) else value)
        elif isinstance(node, exp.Placeholder | exp.Parameter):
            found.append(None)
        else:
            return node
        return exp.var(f"{_MARK}{len(found) - 1}")

    tree = tree.transform(mark, copy=False)
    dropped: dict[str, list[str]] = {}
    _collapse(tree, dropped)
    marked = tree.sql(dialect=dialect)
    order: list[str] = []
    for match in _MARKS.finditer(marked):
        name = match.group(0)
        order.append(name)
        order.extend(dropped.get(name, ()))
    text = " ".join(_MARKS.sub(PLACEHOLDER, marked).split())
    if sorted(order) != sorted(f"{_MARK}{n}" for n in range(len(found))):
        return text, []
    return text, [found[int(name[len(_MARK) :])] for name in order]


def _literal_value(node: exp.Expression) -> int | float | str:
    text = str(node.this)
    if isinstance(node, exp.Literal) and node.is_string:
        return text
    return _number(text)


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _token_literals(sql: str) -> list[_Value]:
    """The values of a text sqlglot could not parse, from its tokens."""
    values: list[_Value] = []
    for match in _TOKEN.finditer(sql):
        if match.group("string"):
            values.append(match.group("string")[1:-1].replace("''", "'"))
        elif match.group("number"):
            values.append(_number(match.group("number")))
        elif match.group("param"):
            values.append(None)
    return values


def _hashed(values: list[_Value]) -> tuple[str, tuple[int | None, ...]]:
    """(``Fingerprint.literals``, ``Fingerprint.values``) of a text's values: ("", ()) when it
    holds no literal. ``literals`` is a digest keyed with a secret of this process: an integer's
    ``hash()`` is itself and a plain digest of a small value can be guessed back by trying
    values, yet literal values never appear in output (an events file)."""
    if all(value is None for value in values):
        return "", ()
    hashes = tuple(None if value is None else hash(value) for value in values)
    keyed = hashlib.blake2b(repr(values).encode(), digest_size=8, key=_LITERALS_KEY)
    return keyed.hexdigest(), hashes


_LITERALS_KEY = os.urandom(16)  # never written anywhere


def replace_values(tree: exp.Expression) -> exp.Expression:
    """Literals (numbers, strings) and all placeholder styles become ``?``; NULL, booleans stay."""

    def swap(node: exp.Expression) -> exp.Expression:
        negative_number = isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
        if negative_number or isinstance(node, exp.Literal | exp.Placeholder | exp.Parameter):
            # A Var renders verbatim in every dialect (a Placeholder becomes %s in postgres).
            return exp.var(PLACEHOLDER)
        return node

    return tree.transform(swap, copy=False)


def collapse_lists(tree: exp.Expression) -> exp.Expression:
    """``IN (?, ?, ?)`` becomes ``IN (?)``, ``ARRAY[?, ?]`` becomes ``ARRAY[?]`` and a multi-row
    ``VALUES`` keeps one row, so batch sizes do not split one query shape into many."""
    return _collapse(tree, None)


def _collapse(tree: exp.Expression, dropped: dict[str, list[str]] | None) -> exp.Expression:
    """:func:`collapse_lists`; with ``dropped``, of a tree whose values are marked (``?V0``):
    items of one shape but their marks, and the marks of the items dropped are recorded under
    the last mark of the item kept."""
    for node in list(tree.find_all(exp.In, exp.Array, exp.Values)):
        key = "expressions"
        items = node.args.get(key) or []
        if len(items) < 2:
            continue
        first = items[0].sql()
        shape = first if dropped is None else _MARKS.sub(PLACEHOLDER, first)
        others = []
        for item in items[1:]:
            other = item.sql()
            if (other if dropped is None else _MARKS.sub(PLACEHOLDER, other)) != shape:
                break
            others.append(other)
        else:
            node.set(key, [items[0]])
            kept = _MARKS.findall(first) if dropped is not None else []
            if kept and dropped is not None:
                marks = [f"{_MARK}{n}" for other in others for n in _MARKS.findall(other)]
                dropped[f"{_MARK}{kept[-1]}"] = marks
    return tree


PASSES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (replace_values, collapse_lists)


def statement_kind(tree: exp.Expression) -> StatementKind:
    """What a parsed statement does; any query shape (set operations, a parenthesised SELECT)
    reads."""
    if isinstance(tree, exp.Query):
        return "select"
    if isinstance(tree, exp.Insert):
        return "insert"
    if isinstance(tree, exp.Update):
        return "update"
    if isinstance(tree, exp.Delete):
        return "delete"
    return "other"


def _tables(tree: exp.Expression) -> tuple[str, ...]:
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = (table.name for table in tree.find_all(exp.Table) if table.name)
    return tuple(dict.fromkeys(name for name in names if name not in ctes))


_KIND_WORDS: dict[str, StatementKind] = {
    "select": "select",
    "with": "select",
    "insert": "insert",
    "update": "update",
    "delete": "delete",
}

# One alternation so that a quoted string containing a placeholder-looking run is consumed whole.
_TOKEN = re.compile(
    r"""
      (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<param>\$\d+|%\(\w+\)s|%s|\?|(?<![:\w]):\w+)
    | (?P<number>(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    """,
    re.VERBOSE,
)
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_ROWS = re.compile(r"(\(\?\))(?:\s*,\s*\(\?\))+")


def _number_params_to_pyformat(sql: str) -> str:
    """``$1`` style placeholders become ``%s`` first: sqlglot's PostgreSQL tokenizer rejects some
    ``VALUES ($1, $2), ($3, $4)`` lists, the generic dialect reads ``$1`` as a column, and ``?``
    cannot be followed by a ``::type`` cast."""
    if "$" not in sql:
        return sql

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        return "%s" if match.group("param") and token.startswith("$") else token

    return _TOKEN.sub(swap, sql)


def _normalize_tokens(sql: str) -> str:
    def swap(match: re.Match[str]) -> str:
        return match.group(0) if match.group("quoted") else PLACEHOLDER

    text = " ".join(_TOKEN.sub(swap, sql).split())
    text = _LIST.sub("(?)", text)
    return _ROWS.sub(r"\1", text)


def _kind_from_text(text: str) -> StatementKind:
    first = text.split(None, 1)[0].lower() if text.strip() else ""
    return _KIND_WORDS.get(first, "other")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
