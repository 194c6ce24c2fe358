"""Load the schema model from a live PostgreSQL catalog, read-only.

Every query runs inside a ``READ ONLY`` transaction that is rolled back, so loading a schema
can never change the database even if a query here were wrong.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

from dbaudit.db import DatabaseUnavailable, redact
from dbaudit.errors import first_line
from dbaudit.schema.model import Column, ForeignKey, Index, IndexKey, Schema, Table, TableUsage

CONNECT_TIMEOUT_S = 5

_USER_NAMESPACES = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp)'
"""

TABLES_SQL = f"""
SELECT c.oid, n.nspname, c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid),
       s.seq_scan, s.seq_tup_read, s.idx_scan, s.n_tup_ins, s.n_tup_upd, s.n_tup_del,
       s.n_live_tup
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND {_USER_NAMESPACES}
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = f"""
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       st.null_frac, st.n_distinct, st.avg_width
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stats st
  ON st.schemaname = n.nspname AND st.tablename = c.relname AND st.attname = a.attname
 AND NOT st.inherited
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND {_USER_NAMESPACES}
ORDER BY a.attrelid, a.attnum
"""

INDEXES_SQL = f"""
SELECT i.indrelid, i.indexrelid, ic.relname, i.indisunique, i.indisprimary, i.indisvalid,
       am.amname, i.indnkeyatts, pg_get_expr(i.indpred, i.indrelid, true), con.conname,
       pg_relation_size(i.indexrelid), s.idx_scan, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con
       ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
      AND con.contype IN ('p', 'u', 'x')
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE tc.relkind IN ('r', 'p') AND {_USER_NAMESPACES}
ORDER BY i.indrelid, ic.relname
"""

INDEX_KEYS_SQL = f"""
SELECT i.indexrelid, k, pg_get_indexdef(i.indexrelid, k, true), a.attname,
       coalesce(i.indoption[k - 1] & 1 = 1, false), coalesce(i.indoption[k - 1] & 2 = 2, false)
FROM pg_index i
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
CROSS JOIN LATERAL generate_series(1, i.indnatts) AS k
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1] AND a.attnum > 0
WHERE tc.relkind IN ('r', 'p') AND {_USER_NAMESPACES}
ORDER BY i.indexrelid, k
"""

FOREIGN_KEYS_SQL = f"""
SELECT con.conname, con.conrelid, rn.nspname, rc.relname,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum
             ORDER BY u.ord),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = u.attnum
             ORDER BY u.ord)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f' AND {_USER_NAMESPACES}
ORDER BY con.conrelid, con.conname
"""


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A psycopg connection, or :class:`DatabaseUnavailable` with one line that has no password."""
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=autocommit)
    except Exception as error:  # a malformed URL raises ProgrammingError or ValueError
        # libpq quotes a URI it cannot parse, password and all
        reason = first_line(error).replace(url, redact(url))
        raise DatabaseUnavailable(f"cannot connect to {redact(url)}: {reason}") from None


def _qualified(namespace: str, name: str) -> str:
    return name if namespace == "public" else f"{namespace}.{name}"


def load_schema(conn: psycopg.Connection[Any]) -> Schema:
    """Read tables, columns, indexes, foreign keys, sizes and usage counters from the catalog."""
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        tables = conn.execute(TABLES_SQL).fetchall()
        columns = conn.execute(COLUMNS_SQL).fetchall()
        indexes = conn.execute(INDEXES_SQL).fetchall()
        keys = conn.execute(INDEX_KEYS_SQL).fetchall()
        foreign_keys = conn.execute(FOREIGN_KEYS_SQL).fetchall()
    version = conn.info.server_version

    names = {oid: _qualified(nsp, rel) for oid, nsp, rel, *_ in tables}
    columns_of: dict[int, list[Column]] = defaultdict(list)
    for relid, name, type_, nullable, null_frac, n_distinct, avg_width in columns:
        columns_of[relid].append(
            Column(
                name=name,
                type=type_,
                nullable=nullable,
                null_fraction=None if null_frac is None else float(null_frac),
                n_distinct=None if n_distinct is None else float(n_distinct),
                avg_width=None if avg_width is None else int(avg_width),
            )
        )

    keys_of: dict[int, list[tuple[int, str, str | None, bool, bool]]] = defaultdict(list)
    for indexrelid, position, expression, attname, descending, nulls_first in keys:
        keys_of[indexrelid].append((position, expression, attname, descending, nulls_first))

    indexes_of: dict[int, list[Index]] = defaultdict(list)
    for row in indexes:
        (relid, indexrelid, name, unique, primary, valid, method, n_key, predicate, constraint,
         size, scans, definition) = row  # fmt: skip
        entries = keys_of[indexrelid]
        key_entries = [e for e in entries if e[0] <= n_key]
        indexes_of[relid].append(
            Index(
                name=name,
                table=names.get(relid, str(relid)),
                keys=tuple(
                    IndexKey(
                        expression=expression,
                        column=attname,
                        descending=descending,
                        nulls_first=nulls_first if nulls_first != descending else None,
                    )
                    for _, expression, attname, descending, nulls_first in key_entries
                ),
                unique=unique,
                primary=primary,
                predicate=predicate,
                method=method,
                include=tuple(e[2] or e[1] for e in entries if e[0] > n_key),
                valid=valid,
                constraint=constraint,
                size_bytes=size,
                scans=scans,
                definition=definition,
            )
        )

    fks_of: dict[int, list[ForeignKey]] = defaultdict(list)
    for name, relid, ref_nsp, ref_rel, cols, ref_cols in foreign_keys:
        fks_of[relid].append(
            ForeignKey(
                name=name,
                table=names.get(relid, str(relid)),
                columns=tuple(cols),
                referenced_table=_qualified(ref_nsp, ref_rel),
                referenced_columns=tuple(ref_cols),
            )
        )

    result = []
    for row in tables:
        (oid, nsp, rel, reltuples, size, seq_scan, seq_tup_read, idx_scan, ins, upd, dele,
         live) = row  # fmt: skip
        usage = None
        if seq_scan is not None:
            usage = TableUsage(
                seq_scan=seq_scan or 0,
                seq_tup_read=seq_tup_read or 0,
                idx_scan=idx_scan or 0,
                n_tup_ins=ins or 0,
                n_tup_upd=upd or 0,
                n_tup_del=dele or 0,
                n_live_tup=live or 0,
            )
        result.append(
            Table(
                name=rel,
                schema=nsp,
                columns=tuple(columns_of[oid]),
                indexes=tuple(indexes_of[oid]),
                foreign_keys=tuple(fks_of[oid]),
                # reltuples is -1 for a table never vacuumed or analyzed (PG14+): unknown.
                row_estimate=reltuples if reltuples >= 0 else None,
                size_bytes=size,
                usage=usage,
            )
        )
    return Schema(tables=tuple(result), source="live", server_version=version)


def load_schema_from_url(url: str) -> Schema:
    with connect(url) as conn:
        return load_schema(conn)
