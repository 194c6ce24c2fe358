"""How large a btree index will be, from planner statistics, with deduplication.

HypoPG sizes a hypothetical btree as if every row had its own index tuple. Since PostgreSQL 13
a btree stores a key that repeats once, followed by a posting list of 6-byte heap pointers
(deduplication), so an index on a low-cardinality column (a foreign key with a few rows per
value, a status) is a fraction of that: on the reference app at 1.15M renders HypoPG estimated
``renders (project_id)`` at about three times its built size. This module estimates the built
size from ``pg_stats`` (rows, NULL share, distinct values, average width):

- rows in the index: the table's rows, times the share a ``column IS [NOT] NULL`` predicate
  keeps (another predicate: no estimate, the caller keeps HypoPG's figure);
- a leaf tuple: an 8-byte index tuple header and the keys (each column's average width), padded
  to 8 bytes, plus a 4-byte line pointer;
- INCLUDE columns widen every leaf tuple and switch deduplication off (PostgreSQL only
  deduplicates indexes whose tuples are all key);
- deduplication when a key repeats (rows / distinct keys > 1, distinct keys of several columns
  taken as the product of each column's, capped at the rows) and every key type supports it
  (not numeric, floating point, json/jsonb): one tuple per key and at most
  :data:`MAX_POSTING_TIDS` heap pointers per tuple;
- leaf pages filled to the default 90% fillfactor, internal levels on top, one metapage.

It assumes values spread evenly over the keys; a skewed column deduplicates better than this
says. ``None`` when the statistics are missing (never analyzed) or the index is not a plain
btree on columns.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from dbaudit.indexes.candidates import Candidate
from dbaudit.schema.model import Table

PAGE_BYTES = 8192
PAGE_OVERHEAD = 24 + 16  # page header + btree special space
LEAF_FILL = 0.90  # btree default fillfactor
LINE_POINTER = 4
TUPLE_HEADER = 8
TID_BYTES = 6
# A posting list tuple is capped at half of the largest btree item (about 1350 bytes).
MAX_POSTING_TIDS = 220
NO_DEDUPLICATION_TYPES = ("numeric", "real", "double precision", "json", "jsonb", "float")


def _align(size: float) -> float:
    return math.ceil(size / 8) * 8


_NULL_TEST = re.compile(r'^\s*("?)([A-Za-z_][A-Za-z0-9_$]*)\1\s+IS\s+(NOT\s+)?NULL\s*$', re.I)


def _predicate_share(predicate: str, table: Table) -> float | None:
    """The share of rows a ``column IS [NOT] NULL`` predicate keeps; None for anything else."""
    match = _NULL_TEST.match(predicate)
    column = table.column(match.group(2)) if match else None
    if match is None or column is None or column.null_fraction is None:
        return None
    return column.null_fraction if match.group(3) is None else 1.0 - column.null_fraction


def estimate_btree_bytes(candidate: Candidate, table: Table | None) -> int | None:
    """The built size of ``candidate`` in bytes with deduplication, or None without statistics."""
    if table is None or table.row_estimate is None or table.row_estimate <= 0:
        return None
    columns = [table.column(k.column) if k.column else None for k in candidate.keys]
    included = [table.column(name) for name in candidate.include]
    if any(
        c is None or c.avg_width is None or c.null_fraction is None for c in [*columns, *included]
    ):
        return None
    known = [c for c in columns if c is not None]
    stored = [*known, *(c for c in included if c is not None)]
    rows = float(table.row_estimate)
    if candidate.predicate is not None:
        share = _predicate_share(candidate.predicate, table)
        if share is None:
            return None
        rows *= share
    if rows < 1:
        return 2 * PAGE_BYTES
    key_bytes = sum(c.avg_width or 0 for c in stored)
    distinct = 1.0
    for column in known:
        values = column.distinct_values(float(table.row_estimate))
        if values is None:
            return None
        has_null = (column.null_fraction or 0.0) > 0 and candidate.predicate is None
        distinct *= max(values, 1.0) + (1 if has_null else 0)
    distinct = min(distinct, rows)
    per_key = rows / distinct
    plain_tuple = _align(TUPLE_HEADER + key_bytes)
    deduplicates = (
        per_key >= 2
        and not candidate.include
        and not any(any(t in (c.type or "").lower() for t in NO_DEDUPLICATION_TYPES) for c in known)
    )
    if deduplicates:
        tuples_per_key = math.ceil(per_key / MAX_POSTING_TIDS)
        tids_per_tuple = per_key / tuples_per_key
        tuple_bytes = plain_tuple + _align(TID_BYTES * tids_per_tuple) + LINE_POINTER
        leaf_bytes = distinct * tuples_per_key * tuple_bytes
    else:
        leaf_bytes = rows * (plain_tuple + LINE_POINTER)
    usable = (PAGE_BYTES - PAGE_OVERHEAD) * LEAF_FILL
    pages = level = max(1, math.ceil(leaf_bytes / usable))
    fanout = max(2, int((PAGE_BYTES - PAGE_OVERHEAD) * 0.7 // (plain_tuple + LINE_POINTER)))
    while level > 1:
        level = math.ceil(level / fanout)
        pages += level
    return int((pages + 1) * PAGE_BYTES)  # + the metapage


# INCLUDE columns switch deduplication off, so a covering variant of a key that repeats (several
# rows per value) is several times the size of the same keys without INCLUDE: on the reference
# app, ``renders (project_id) INCLUDE (id)`` would be 36 MB against 12.7 MB, to spare heap visits
# that are one page per project there. A covering variant is judged only while it stays within
# this factor of its plain twin's size.
MAX_COVERING_GROWTH = 1.5


def covering_rejection(candidate: Candidate, table: Table | None) -> str | None:
    """Why a covering (INCLUDE) candidate is not worth judging, or None when it is (or when
    ``candidate`` has no INCLUDE columns)."""
    if not candidate.include:
        return None
    covering = estimate_btree_bytes(candidate, table)
    plain = estimate_btree_bytes(replace(candidate, include=()), table)
    if covering is None or plain is None:
        return "covering variant: no statistics to size it by (run ANALYZE)"
    growth = covering / max(plain, 1)
    if growth > MAX_COVERING_GROWTH:
        return (
            f"covering variant: {growth:.1f}x the size of the same keys without INCLUDE "
            f"(INCLUDE switches deduplication off; the limit is {MAX_COVERING_GROWTH:g}x)"
        )
    return None
