"""Cheap facts from SQL string literals: kind, tables, filters, LIMIT, aggregates.

Regular expressions, not a parser: the frontend meets thousands of strings per second and
only needs the shape of a statement (what it reads, how it is keyed, whether it is bounded).

>>> facts = sql_facts("SELECT * FROM renders WHERE chain_id = $1 ORDER BY chain_position")
>>> facts.kind, facts.tables, facts.filters
('select', ('renders',), (('chain_id', '=', '$1'),))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_START = re.compile(
    r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*"
    r"(select(?=\s+(?:distinct\s+)?[\w\"*(]+.*?(?:\bfrom\b|[(*\d]))|select(?=\s+\d|\s*\*)"
    r"|insert(?=\s+into\b)|update(?=\s+[\w\".]+\s+(?:as\s+\w+\s+)?set\b)|delete(?=\s+from\b)"
    r"|with(?=\s+(?:recursive\s+)?\w+(?:\s*\([^)]*\))?\s+as\s*(?:not\s+)?(?:materialized\s+)?\()"
    r"|copy(?=\s+[\w\".]+.*\b(?:from|to)\b)|merge(?=\s+into\b)|values(?=\s*\()"
    r"|(?:create|alter|drop)(?=\s+(?:or\s+replace\s+)?(?:unique\s+)?(?:table|index|schema|"
    r"extension|view|materialized|sequence|type|function|trigger|temp|temporary|database|role|"
    r"user|policy|domain|procedure)\b)"
    r"|truncate(?=\s+\w)|(?:grant|revoke)(?=\s+\w+.*\s+on\s)"
    r"|vacuum|reindex|set(?=\s+(?:local\s+|session\s+)?\w+\s*(?:=|to)\s))\b",
    re.I | re.S,
)
_TABLE = re.compile(r"\b(?:from|join|into|update)\s+((?:\"?\w+\"?\.)?\"?\w+\"?)", re.I)
_FILTER = re.compile(
    r"\b(?:\w+\.|\"\w+\"\.)?\"?(\w+)\"?\s*(=|<=|>=|<|>|\bin\b|=\s*any)\s*\(?\s*"
    r"(\$\d+|%s|\?|:\w+|%\(\w+\)s)",
    re.I,
)
_WHERE = re.compile(r"\bwhere\b", re.I)
_MAIN_VERB = re.compile(r"\)\s*(select|insert|update|delete)\b", re.I)
_AGGREGATE = re.compile(r"\b(count|sum|avg|min|max|array_agg|json_agg|jsonb_agg)\s*\(", re.I)
_DDL = frozenset(
    {"create", "alter", "drop", "truncate", "grant", "revoke", "vacuum", "reindex", "set"}
)
_KEYWORDS = frozenset({"select", "lateral", "unnest", "only", "set", "values", "where"})


@dataclass(frozen=True, slots=True)
class SqlFacts:
    kind: str
    tables: tuple[str, ...]
    filters: tuple[tuple[str, str, str], ...]
    has_limit: bool
    batched: bool
    aggregates: tuple[str, ...]
    group_by: bool
    window: bool
    joins: int


def looks_like_sql(text: str) -> bool:
    return _START.match(text) is not None


def sql_facts(text: str) -> SqlFacts:
    start = _START.match(text)
    verb = start.group(1).lower() if start else "raw"
    if verb == "with":
        main = _MAIN_VERB.search(text)
        verb = main.group(1).lower() if main else "select"
    kind = {"values": "select", "copy": "insert", "merge": "update"}.get(verb, verb)
    if kind in _DDL:
        kind = "ddl"
    elif kind not in {"select", "insert", "update", "delete"}:
        kind = "raw"
    tables = tuple(
        dict.fromkeys(
            t.replace('"', "").split(".")[-1]
            for t in _TABLE.findall(text)
            if t.replace('"', "").lower() not in _KEYWORDS
        )
    )
    filters = []
    batched = False
    # an UPDATE's SET assigns (``SET enabled = $2``): only its WHERE filters rows
    where = _WHERE.search(text) if kind == "update" else None
    searched = text if kind != "update" else (text[where.end() :] if where else "")
    for column, op, value in _FILTER.findall(searched):
        normalized = " ".join(op.lower().split())
        if normalized in {"in", "= any", "=any"}:
            batched = True
            normalized = "in"
        filters.append((column, normalized, value))
    if kind == "select":
        aggregates = tuple(dict.fromkeys(a.lower() for a in _AGGREGATE.findall(text)))
    else:
        aggregates = ()
    lowered = text.lower()
    if re.search(r"\bin\s*\(\s*select\b", lowered) is None and " any(" in lowered.replace(
        "any (", "any("
    ):
        batched = True
    return SqlFacts(
        kind=kind,
        tables=tables,
        filters=tuple(filters),
        has_limit=re.search(r"\blimit\b|\bfetch\s+first\b", lowered) is not None,
        batched=batched,
        aggregates=aggregates,
        group_by=re.search(r"\bgroup\s+by\b", lowered) is not None,
        window=re.search(r"\bover\s*\(", lowered) is not None,
        joins=len(re.findall(r"\bjoin\b", lowered)),
    )
