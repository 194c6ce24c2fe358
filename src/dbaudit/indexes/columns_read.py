"""Which columns of each table a SELECT reads: what a covering index must hold.

An index-only scan answers a query from the index alone (no heap visit for pages the
visibility map marks all-visible), but only when every column the query uses from that table is
in the index: filters, join keys, sort keys, grouped and aggregated columns, the select list.
This pass lists them per real table (aliases and self-joins resolved to the table). A table whose
columns cannot all be attributed (an unqualified column that several tables have, a select-list
alias it cannot tell from a column) is left out, so no covering candidate is built on a guess.

>>> reads = columns_read(
...     "SELECT p.id, count(r.id) FROM projects p LEFT JOIN renders r ON r.project_id = p.id "
...     "WHERE p.user_id = $1 GROUP BY p.id"
... )
>>> sorted(reads["renders"]), sorted(reads["projects"])
(['id', 'project_id'], ['id', 'user_id'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from dbaudit.sql.extract import ExtractError, parse, resolve_column, table_aliases

ALL_COLUMNS = "*"  # marker: the statement reads every column of the table (``SELECT *``)


def columns_read(
    sql: str, schema: Mapping[str, Sequence[str]] | None = None
) -> dict[str, frozenset[str]]:
    """Table -> the columns a SELECT reads from it (``{"*"}`` for all of them); tables whose
    reads cannot be told for sure are absent, and so is everything for a non-SELECT."""
    try:
        tree = parse(sql)
    except ExtractError:
        return {}
    if not isinstance(tree, exp.Query) or tree.find(exp.Insert, exp.Update, exp.Delete):
        return {}  # a write (also one in a CTE) touches the heap anyway
    aliases = table_aliases(tree)
    tables = set(aliases.values())
    found: dict[str, set[str]] = {table: set() for table in tables}
    unknown: set[str] = set()
    output_names = {
        projection.alias
        for select in tree.find_all(exp.Select)
        for projection in select.expressions
        if isinstance(projection, exp.Alias)
    }
    for star in tree.find_all(exp.Star):
        parent = star.parent
        if isinstance(parent, exp.Column):  # t.*
            table = aliases.get(parent.table)
            if table is not None:
                found[table].add(ALL_COLUMNS)
        elif isinstance(parent, exp.Select):  # SELECT *: every table of that SELECT
            for table in _scope_tables(parent):
                found[table].add(ALL_COLUMNS)
    for column in tree.find_all(exp.Column):
        if isinstance(column.this, exp.Star):
            continue
        if (
            not column.table
            and column.name in output_names
            and column.find_ancestor(exp.Order, exp.Group) is not None
        ):
            continue  # ORDER BY / GROUP BY a select-list alias
        ref = resolve_column(column, aliases, schema)
        if ref.table is not None and ref.table in found:
            found[ref.table].add(ref.column)
        elif column.table and column.table not in aliases:
            continue  # a subquery's or CTE's output column: its own columns are read inside
        else:
            unknown |= set(_scope_tables(column)) or tables
    return {table: frozenset(columns) for table, columns in found.items() if table not in unknown}


def _scope_tables(node: exp.Expression) -> list[str]:
    scope = node if isinstance(node, exp.Select) else node.find_ancestor(exp.Select)
    if scope is None:
        return []
    ctes = {cte.alias_or_name for cte in scope.root().find_all(exp.CTE)}
    return sorted(
        {
            table.name
            for table in scope.find_all(exp.Table)
            if table.name and table.name not in ctes and table.find_ancestor(exp.Select) is scope
        }
    )
