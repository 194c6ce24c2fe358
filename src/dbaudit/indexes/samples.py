"""Sample values for a statement's ``$n`` parameters, drawn from ``pg_stats``, for ``--verify``.

``EXPLAIN ANALYZE`` runs a statement, so a ``$1`` needs a value. Workloads from
``pg_stat_statements`` and from runtime events files keep none; the planner statistics of the
column a parameter is compared to hold real ones:

- ``column = $1``, ``column <> $1``, ``column IN ($1, $2, ...)``, ``column = ANY($1)``: typical
  values, the histogram bounds from its median outwards (values that are not among the most
  common ones, so a lookup finds an ordinary number of rows), then the most common values (a
  column with few distinct values has no histogram); an IN list gets distinct values;
- ranges (``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``): histogram quantiles, so that the range
  keeps about a tenth of the rows: an upper bound alone at 10%, a lower bound alone at 90%, both
  on the same column at 45% and 55%.

A parameter compared to no column (a LIMIT, an expression, a column of a subquery), to a column
without statistics, or used with LIKE has no usable sample: the statement is then not measured,
with that reason. The values themselves are not reported (they are data from the table, and
dbaudit's output never carries literal values); what is reported is where each came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import psycopg
from sqlglot import exp

from dbaudit.sql.extract import ExtractError, parse, resolve_column, table_aliases

Use = Literal["equal", "in", "any", "lower", "upper", "limit", "other"]

RANGE_SHARE_ONE_SIDED = 0.10  # an upper bound alone keeps about this share of the rows
RANGE_SHARE_TWO_SIDED = (0.45, 0.55)

_EQUALITY = (exp.EQ, exp.NEQ)
_LOWER: dict[type[exp.Expression], tuple[str, str]] = {
    exp.GT: ("lower", "upper"),  # column > $1: a lower bound; $1 > column: an upper bound
    exp.GTE: ("lower", "upper"),
    exp.LT: ("upper", "lower"),
    exp.LTE: ("upper", "lower"),
}

PG_STATS_SQL = """
SELECT most_common_vals::text::text[], histogram_bounds::text::text[]
FROM pg_stats
WHERE schemaname = %s AND tablename = %s AND attname = %s
ORDER BY inherited
LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class ParameterUse:
    number: int
    use: Use
    table: str | None = None
    column: str | None = None
    detail: str = ""  # for "limit" and "other": what it is ("a LIMIT", "used with LIKE")


@dataclass(frozen=True, slots=True)
class Samples:
    params: tuple[str, ...] | None  # text values for $1..$n, None when there is no usable one
    description: str = ""  # where each value came from (never the values)
    reason: str = ""  # why there is no usable sample


def parameter_uses(
    sql: str, schema: Mapping[str, Sequence[str]] | None = None
) -> dict[int, ParameterUse]:
    """How each ``$n`` of ``sql`` is used (its first use), by number.

    >>> uses = parameter_uses("SELECT * FROM t WHERE a = $1::int AND b < $2 LIMIT $3")
    >>> [(u.number, u.use, u.column) for u in uses.values()]
    [(1, 'equal', 'a'), (2, 'upper', 'b'), (3, 'limit', None)]
    """
    try:
        tree = parse(sql)
    except ExtractError:
        return {}
    aliases = table_aliases(tree)
    uses: dict[int, ParameterUse] = {}
    for parameter in tree.find_all(exp.Parameter):
        try:
            number = int(parameter.name)
        except ValueError:
            continue
        if number not in uses:
            uses[number] = _use(parameter, number, aliases, schema)
    return dict(sorted(uses.items()))


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node.parent, exp.Cast | exp.Paren):
        node = node.parent
    return node


def _strip(node: exp.Expression | None) -> exp.Expression | None:
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    return node


def _use(
    parameter: exp.Parameter,
    number: int,
    aliases: Mapping[str, str],
    schema: Mapping[str, Sequence[str]] | None,
) -> ParameterUse:
    node = _unwrap(parameter)
    parent = node.parent
    use: str
    other: exp.Expression | None
    if isinstance(parent, exp.Limit | exp.Offset):
        return ParameterUse(number, "limit", detail=f"a {parent.key.upper()}")
    if isinstance(parent, exp.EQ) and isinstance(parent.parent, exp.Update | exp.Values):
        return ParameterUse(number, "other", detail="a value written")
    if isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values):
        return ParameterUse(number, "other", detail="a value written")
    if isinstance(parent, exp.In) and node is not parent.this:
        use, other = "in", parent.this
    elif isinstance(parent, exp.Any) and isinstance(parent.parent, exp.EQ):
        use, other = "any", parent.parent.this
    elif isinstance(parent, _EQUALITY):
        use = "equal"
        other = parent.expression if node is parent.this else parent.this
    elif isinstance(parent, exp.GT | exp.GTE | exp.LT | exp.LTE):
        left, right = _LOWER[type(parent)]
        use = left if node is parent.expression else right
        other = parent.expression if node is parent.this else parent.this
    elif isinstance(parent, exp.Between) and node is not parent.this:
        use = "lower" if node is parent.args.get("low") else "upper"
        other = parent.this
    else:
        what = parent.key.upper() if parent is not None else "nothing"
        return ParameterUse(number, "other", detail=f"used with {what}")
    column = _strip(other)
    if not isinstance(column, exp.Column):
        return ParameterUse(number, "other", detail="compared to an expression")
    ref = resolve_column(column, aliases, schema)
    if ref.table is None:
        return ParameterUse(
            number, "other", detail=f"compared to {column.sql()}, which is no table's column"
        )
    return ParameterUse(number, cast(Use, use), ref.table, ref.column)


def _middle_out(values: Sequence[str]) -> list[str]:
    """Histogram bounds from the median outwards (the extremes last)."""
    middle = len(values) // 2
    order = sorted(range(len(values)), key=lambda i: (abs(i - middle), i))
    return [values[i] for i in order]


def _quantile(bounds: Sequence[str], share: float) -> str:
    return bounds[round(share * (len(bounds) - 1))]


def _array_literal(values: Sequence[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def draw_samples(
    conn: psycopg.Connection[Any],
    sql: str,
    schema: Mapping[str, Sequence[str]] | None = None,
    qualified: Mapping[str, tuple[str, str]] | None = None,
) -> Samples:
    """Values for every ``$n`` of ``sql`` from the statistics of the columns they are compared
    to. ``qualified``: table name -> (schema, table) for the pg_stats lookup (default public)."""
    uses = parameter_uses(sql, schema)
    if not uses:
        return Samples(None, reason="no $n parameter found in a comparison")
    count = max(uses)
    missing = [n for n in range(1, count + 1) if n not in uses]
    if missing:
        return Samples(None, reason=f"${missing[0]} is not compared to anything")
    for use in uses.values():
        if use.use in ("limit", "other"):
            return Samples(
                None,
                reason=f"${use.number} is {use.detail}: no column statistics to draw a value from",
            )
    stats: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for use in uses.values():
        key = (cast(str, use.table), cast(str, use.column))
        if key in stats:
            continue
        namespace, table = (qualified or {}).get(key[0], ("public", key[0]))
        row = conn.execute(PG_STATS_SQL, (namespace, table, key[1])).fetchone()
        if row is None or not (row[0] or row[1]):
            return Samples(
                None,
                reason=f"no statistics for {key[0]}.{key[1]} (never analyzed, or no SELECT on it)",
            )
        stats[key] = (list(row[0] or []), list(row[1] or []))
    values: dict[int, str] = {}
    sources: dict[tuple[str, str, str], list[int]] = {}
    for key, (common, bounds) in stats.items():
        on_column = [u for u in uses.values() if (u.table, u.column) == key]
        typical = list(dict.fromkeys([*_middle_out(bounds), *common]))
        source = "histogram median outwards" if bounds else "most common values"
        points = [u for u in on_column if u.use in ("equal", "in")]
        for position, use in enumerate(points):
            values[use.number] = typical[position % len(typical)]
        if points:
            sources.setdefault((*key, source), []).extend(u.number for u in points)
        for use in (u for u in on_column if u.use == "any"):
            values[use.number] = _array_literal(typical[:3])
            sources.setdefault((*key, source), []).append(use.number)
        lower = [u for u in on_column if u.use == "lower"]
        upper = [u for u in on_column if u.use == "upper"]
        if lower or upper:
            if len(bounds) < 2:
                return Samples(
                    None, reason=f"no histogram for {key[0]}.{key[1]} to draw a range from"
                )
            low_share, high_share = (
                RANGE_SHARE_TWO_SIDED
                if lower and upper
                else (1 - RANGE_SHARE_ONE_SIDED, RANGE_SHARE_ONE_SIDED)
            )
            for use in lower:
                values[use.number] = _quantile(bounds, low_share)
                sources.setdefault((*key, f"{low_share:.0%} quantile"), []).append(use.number)
            for use in upper:
                values[use.number] = _quantile(bounds, high_share)
                sources.setdefault((*key, f"{high_share:.0%} quantile"), []).append(use.number)
    description = "; ".join(
        f"{_numbers(numbers)} from pg_stats of {table}.{column} ({source})"
        for (table, column, source), numbers in sources.items()
    )
    return Samples(tuple(values[n] for n in range(1, count + 1)), description)


def _numbers(numbers: Sequence[int]) -> str:
    ordered = sorted(numbers)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"${ordered[0]}..${ordered[-1]}"
    return ", ".join(f"${n}" for n in ordered)
