"""Index and table health checks: one function per check, its SQL in a named constant.

Every check reads catalogs and statistics views only (pghero's style): nothing here can change
the database. Each returns live :class:`~dbaudit.findings.Finding` objects whose ``fix`` holds
the SQL to run, and whose ``path`` names the table as ``db://<database>/<table>``.

Rule IDs: DBA402 foreign key without an index, DBA403 duplicate or prefix-redundant index,
DBA404 unused index, DBA405 invalid index, DBA406 table read mostly by sequential scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from dbaudit.findings import Finding, Fix, Severity
from dbaudit.indexes.candidates import index_name
from dbaudit.schema.model import quote_identifier
from dbaudit.sizes import human_bytes

# A table smaller than this is read faster by a sequential scan than through any index.
SEQ_SCAN_MIN_ROWS = 10_000
# "Mostly": at least this share of the table's scans are sequential.
SEQ_SCAN_MIN_SHARE = 0.5
SEQ_SCAN_MIN_SCANS = 10

_USER_TABLES = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp)'
"""

# Index A is redundant next to index B on the same table when A's key columns, operator
# classes and sort options are a prefix of B's (or equal), with the same expressions and the
# same partial predicate. A unique index is only redundant next to an identical unique one,
# and an index backing a constraint is never reported. Of two identical indexes, the one
# that backs no constraint (else the newer one) is reported.
DUPLICATE_INDEXES_SQL = f"""
WITH idx AS (
    SELECT i.indexrelid, i.indrelid, i.indisunique, ic.relam,
           (i.indkey::int2[])[0:i.indnkeyatts - 1] AS keys,
           (i.indclass::oid[])[0:i.indnkeyatts - 1] AS classes,
           (i.indoption::int2[])[0:i.indnkeyatts - 1] AS options,
           coalesce(pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
           coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS pred,
           EXISTS (SELECT 1 FROM pg_constraint c
                   WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                     AND c.contype IN ('p', 'u', 'x')) AS backs_constraint
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE i.indisvalid AND {_USER_TABLES}
)
SELECT n.nspname, t.relname, ra.relname, rb.relname, pg_relation_size(a.indexrelid),
       pg_get_indexdef(a.indexrelid), pg_get_indexdef(b.indexrelid), a.keys = b.keys
FROM idx a
JOIN idx b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid AND b.relam = a.relam
JOIN pg_class ra ON ra.oid = a.indexrelid
JOIN pg_class rb ON rb.oid = b.indexrelid
JOIN pg_class t ON t.oid = a.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE cardinality(a.keys) <= cardinality(b.keys)
  AND b.keys[1:cardinality(a.keys)] = a.keys
  AND b.classes[1:cardinality(a.keys)] = a.classes
  AND b.options[1:cardinality(a.keys)] = a.options
  AND a.exprs = b.exprs AND a.pred = b.pred
  AND NOT a.backs_constraint
  AND (NOT a.indisunique OR (b.indisunique AND a.keys = b.keys))
  AND (a.keys <> b.keys OR b.backs_constraint OR a.indexrelid > b.indexrelid)
ORDER BY n.nspname, t.relname, ra.relname, a.keys = b.keys DESC, rb.relname
"""

UNUSED_INDEXES_SQL = f"""
SELECT n.nspname, t.relname, ic.relname, pg_relation_size(i.indexrelid), s.idx_scan,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())
FROM pg_index i
JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
  AND {_USER_TABLES}
ORDER BY pg_relation_size(i.indexrelid) DESC, ic.relname
"""

INVALID_INDEXES_SQL = f"""
SELECT n.nspname, t.relname, ic.relname, pg_relation_size(i.indexrelid),
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT i.indisvalid AND {_USER_TABLES}
ORDER BY n.nspname, t.relname, ic.relname
"""

SEQ_SCAN_HEAVY_SQL = f"""
SELECT n.nspname, s.relname, s.seq_scan, coalesce(s.idx_scan, 0), s.seq_tup_read,
       c.reltuples::bigint
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.reltuples >= %(min_rows)s
  AND s.seq_scan >= %(min_scans)s
  AND s.seq_scan >= %(min_share)s * (s.seq_scan + coalesce(s.idx_scan, 0))
  AND {_USER_TABLES}
ORDER BY s.seq_tup_read DESC
"""

# A foreign key is served by any valid, non-partial btree index whose leading key columns are
# exactly the FK columns, in any order (a lookup by all of them can use it).
FOREIGN_KEYS_WITHOUT_INDEX_SQL = f"""
SELECT n.nspname, t.relname, c.conname, rt.relname, c.conrelid::regclass::text,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.attnum
             ORDER BY u.ord),
       c.reltuples_est
FROM (SELECT con.*, cl.reltuples::bigint AS reltuples_est
      FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid
      WHERE con.contype = 'f') c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class rt ON rt.oid = c.confrelid
WHERE {_USER_TABLES}
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
        AND am.amname = 'btree'
        AND i.indnkeyatts >= cardinality(c.conkey)
        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
        AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
  )
ORDER BY n.nspname, t.relname, c.conname
"""

Connection = psycopg.Connection[Any]


def _table(namespace: str, name: str) -> str:
    return name if namespace == "public" else f"{namespace}.{name}"


def _path(conn: Connection, table: str) -> str:
    return f"db://{conn.info.dbname}/{table}"


def _rows(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        return conn.execute(sql, params).fetchall()


def _qualified_index(namespace: str, name: str) -> str:
    index = quote_identifier(name)
    return index if namespace == "public" else f"{quote_identifier(namespace)}.{index}"


def _live(
    rule: str, severity: Severity, message: str, path: str, fix: Fix, problem: str
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        path=path,
        line=0,
        end_line=0,
        fix=fix,
        confidence="high",
        source="live",
        problem=problem,
    )


def duplicate_indexes(conn: Connection) -> list[Finding]:
    """DBA403: an index whose keys another index on the same table already starts with."""
    findings = []
    reported: set[tuple[str, str]] = set()
    for nsp, table, redundant, covering, size, definition, covering_def, exact in _rows(
        conn, DUPLICATE_INDEXES_SQL
    ):
        if (nsp, redundant) in reported:
            continue  # one finding per redundant index, naming the closest cover
        reported.add((nsp, redundant))
        kind = "duplicate of" if exact else "a prefix of"
        findings.append(
            _live(
                "DBA403",
                Severity.MEDIUM,
                f"index {redundant} on {_table(nsp, table)} is {kind} {covering} "
                f"({human_bytes(size)} to drop)",
                _path(conn, _table(nsp, table)),
                Fix(
                    f"drop {redundant}; {covering} serves the same lookups",
                    f"DROP INDEX CONCURRENTLY {_qualified_index(nsp, redundant)};",
                    "sql",
                ),
                f"{definition}\nis served by\n{covering_def}\nEvery write to "
                f"{_table(nsp, table)} still maintains both.",
            )
        )
    return findings


def unused_indexes(conn: Connection) -> list[Finding]:
    """DBA404: an index with no scans since the statistics were reset, backing no constraint."""
    findings = []
    for nsp, table, index, size, _scans, reset in _rows(conn, UNUSED_INDEXES_SQL):
        since = f"since {reset:%Y-%m-%d}" if reset is not None else "since statistics began"
        findings.append(
            _live(
                "DBA404",
                Severity.LOW,
                f"index {index} on {_table(nsp, table)} has not been scanned {since} "
                f"({human_bytes(size)})",
                _path(conn, _table(nsp, table)),
                Fix(
                    f"drop {index} if no replica or rare job uses it",
                    f"DROP INDEX CONCURRENTLY {_qualified_index(nsp, index)};",
                    "sql",
                ),
                "An unused index costs disk, cache and time on every write. Check the "
                "statistics of replicas and of monthly jobs before dropping it.",
            )
        )
    return findings


def invalid_indexes(conn: Connection) -> list[Finding]:
    """DBA405: an index left invalid by a failed CREATE INDEX CONCURRENTLY."""
    findings = []
    for nsp, table, index, size, definition in _rows(conn, INVALID_INDEXES_SQL):
        qualified = _qualified_index(nsp, index)
        findings.append(
            _live(
                "DBA405",
                Severity.HIGH,
                f"index {index} on {_table(nsp, table)} is invalid ({human_bytes(size)}): "
                "writes maintain it, no query uses it",
                _path(conn, _table(nsp, table)),
                Fix(
                    f"rebuild {index}",
                    f"DROP INDEX CONCURRENTLY {qualified};\n"
                    + definition.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1).replace(
                        "CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1
                    )
                    + ";",
                    "sql",
                ),
                "A CREATE INDEX CONCURRENTLY that failed leaves an invalid index behind.",
            )
        )
    return findings


def seq_scan_heavy_tables(
    conn: Connection,
    *,
    min_rows: int = SEQ_SCAN_MIN_ROWS,
    min_share: float = SEQ_SCAN_MIN_SHARE,
    min_scans: int = SEQ_SCAN_MIN_SCANS,
) -> list[Finding]:
    """DBA406: a table of at least ``min_rows`` rows read mostly by sequential scans."""
    params = {"min_rows": min_rows, "min_share": min_share, "min_scans": min_scans}
    findings = []
    for nsp, table, seq, idx, tuples_read, rows in _rows(conn, SEQ_SCAN_HEAVY_SQL, params):
        name = _table(nsp, table)
        findings.append(
            _live(
                "DBA406",
                Severity.MEDIUM,
                f"table {name} ({rows} rows) was read by {seq} sequential scans and {idx} "
                f"index scans ({tuples_read} rows read sequentially)",
                _path(conn, name),
                Fix(
                    "find the queries that scan it and index their filters",
                    f"dbaudit indexes --db URL --workload pg_stat_statements  # for {name}",
                    "shell",
                ),
                "Sequential scans of a large table read every row for each query.",
            )
        )
    return findings


def foreign_keys_without_index(conn: Connection) -> list[Finding]:
    """DBA402: a foreign key whose columns lead no index (joins, cascades and locks scan)."""
    findings = []
    for nsp, table, constraint, referenced, _regclass, columns, rows in _rows(
        conn, FOREIGN_KEYS_WITHOUT_INDEX_SQL
    ):
        name = _table(nsp, table)
        keys = ", ".join(quote_identifier(c) for c in columns)
        target = quote_identifier(table) if nsp == "public" else f"{nsp}.{table}"
        index = quote_identifier(index_name(table, columns))
        findings.append(
            _live(
                "DBA402",
                Severity.MEDIUM if (rows or 0) >= SEQ_SCAN_MIN_ROWS else Severity.LOW,
                f"foreign key {constraint} {name}({', '.join(columns)}) -> {referenced} "
                "has no index",
                _path(conn, name),
                Fix(
                    f"index {name}({', '.join(columns)})",
                    f"CREATE INDEX CONCURRENTLY {index} ON {target} ({keys});",
                    "sql",
                ),
                f"Lookups and joins by {', '.join(columns)} scan {name}, and every delete or "
                f"key update in {referenced} scans it too while holding locks.",
            )
        )
    return findings


HealthCheck = Callable[[Connection], Sequence[Finding]]

CHECKS: tuple[HealthCheck, ...] = (
    foreign_keys_without_index,
    duplicate_indexes,
    unused_indexes,
    invalid_indexes,
    seq_scan_heavy_tables,
)


def run_checks(conn: Connection) -> tuple[list[Finding], list[str]]:
    """All checks; one that fails (missing privileges, ...) gives one line and the rest go on."""
    from dbaudit.errors import first_line

    findings: list[Finding] = []
    errors: list[str] = []
    for check in CHECKS:
        try:
            findings.extend(check(conn))
        except psycopg.Error as error:
            errors.append(f"{check.__name__}: {first_line(error)}")
    return findings, errors
