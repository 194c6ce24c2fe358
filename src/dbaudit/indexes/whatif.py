"""Ask the planner "what if this index existed?", leaving nothing behind.

Two ways, one interface (:class:`PlannerSession`):

- :class:`HypoPGSession`: hypothetical indexes (HypoPG). If the extension is not installed, it is
  created inside the session's transaction, which is always rolled back, so it is gone again
  afterwards; hypothetical indexes live in the backend's memory and are reset before leaving.
- :class:`RollbackSession` (opt-in): real indexes built inside a transaction with ``lock_timeout``
  and ``statement_timeout`` that is always rolled back. It holds a SHARE lock on each table it
  indexes until the end, which blocks writes there: that is why it needs a flag.

Statements with ``$1`` parameters are planned as generic plans: ``EXPLAIN (GENERIC_PLAN)`` on
PostgreSQL 16+, else ``PREPARE`` under ``plan_cache_mode = force_generic_plan`` and
``EXPLAIN EXECUTE`` with NULL arguments (a generic plan never looks at the values). Every
statement runs in its own savepoint, so one the planner rejects costs one line, not the session.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbaudit.errors import first_line
from dbaudit.indexes.candidates import Candidate

DEFAULT_STATEMENT_TIMEOUT_MS = 60_000
DEFAULT_LOCK_TIMEOUT_MS = 2_000
GENERIC_PLAN_EXPLAIN_VERSION = 160000
VERIFY_REPEATS = 3

_PARAMETER = re.compile(r"\$[0-9]+")

Connection = psycopg.Connection[Any]


class WhatIfUnavailable(RuntimeError):
    """The what-if method cannot be used here; the message is one line."""


class PlannerRejected(RuntimeError):
    """The planner (or the server) rejected one statement; the message is one line."""


class CandidateFailed(RuntimeError):
    """A candidate index could not be created (hypothetically or for real); one line."""


def has_parameters(statement: str) -> bool:
    return _PARAMETER.search(_strip_literals(statement)) is not None


def _strip_literals(statement: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", statement)


@dataclass(frozen=True, slots=True)
class Plan:
    total_cost: float
    root: dict[str, Any]

    @property
    def node_type(self) -> str:
        return str(self.root.get("Node Type", ""))

    def rows_written(self) -> float:
        """For INSERT/UPDATE/DELETE: the rows the ModifyTable node's input produces."""
        node = self.root
        if node.get("Node Type") == "ModifyTable":
            children = node.get("Plans") or []
            return float(children[0].get("Plan Rows", 1)) if children else 1.0
        return 0.0

    def index_names(self) -> set[str]:
        names: set[str] = set()
        stack = [self.root]
        while stack:
            node = stack.pop()
            if "Index Name" in node:
                names.add(str(node["Index Name"]))
            stack.extend(node.get("Plans") or [])
        return names


def plan_signature(root: dict[str, Any], index_names: dict[str, str] | None = None) -> str:
    """The shape of a plan: node types, tables, join types, scan directions and the indexes it
    reads, an index named by ``index_names`` (the planner's name -> the index's keys) when it
    is listed there, since a hypothetical or trial index gets another name in every session.
    Costs, row counts and times are left out: two plans with the same signature do the same
    work."""
    names = index_names or {}

    def node(plan: dict[str, Any]) -> str:
        parts = [str(plan.get("Node Type", ""))]
        for key in ("Join Type", "Scan Direction", "Strategy", "Relation Name"):
            if key in plan:
                parts.append(str(plan[key]))
        if "Index Name" in plan:
            parts.append(names.get(str(plan["Index Name"]), str(plan["Index Name"])))
        children = [node(child) for child in plan.get("Plans") or []]
        return " ".join(parts) + (f" [{', '.join(children)}]" if children else "")

    return node(root)


class PlannerSession:
    """One transaction, always rolled back, in which candidate indexes come and go."""

    method = "planner"

    def __init__(
        self,
        conn: Connection,
        *,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
        lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    ) -> None:
        self.conn = conn
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms
        self._token = secrets.token_hex(4)
        self.last_index_name = ""  # the planner's name for the index of the last try_index
        self._generic_explain = conn.info.server_version >= GENERIC_PLAN_EXPLAIN_VERSION

    # -- transaction ---------------------------------------------------------------------
    def __enter__(self) -> PlannerSession:
        if not self.conn.autocommit:
            raise WhatIfUnavailable("the planner session needs an autocommit connection")
        self._run("BEGIN")
        try:
            self._run(f"SET LOCAL statement_timeout = {int(self.statement_timeout_ms)}")
            self._run(f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}")
            self._run("SET LOCAL plan_cache_mode = force_generic_plan")
            self._prepare()
        except BaseException:
            self._run("ROLLBACK")
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
                self._cleanup()
        finally:
            self._run("ROLLBACK")

    def _prepare(self) -> None:
        """Set up the method inside the open transaction."""

    def _cleanup(self) -> None:
        """Undo what lives outside the transaction (backend memory)."""

    def _run(self, statement: str, params: Any = None) -> list[Any]:
        cursor = self.conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []

    def _savepoint(self, name: str) -> None:
        self._run(f"SAVEPOINT {name}")

    def _rollback_to(self, name: str) -> None:
        self._run(f"ROLLBACK TO SAVEPOINT {name}")
        self._run(f"RELEASE SAVEPOINT {name}")

    # -- planning ------------------------------------------------------------------------
    def explain(self, statement: str) -> Plan:
        """The planner's plan for one statement; PlannerRejected on any error."""
        prepared = f"dbaudit_stmt_{self._token}"
        did_prepare = False
        self._savepoint("dbaudit_explain")
        try:
            if not has_parameters(statement):
                rows = self._run(f"EXPLAIN (FORMAT JSON) {statement}")
            elif self._generic_explain:
                rows = self._run(f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {statement}")
            else:
                self._run(f"PREPARE {prepared} AS {statement}")
                did_prepare = True
                (count,) = self._run(
                    "SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                    "WHERE name = %s",
                    (prepared,),
                )[0]
                nulls = ", ".join(["NULL"] * int(count or 0))
                arguments = f"({nulls})" if count else ""
                rows = self._run(f"EXPLAIN (FORMAT JSON) EXECUTE {prepared}{arguments}")
            self._run("RELEASE SAVEPOINT dbaudit_explain")
        except psycopg.Error as error:
            self._rollback_to("dbaudit_explain")
            raise PlannerRejected(first_line(error)) from None
        finally:
            if did_prepare:
                self._run(f"DEALLOCATE {prepared}")
        document = rows[0][0]
        root = document[0]["Plan"]
        return Plan(total_cost=float(root["Total Cost"]), root=root)

    # -- candidates ----------------------------------------------------------------------
    def try_index(self, candidate: Candidate) -> int:
        """Make ``candidate`` visible to the planner; returns its size in bytes."""
        raise NotImplementedError

    def discard(self) -> None:
        """Remove the index of the last ``try_index``."""
        raise NotImplementedError

    def keep(self) -> None:
        """Keep the index of the last ``try_index`` for the rest of the session."""
        raise NotImplementedError


class HypoPGSession(PlannerSession):
    method = "hypopg"

    def __init__(self, conn: Connection, **timeouts: int) -> None:
        super().__init__(conn, **timeouts)
        self._schema = ""
        self._trial: int | None = None
        self.created_extension = False

    def _prepare(self) -> None:
        rows = self._run(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'hypopg'"
        )
        if not rows:
            self._savepoint("dbaudit_hypopg")
            try:
                # Inside the session's transaction: the final ROLLBACK removes it again.
                self._run("CREATE EXTENSION hypopg")
            except psycopg.Error as error:
                self._rollback_to("dbaudit_hypopg")
                raise WhatIfUnavailable(
                    f"HypoPG cannot be created here: {first_line(error)}"
                ) from None
            self._run("RELEASE SAVEPOINT dbaudit_hypopg")
            self.created_extension = True
            rows = self._run(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'hypopg'"
            )
        self._schema = sql.Identifier(rows[0][0]).as_string(self.conn)
        self._run(f"SELECT {self._schema}.hypopg_reset()")

    def _cleanup(self) -> None:
        self._run(f"SELECT {self._schema}.hypopg_reset()")

    def try_index(self, candidate: Candidate) -> int:
        self._savepoint("dbaudit_hypo")
        try:
            ((oid, name),) = self._run(
                f"SELECT indexrelid, indexname FROM {self._schema}.hypopg_create_index(%s)",
                (candidate.anonymous_definition(),),
            )
            ((size,),) = self._run(f"SELECT {self._schema}.hypopg_relation_size(%s)", (oid,))
        except psycopg.Error as error:
            self._rollback_to("dbaudit_hypo")
            raise CandidateFailed(first_line(error)) from None
        self._run("RELEASE SAVEPOINT dbaudit_hypo")
        self._trial = int(oid)
        self.last_index_name = str(name)
        return int(size)

    def discard(self) -> None:
        if self._trial is not None:
            self._run(f"SELECT {self._schema}.hypopg_drop_index(%s)", (self._trial,))
            self._trial = None

    def keep(self) -> None:
        self._trial = None


class RollbackSession(PlannerSession):
    method = "rollback"

    def __init__(self, conn: Connection, **timeouts: int) -> None:
        super().__init__(conn, **timeouts)
        self._count = 0
        self._open_trial = False

    def try_index(self, candidate: Candidate) -> int:
        self._count += 1
        name = f"dbaudit_candidate_{self._token}_{self._count}"
        self._savepoint("dbaudit_trial")
        try:
            self._run(candidate.definition(concurrently=False, name=name))
            ((size,),) = self._run(
                "SELECT pg_relation_size(oid) FROM pg_class WHERE relname = %s AND relkind = 'i'",
                (name,),
            )
            unusable = _unusable_here(self.conn, name)
        except psycopg.Error as error:
            self._rollback_to("dbaudit_trial")
            raise CandidateFailed(first_line(error)) from None
        if unusable:
            self._rollback_to("dbaudit_trial")
            raise CandidateFailed(UNUSABLE_REASON)
        self._open_trial = True
        self.last_index_name = name
        return int(size)

    def discard(self) -> None:
        if self._open_trial:
            self._rollback_to("dbaudit_trial")
            self._open_trial = False

    def keep(self) -> None:
        if self._open_trial:
            self._run("RELEASE SAVEPOINT dbaudit_trial")
            self._open_trial = False


# An index built over HOT chains that another snapshot may still see is marked indcheckxmin:
# the planner ignores it until the building transaction's xmin is older than every snapshot,
# that is never inside the (rolled-back) transaction that built it.
_UNUSABLE_SQL = (
    "SELECT i.indcheckxmin FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE c.relname = %s AND c.relkind = 'i'"
)
UNUSABLE_REASON = (
    "unusable in the transaction that built it: the table has HOT-updated rows that another "
    "session may still see (pg_index.indcheckxmin); VACUUM the table when no long transaction "
    "is open, or use HypoPG"
)


def _unusable_here(conn: Connection, index_name: str) -> bool:
    row = conn.execute(_UNUSABLE_SQL, (index_name,)).fetchone()
    return bool(row and row[0])


def hypopg_available(conn: Connection) -> tuple[bool, str]:
    """Whether HypoPG can be used (probing inside a rolled-back transaction), and why not."""
    try:
        with HypoPGSession(conn):
            return True, ""
    except WhatIfUnavailable as error:
        return False, str(error)


# -- measuring with EXPLAIN ANALYZE (--verify) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    before_ms: float | None
    after_ms: float | None
    reason: str = ""  # why it was not measured
    plan: str = ""  # the signature of the plan run with the indexes (see plan_signature)


def _literal_arguments(params: tuple[Any, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Literal(value) for value in params)


def _execution_ms(
    conn: Connection,
    statement: str,
    params: tuple[Any, ...] | None,
    repeats: int = VERIFY_REPEATS,
) -> tuple[float, dict[str, Any]]:
    """The best execution time of ``repeats`` EXPLAIN ANALYZE runs, and the executed plan."""
    name = sql.Identifier(f"dbaudit_verify_{secrets.token_hex(4)}")
    best = float("inf")
    plan: dict[str, Any] = {}
    conn.execute("SAVEPOINT dbaudit_measure")
    try:
        if params:
            conn.execute(sql.SQL("PREPARE {} AS ").format(name) + sql.SQL(statement))
            run = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {}({})").format(
                name, _literal_arguments(params)
            )
        else:
            run = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + sql.SQL(statement)
        for _ in range(max(1, repeats)):
            row = conn.execute(run).fetchone()
            assert row is not None
            best = min(best, float(row[0][0]["Execution Time"]))
            plan = row[0][0]["Plan"]
        conn.execute("RELEASE SAVEPOINT dbaudit_measure")
    except psycopg.Error as error:
        conn.execute("ROLLBACK TO SAVEPOINT dbaudit_measure")
        conn.execute("RELEASE SAVEPOINT dbaudit_measure")
        raise PlannerRejected(first_line(error)) from None
    finally:
        if params:
            conn.execute(sql.SQL("DEALLOCATE {}").format(name))
    return best, plan


def measure(
    conn: Connection,
    statements: list[tuple[str, tuple[Any, ...] | None]],
    indexes: list[Candidate],
    *,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
) -> list[Measurement]:
    """EXPLAIN ANALYZE each read statement without, then with the real ``indexes``, in one
    transaction that is rolled back. Writes and statements with parameters but no sample values
    are not run (their Measurement says why)."""
    return measure_with_sizes(
        conn,
        statements,
        indexes,
        statement_timeout_ms=statement_timeout_ms,
        lock_timeout_ms=lock_timeout_ms,
    )[0]


def measure_with_sizes(
    conn: Connection,
    statements: list[tuple[str, tuple[Any, ...] | None]],
    indexes: list[Candidate],
    *,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    repeats: int = VERIFY_REPEATS,
    before_repeats: int | None = None,
) -> tuple[list[Measurement], int]:
    """:func:`measure`, and the real total size in bytes of the indexes it built. Each time is
    the best of ``repeats`` runs (``before_repeats`` for the runs without the indexes)."""
    index_bytes = 0
    results: list[Measurement | None] = [None] * len(statements)
    runnable: list[int] = []
    for number, (statement, params) in enumerate(statements):
        from dbaudit.sql.extract import ExtractError, parse
        from dbaudit.sql.fingerprint import statement_kind

        try:
            kind = statement_kind(parse(statement))
        except ExtractError as error:
            results[number] = Measurement(None, None, str(error))
            continue
        if kind != "select":
            results[number] = Measurement(None, None, "writes data: not executed")
        elif has_parameters(statement) and not params:
            results[number] = Measurement(None, None, "has $n parameters and no sample values")
        else:
            runnable.append(number)
    before: dict[int, float] = {}
    failed: dict[int, str] = {}
    unusable: list[str] = []
    conn.execute("BEGIN")
    try:
        conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
        conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        for number in runnable:
            try:
                before[number], _plan = _execution_ms(
                    conn,
                    *statements[number],
                    repeats if before_repeats is None else before_repeats,
                )
            except PlannerRejected as error:
                failed[number] = str(error)
        keys: dict[str, str] = {}
        for position, candidate in enumerate(indexes):
            name = f"dbaudit_verify_{secrets.token_hex(3)}_{position}"
            keys[name] = candidate.keys_text()
            conn.execute(candidate.definition(concurrently=False, name=name))
            row = conn.execute(
                "SELECT pg_relation_size(oid) FROM pg_class WHERE relname = %s AND relkind = 'i'",
                (name,),
            ).fetchone()
            index_bytes += int(row[0]) if row else 0
            if _unusable_here(conn, name):
                unusable.append(f"{candidate.name()} is {UNUSABLE_REASON}")
        for number in runnable:
            if number in failed:
                results[number] = Measurement(None, None, failed[number])
                continue
            if unusable:
                # Times with an index the planner may not use would pass for its effect.
                results[number] = Measurement(before[number], None, unusable[0])
                continue
            try:
                after, plan = _execution_ms(conn, *statements[number], repeats)
            except PlannerRejected as error:
                results[number] = Measurement(before[number], None, str(error))
                continue
            results[number] = Measurement(before[number], after, plan=plan_signature(plan, keys))
    finally:
        conn.execute("ROLLBACK")
    measured = [m if m is not None else Measurement(None, None, "not measured") for m in results]
    return measured, index_bytes
