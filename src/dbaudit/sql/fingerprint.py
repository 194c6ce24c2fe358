"""Normalise a SQL statement and fingerprint it, so that queries of the same shape group together.

Two statements share a fingerprint when they differ only in literal values, placeholder style
(``$1``, ``%s``, ``%(name)s``, ``?``, ``:name``) or the length of an ``IN (...)`` list or a
multi-row ``VALUES`` list. This is what lets the runtime profiler see that 50 queries are "the
same query" and what the static audit and the index advisor use to key a workload.

The normalisation is an ordered tuple of small passes over a sqlglot expression (the sqlglot
optimizer's shape, STYLE.md section 3); statements sqlglot cannot parse fall back to a token-level
normalisation with the same rules, so every input gets a fingerprint. Results are cached by
(SQL text, dialect): applications send the same few statement strings over and over.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
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


def fingerprint(sql: str, dialect: str = "postgres") -> Fingerprint:
    """Normalise ``sql`` (literals and placeholders to ``?``, ``IN`` lists collapsed) and hash it.

    >>> fp = fingerprint("SELECT * FROM renders WHERE id IN (1, 2, 3) AND status = 'done'")
    >>> fp.text
    'SELECT * FROM renders WHERE id IN (?) AND status = ?'
    >>> fp == fingerprint("select * from renders where id in ($1, $2) and status = $3")
    True
    >>> fp.kind, fp.tables
    ('select', ('renders',))
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
    tree = _parse(_number_params_to_pyformat(sql), dialect)
    if tree is None:
        text = _normalize_tokens(sql)
        return Fingerprint(_digest(text), text, _kind_from_text(text), (), parsed=False)
    for normalization_pass in PASSES:
        tree = normalization_pass(tree)
    text = " ".join(tree.sql(dialect=dialect).split())
    return Fingerprint(_digest(text), text, statement_kind(tree), _tables(tree), parsed=True)


def _parse(sql: str, dialect: str) -> exp.Expression | None:
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
    for node in list(tree.find_all(exp.In, exp.Array, exp.Values)):
        key = "expressions"
        items = node.args.get(key) or []
        if len(items) > 1 and all(_same_shape(items[0], item) for item in items[1:]):
            node.set(key, [items[0]])
    return tree


def _same_shape(first: exp.Expression, other: exp.Expression) -> bool:
    return bool(first.sql() == other.sql())


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
