"""The one statement that replaces a loop of one normalised statement (the N+1's batch).

Runtime findings print it beside the loop: the per-row key becomes an IN list, a per-row
INSERT one multi-row VALUES. The key is read from the statement's syntax tree (sqlglot): only
an equality of a column with a parameter at the top of the outer statement's WHERE (its AND
chain) can be one; a parameter in a subquery, under an OR or inside a function is never a key,
since an IN list there would change which rows the statement means.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Set
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from dbaudit.sql.fingerprint import quiet_parsing

# the dialects a normalised text is rendered in (sql/fingerprint.py renders each in the dialect
# of its driver): PostgreSQL's first, MySQL's backquotes next, then the generic one
_DIALECTS = ("postgres", "mysql", "")
_MARK = re.compile(r"\?P(\d+)")


@dataclass(frozen=True, slots=True)
class _Condition:
    """A top-level condition of the outer WHERE that takes one parameter: ``column = ?`` (a
    key candidate) or ``column IN (?)`` / ``column = ANY(?)`` (already a list per statement)."""

    node: exp.Expression
    column: exp.Column
    parameter: exp.Placeholder
    position: int  # of its parameter, 0-based, in the text's placeholder order
    is_list: bool


# sqlglot warns on its logger when it parses a statement as a bare command or renders one it
# cannot write: the user's stderr is not the place for what only tells dbaudit to give up
@quiet_parsing()
def suggest_batch(text: str, varying: Set[int] | None = None) -> str:
    """The one query that replaces a loop of ``text`` (a normalised statement).

    ``varying``: the positions (0-based, in the order of the text's ``?``) of the parameters
    whose values differed between the loop's executions, when the caller knows them
    (``dbaudit.runtime.batch_keys.varying_parameters``; a frozenset keeps the call cacheable).
    The key is then the one equality whose parameter varies, and the others stay ``= ?``; a
    varying parameter anywhere else (a SET value, a subquery, a LIMIT) means no one statement
    repeats the loop. Without them, a statement whose WHERE has any other parameter gets no
    suggestion: that one may be the per-item value.

    >>> suggest_batch("SELECT * FROM renders WHERE renders.chain_id = ? ORDER BY renders.id")
    'SELECT * FROM renders WHERE renders.chain_id IN (?) ORDER BY renders.id'
    >>> suggest_batch('DELETE FROM "c" WHERE "c"."id" IN (?)')
    'DELETE FROM "c" WHERE "c"."id" IN (?) -- every key in one IN list'
    >>> suggest_batch("INSERT INTO t (a) VALUES (?)")
    'INSERT INTO t (a) VALUES (?), (?), ... -- one statement for all rows'
    >>> suggest_batch("WITH a AS (SELECT id FROM u WHERE name = ?) INSERT INTO t (a) VALUES (?)")
    ''
    >>> suggest_batch("SELECT * FROM t WHERE t.owner = (SELECT id FROM u WHERE u.name = ?)")
    ''
    >>> suggest_batch("SELECT * FROM r WHERE r.tenant_id = ? AND r.project_id = ?", frozenset({1}))
    'SELECT * FROM r WHERE r.tenant_id = ? AND r.project_id IN (?)'
    """
    upper = text.upper()
    if upper.startswith("INSERT"):
        return _batch_insert(text)
    if upper.startswith("WITH ") and " INSERT INTO " in upper:
        # the row's values come through a CTE: with a parameter of its own (the author looked
        # up by name) the CTE is per row, so no one statement repeats the row; the summary's
        # executemany advice stands alone
        cte = text[: upper.index(" INSERT INTO ")]
        return "" if "?" in cte else _batch_insert(text)
    parsed = _parse(text)
    if parsed is None:
        return ""
    tree, dialect = parsed
    where = tree.args.get("where")
    if not isinstance(tree, exp.Select | exp.Update | exp.Delete) or where is None:
        return ""
    positions = _placeholder_positions(tree, dialect)
    if positions is None:
        return ""
    conditions = [
        c for c in (_condition(n, positions) for n in _and_chain(where.this)) if c is not None
    ]
    if varying is None:
        # unknown values: any other parameter of the WHERE (a second equality, a range, one in
        # a subquery or under an OR) may be the one that changes per item
        if len(conditions) != sum(1 for _ in where.find_all(exp.Placeholder)):
            return ""
    else:
        if varying - {c.position for c in conditions}:
            return ""  # a value outside the key changes per item: no one statement does that
        conditions = [c for c in conditions if c.position in varying]
    keys = [c for c in conditions if not c.is_list]
    lists = [c for c in conditions if c.is_list]
    if not keys and len(lists) == 1:
        # already a list per statement (Django deletes by ``pk IN (...)``): one list for all
        kind = "IN list" if isinstance(lists[0].node, exp.In) else "array"
        return f"{text} -- every key in one {kind}"
    if len(keys) != 1 or lists:
        return ""  # no key, or several: no single obvious batch column
    key = keys[0]
    # ``IN (?)`` without a CAST of the one ``?``: it stands for the whole list
    key.node.replace(exp.In(this=key.column.copy(), expressions=[key.parameter.copy()]))
    suggestion = tree.sql(dialect=dialect)
    if tree.args.get("limit") is not None:  # a per-key limit does not survive batching as is
        column = key.column.sql(dialect=dialect)
        suggestion += f" -- per key: ROW_NUMBER() OVER (PARTITION BY {column}) <= the limit"
    return suggestion


_COMPARISON = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In)
_PARAMETERS = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):\w+")


@quiet_parsing()
def where_conditions(sql: str) -> int | None:
    """How many plain comparisons the outer WHERE's AND chain holds, when it holds nothing
    else (no OR, subquery or function around a column); None when it does or does not parse.
    A fix that rewrites a statement from its filters is whole only when they are all of it.

    >>> where_conditions("SELECT * FROM r WHERE (r.a = $1 AND r.b > %s) ORDER BY r.id")
    2
    >>> where_conditions("SELECT * FROM r WHERE r.a = :a OR r.b IN (SELECT id FROM u)") is None
    True
    """
    parsed = _parse(_PARAMETERS.sub("?", sql))
    where = parsed[0].args.get("where") if parsed else None
    if where is None:
        return 0 if parsed else None
    terms = list(_and_chain(where.this))
    plain = all(
        isinstance(term, _COMPARISON)
        and isinstance(term.this, exp.Column)
        and not term.find(exp.Select, exp.Func, exp.Or)
        for term in terms
    )
    return len(terms) if plain else None


def _parse(text: str) -> tuple[exp.Expression, str] | None:
    """The statement's tree and the dialect that reads it back as written, or None."""
    for dialect in _DIALECTS:
        try:
            statements = sqlglot.parse(text, read=dialect or None)
        except Exception:  # ParseError, TokenError, and plain errors on some malformed input
            continue
        if len(statements) == 1 and isinstance(statements[0], exp.Expression):
            return statements[0], dialect
    return None


def _placeholder_positions(tree: exp.Expression, dialect: str) -> dict[int, int] | None:
    """``id(placeholder node)`` -> its position among the rendered text's ``?``: each is
    marked, the tree rendered once and the marks read back (the tree's walk order is not the
    text's). None when a placeholder does not come back."""
    nodes = list(tree.find_all(exp.Placeholder))
    marked = tree.copy()
    for index, node in enumerate(marked.find_all(exp.Placeholder)):
        node.replace(exp.var(f"?P{index}"))
    order = [int(m.group(1)) for m in _MARK.finditer(marked.sql(dialect=dialect))]
    if sorted(order) != list(range(len(nodes))):
        return None
    return {id(nodes[walked]): position for position, walked in enumerate(order)}


def _and_chain(node: exp.Expression) -> Iterator[exp.Expression]:
    """The conditions every row meets: the terms of the top-level AND chain, through the
    parentheses Django puts around its WHERE."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        yield from _and_chain(node.this)
        yield from _and_chain(node.expression)
    else:
        yield node


def _condition(node: exp.Expression, positions: dict[int, int]) -> _Condition | None:
    if isinstance(node, exp.In):
        values = node.expressions
        if isinstance(node.this, exp.Column) and len(values) == 1:
            parameter = _parameter(values[0])
            if parameter is not None:
                return _Condition(node, node.this, parameter, positions[id(parameter)], True)
        return None
    if not isinstance(node, exp.EQ):
        return None
    for column, other in ((node.this, node.expression), (node.expression, node.this)):
        if not isinstance(column, exp.Column):
            continue
        if isinstance(other, exp.Any):  # ``col = ANY(?)``: an array per statement
            inner = other.this.this if isinstance(other.this, exp.Paren) else other.this
            parameter = _parameter(inner)
            if parameter is not None:
                return _Condition(node, column, parameter, positions[id(parameter)], True)
            return None
        parameter = _parameter(other)
        if parameter is not None:
            return _Condition(node, column, parameter, positions[id(parameter)], False)
    return None


def _parameter(node: exp.Expression) -> exp.Placeholder | None:
    """``?`` or ``CAST(? AS type)`` (how SQLAlchemy and asyncpg type a parameter)."""
    if isinstance(node, exp.Cast):
        node = node.this
    return node if isinstance(node, exp.Placeholder) else None


def _batch_insert(text: str) -> str:
    """The row repeated whole (``(?, ?), (?, ?), ...``), what follows it kept (``ON CONFLICT DO
    NOTHING``, ``RETURNING id``: dropping them would change what the statement does).

    >>> _batch_insert("INSERT INTO t (a, b) VALUES (?, f(?)) RETURNING t.id").split(" -- ")[0]
    'INSERT INTO t (a, b) VALUES (?, f(?)), (?, f(?)), ... RETURNING t.id'
    """
    values = text.rfind("VALUES (")
    if values < 0:
        return ""
    start = values + len("VALUES ")
    depth = 0
    for end in range(start, len(text)):  # the row's closing parenthesis
        depth += (text[end] == "(") - (text[end] == ")")
        if depth == 0:
            break
    else:
        return ""
    row, rest = text[start : end + 1], text[end + 1 :]
    return f"{text[: end + 1]}, {row}, ...{rest} -- one statement for all rows"
