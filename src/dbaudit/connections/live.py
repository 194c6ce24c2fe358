"""Live connection management review: timeouts, headroom under max_connections, states.

Read-only: ``pg_settings`` / ``current_setting`` and ``pg_stat_activity``. Each finding carries
the concrete setting to use as its fix.

Rule IDs: DBA501 no statement_timeout, DBA502 no idle_in_transaction_session_timeout,
DBA503 connections close to max_connections, DBA504 application pools larger than the
server allows, DBA505 sessions idle in a transaction right now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from dbaudit.findings import Finding, Fix, Severity
from dbaudit.schema.model import quote_identifier

RECOMMENDED_STATEMENT_TIMEOUT = "30s"
RECOMMENDED_IDLE_IN_TRANSACTION_TIMEOUT = "60s"
BUSY_SHARE = 0.8  # connections in use at or above this share of the usable slots
IDLE_IN_TRANSACTION_MIN_AGE_S = 60

SETTINGS_SQL = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       current_setting('statement_timeout'),
       current_setting('idle_in_transaction_session_timeout'),
       current_database()
"""

# Sessions of other users show a NULL state to an unprivileged role: counted as "unknown".
CONNECTION_STATES_SQL = """
SELECT coalesce(state, 'unknown'), count(*),
       count(*) FILTER (WHERE state LIKE 'idle in transaction%%'
                        AND now() - state_change > make_interval(secs => %(min_age)s)),
       max(extract(epoch FROM now() - state_change))
           FILTER (WHERE state LIKE 'idle in transaction%%')
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1
ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class ConnectionReview:
    database: str
    max_connections: int
    reserved_connections: int
    statement_timeout: str
    idle_in_transaction_session_timeout: str
    by_state: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    @property
    def in_use(self) -> int:
        return sum(self.by_state.values())

    @property
    def usable(self) -> int:
        return self.max_connections - self.reserved_connections

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "max_connections": self.max_connections,
            "superuser_reserved_connections": self.reserved_connections,
            "statement_timeout": self.statement_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_session_timeout,
            "connections_by_state": dict(self.by_state),
            "findings": [
                {
                    "rule": f.rule,
                    "severity": str(f.severity),
                    "message": f.message,
                    "fix": f.fix.code if f.fix else "",
                }
                for f in self.findings
            ],
        }


def _finding(rule: str, severity: Severity, message: str, database: str, fix: Fix,
             problem: str) -> Finding:  # fmt: skip
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        path=f"db://{database}",
        line=0,
        end_line=0,
        fix=fix,
        confidence="high",
        source="live",
        problem=problem,
    )


def review_connections(
    conn: psycopg.Connection[Any],
    *,
    pool_connections: int | None = None,
    busy_share: float = BUSY_SHARE,
    idle_min_age_s: int = IDLE_IN_TRANSACTION_MIN_AGE_S,
) -> ConnectionReview:
    """Review the server's connection settings and current sessions.

    ``pool_connections``: the most connections the application's pools can open together
    (pool_size + max_overflow, summed over processes), when the static audit found them.
    """
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        row = conn.execute(SETTINGS_SQL).fetchone()
        assert row is not None
        states = conn.execute(CONNECTION_STATES_SQL, {"min_age": idle_min_age_s}).fetchall()
    max_conn, reserved, statement, idle_tx, database = row
    # The session's own values are the effective ones for this database and role.
    statement_ms = _milliseconds(statement)
    idle_tx_ms = _milliseconds(idle_tx)
    by_state = {state: int(count) for state, count, _old, _age in states}
    stuck = sum(int(old) for _state, _count, old, _age in states)
    oldest = max((float(age) for *_rest, age in states if age is not None), default=0.0)
    target = quote_identifier(database)
    findings: list[Finding] = []
    if statement_ms == 0:
        findings.append(
            _finding(
                "DBA501",
                Severity.MEDIUM,
                f"statement_timeout is off for database {database}: a runaway query holds its "
                "connection and locks for as long as it runs",
                database,
                Fix(
                    f"set a statement timeout of {RECOMMENDED_STATEMENT_TIMEOUT} for the "
                    "application (raise it per session for reports and migrations)",
                    f"ALTER DATABASE {target} SET statement_timeout = "
                    f"'{RECOMMENDED_STATEMENT_TIMEOUT}';",
                    "sql",
                ),
                "Set it per role or database rather than server-wide, so that maintenance "
                "jobs keep their own limit.",
            )
        )
    if idle_tx_ms == 0:
        findings.append(
            _finding(
                "DBA502",
                Severity.MEDIUM,
                f"idle_in_transaction_session_timeout is off for database {database}: a "
                "session that forgets to commit keeps its locks and blocks vacuum",
                database,
                Fix(
                    f"end sessions idle in a transaction after "
                    f"{RECOMMENDED_IDLE_IN_TRANSACTION_TIMEOUT}",
                    f"ALTER DATABASE {target} SET idle_in_transaction_session_timeout = "
                    f"'{RECOMMENDED_IDLE_IN_TRANSACTION_TIMEOUT}';",
                    "sql",
                ),
                "Open transactions hold row locks and the xmin horizon, so dead rows pile up.",
            )
        )
    usable = max_conn - reserved
    in_use = sum(by_state.values())
    if usable > 0 and in_use >= busy_share * usable:
        findings.append(
            _finding(
                "DBA503",
                Severity.HIGH,
                f"{in_use} of {usable} usable connections are in use "
                f"({in_use / usable:.0%}; max_connections {max_conn}, {reserved} reserved)",
                database,
                Fix(
                    "pool connections in front of the server (PgBouncer, transaction mode) "
                    "and shrink the application pools",
                    f"# pgbouncer.ini\npool_mode = transaction\ndefault_pool_size = "
                    f"{max(5, usable // 4)}\nmax_db_connections = {max(5, int(usable * 0.7))}",
                    "ini",
                ),
                "Each PostgreSQL connection is a process; raising max_connections costs memory "
                "per connection and slows snapshots.",
            )
        )
    if pool_connections is not None and pool_connections > usable:
        per_process = max(1, usable * 7 // 10)
        findings.append(
            _finding(
                "DBA504",
                Severity.HIGH,
                f"the application's pools can open {pool_connections} connections, more than "
                f"the {usable} the server allows (max_connections {max_conn})",
                database,
                Fix(
                    "cap pool_size + max_overflow over all processes at about 70% of the "
                    "usable connections",
                    f"create_async_engine(url, pool_size={max(1, per_process // 2)}, "
                    f"max_overflow={max(0, per_process - per_process // 2)}, pool_timeout=10, "
                    "pool_pre_ping=True, pool_recycle=1800)  # total over all processes: "
                    f"<= {per_process}",
                    "python",
                ),
                "Past max_connections, new connections fail with 'too many clients already'.",
            )
        )
    if stuck:
        findings.append(
            _finding(
                "DBA505",
                Severity.MEDIUM,
                f"{stuck} session(s) idle in a transaction for over "
                f"{idle_min_age_s}s (oldest {oldest:.0f}s)",
                database,
                Fix(
                    "commit or roll back before waiting on anything else; then set the timeout",
                    f"ALTER DATABASE {target} SET idle_in_transaction_session_timeout = "
                    f"'{RECOMMENDED_IDLE_IN_TRANSACTION_TIMEOUT}';",
                    "sql",
                ),
                "Find them with: SELECT pid, application_name, query FROM pg_stat_activity "
                "WHERE state = 'idle in transaction';",
            )
        )
    return ConnectionReview(
        database=database,
        max_connections=max_conn,
        reserved_connections=reserved,
        statement_timeout=statement,
        idle_in_transaction_session_timeout=idle_tx,
        by_state=by_state,
        findings=tuple(findings),
    )


_UNITS_MS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _milliseconds(value: str) -> int:
    """'0', '30s', '5min', '250ms' as PostgreSQL shows a time setting -> milliseconds."""
    text = value.strip()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number) :] or "ms"
    return int(float(number) * _UNITS_MS.get(unit, 1))
