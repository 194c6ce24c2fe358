"""Index advisor against two baselines, measured side by side in one run (issue 6, Performance).

For each scenario (a schema, its data and a workload), with no secondary index and then with
the indexes of each strategy in place:

- ``advisor``: dbaudit's advisor (workload-wide greedy choice, composites with sort direction,
  partial indexes, write cost), with its wall time;
- ``every filtered column``: a single-column index on every column a workload statement
  filters or joins on (what is not already indexed);
- ``per-query (2 col)``: the advisor restricted to the best-known open-source strategy: one-
  and two-column candidates without sort direction or partial predicate, chosen statement by
  statement with a fixed 50% saving bar.

It prints the frequency-weighted planner cost of the workload (HypoPG what-if, or real indexes
in a rolled-back transaction), the frequency-weighted ``EXPLAIN ANALYZE`` time of its read
statements (indexes built for real inside a transaction that is rolled back; each strategy
timed in ``--rounds`` rounds in a rotating order, each statement's best of 5 runs per round and
best across rounds) and the index bytes three ways (HypoPG's figure, the deduplication-aware
estimate the advisor weighs, and as built), then the advisor against each baseline: WIN, TIE or
LOSS on planner cost and on time, with the margin. Statements that reach the same plan under
both strategies (``plan_signature``: same nodes, tables and index keys) cost the same and are
timed as one (each gets the best time either strategy measured): the same plan does the same
work, and the times of sub-millisecond statements differ by a few percent from one strategy's
turn to the next on a shared machine. A cost within ``COST_TOLERANCE`` and a time within
``TIME_TOLERANCE`` is a TIE (on the reference app every strategy reaches the same plans). The
check fails on a LOSS, or when the advisor takes more bytes than "every filtered column".
``--extra NAME=INDEXES`` times a hand-made index set alongside. The data is ``VACUUM
ANALYZE``d after loading, as autovacuum keeps a live database.

Scenarios: the reference render platform's naive schema at ``Scale.large()`` (over 1M renders)
with the operations of both variants (naive and optimized) as the workload, weighed by
``OPERATION_FREQUENCY`` and recorded on an identical copy of the data, and a multi-tenant shop
of our own (1M orders, 1.5M order items) whose workload is range filters, constant predicates,
joins and writes. Exit status 1 when a check fails.

    python benchmarks/index_advisor.py                  # both scenarios (a few minutes)
    python benchmarks/index_advisor.py --only shop      # or: --only reference
    python benchmarks/index_advisor.py --reference-scale mid   # 110k renders instead of 1.1M
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import psycopg

from dbaudit.db import (
    PostgresServer,
    redact,
    resolve_server,
    sqlalchemy_url,
    temporary_database,
)
from dbaudit.indexes.advisor import AdvisorSettings, StatementPlan, advise, workload_cost
from dbaudit.indexes.candidates import Candidate, covering_index
from dbaudit.indexes.whatif import measure_with_sizes
from dbaudit.indexes.workload import WorkloadQuery
from dbaudit.schema.live import connect, load_schema
from dbaudit.schema.model import IndexKey, Schema
from dbaudit.sizes import human_bytes
from dbaudit.sql.extract import ExtractError, extract

SHOP_DDL = """
CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL, plan text NOT NULL);
CREATE TABLE products (
    id bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts(id),
    sku text NOT NULL,
    archived boolean NOT NULL DEFAULT false
);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts(id),
    customer_email text NOT NULL,
    status text NOT NULL,
    total_cents int NOT NULL,
    created_at timestamptz NOT NULL,
    shipped_at timestamptz,
    deleted_at timestamptz
);
CREATE TABLE order_items (
    id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders(id),
    product_id bigint NOT NULL REFERENCES products(id),
    quantity int NOT NULL
);
"""

SHOP_DATA = """
INSERT INTO accounts SELECT g, 'account ' || g, (ARRAY['free', 'pro', 'team'])[1 + g % 3]
FROM generate_series(1, 2000) g;
INSERT INTO products SELECT g, 1 + g % 2000, 'SKU-' || lpad(g::text, 7, '0'), g % 5 = 0
FROM generate_series(1, 50000) g;
INSERT INTO orders
SELECT g, 1 + (g * 7919) % 2000, 'c' || (g % 200000) || '@example.com',
       CASE WHEN g % 100 < 85 THEN 'delivered' WHEN g % 100 < 93 THEN 'shipped'
            WHEN g % 100 < 98 THEN 'pending' ELSE 'cancelled' END,
       (g * 37) % 50000,
       timestamptz '2026-01-01' - (g * interval '30 seconds'),
       CASE WHEN g % 100 BETWEEN 85 AND 92 OR g % 100 < 85
            THEN timestamptz '2026-01-01' - (g * interval '30 seconds') + interval '2 days' END,
       CASE WHEN g % 50 = 0 THEN timestamptz '2026-01-01' END
FROM generate_series(1::bigint, 1000000) g;
INSERT INTO order_items
SELECT g, 1 + (g * 104729) % 1000000, 1 + (g * 31) % 50000, 1 + g % 3
FROM generate_series(1::bigint, 1500000) g;
"""

# What autovacuum has done on any server that has run for a while (this shared one runs with
# autovacuum off): statistics, and the visibility map that lets the planner cost an index-only
# scan below a plain index scan.
VACUUM = "VACUUM ANALYZE"

TIME_REPEATS = 5  # EXPLAIN ANALYZE runs per statement and round; the best counts

T0 = datetime(2025, 12, 1, tzinfo=UTC)
T1 = datetime(2025, 12, 15, tzinfo=UTC)


def shop_workload() -> tuple[WorkloadQuery, ...]:
    def q(label: str, sql: str, calls: float, params: tuple[object, ...] | None) -> WorkloadQuery:
        return WorkloadQuery(sql=sql, calls=calls, source="list", params=params, label=label)

    return (
        q("account order feed",
          "SELECT * FROM orders WHERE account_id = $1 AND deleted_at IS NULL "
          "ORDER BY created_at DESC LIMIT 25", 200, (17,)),
        q("pending queue",
          "SELECT id, total_cents FROM orders WHERE status = 'pending' AND created_at < $1 "
          "ORDER BY created_at LIMIT 100", 50, (T1,)),
        q("orders by customer", "SELECT * FROM orders WHERE customer_email = $1", 100,
          ("c4242@example.com",)),
        q("order items with sku",
          "SELECT oi.*, p.sku FROM order_items oi JOIN products p ON p.id = oi.product_id "
          "WHERE oi.order_id = $1", 100, (123456,)),
        q("account revenue in range",
          "SELECT count(*), sum(total_cents) FROM orders WHERE account_id = $1 "
          "AND created_at >= $2 AND created_at < $3", 20, (17, T0, T1)),
        q("active products",
          "SELECT * FROM products WHERE account_id = $1 AND NOT archived ORDER BY sku LIMIT 50",
          10, (17,)),
        q("late shipments",
          "SELECT * FROM orders WHERE status = 'shipped' AND shipped_at < $1", 5, (T0,)),
        q("new order",
          "INSERT INTO orders (id, account_id, customer_email, status, total_cents, created_at) "
          "VALUES ($1, $2, $3, 'pending', $4, now())", 300, None),
        q("ship order",
          "UPDATE orders SET status = $1, shipped_at = now() WHERE id = $2", 100, None),
    )  # fmt: skip


def every_filtered_column(schema: Schema, workload: Sequence[WorkloadQuery]) -> list[Candidate]:
    """Baseline 1: one single-column index per filtered or joined column not yet indexed."""
    columns = schema.columns_by_table()
    chosen: dict[tuple[str, str], Candidate] = {}
    for query in workload:
        try:
            shape = extract(query.sql, schema=columns)
        except ExtractError:
            continue
        refs = [(f.table, f.column) for f in shape.filters]
        refs += [(r.table, r.column) for j in shape.joins for r in (j.left, j.right)]
        for table_name, column in refs:
            table = schema.table(table_name) if table_name else None
            if table is None or table.column(column) is None:
                continue
            candidate = Candidate(
                table.name, (IndexKey(column, column),), None, "every filtered column"
            )
            if covering_index(table, candidate) is None:
                chosen.setdefault((table.name, column), candidate)
    return list(chosen.values())


# A planner cost within this share of a baseline's is a tie: the advisor's own bar for "a plan
# got cheaper" (advisor.NOISE). Where both reach the same plans, the costs are equal anyway.
COST_TOLERANCE = 0.001
# A measured time within this share of a baseline's is a tie. Statements that reach the same
# plan under both strategies (same nodes, tables and index keys: plan_signature) are timed as
# one, each getting the best time either strategy measured, so this band only has to absorb
# the noise of the statements whose plans differ: the 1 microsecond resolution of EXPLAIN
# ANALYZE on statements of a few microseconds that run thousands of times per unit, and a
# machine shared with other work.
TIME_TOLERANCE = 0.02


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    indexes: int
    index_bytes: int  # HypoPG's figure
    estimated_bytes: int  # deduplication-aware estimate, as the advisor weighs sizes
    real_bytes: int
    cost: float
    plans: tuple[StatementPlan, ...]  # per statement: planner cost and plan
    times: tuple[float | None, ...]  # per workload statement: best measured ms (None: a write)
    measured_plans: tuple[str, ...]  # per workload statement: the plan that was timed
    wall_s: float | None = None

    def measured_ms(self, workload: Sequence[WorkloadQuery]) -> float:
        return weighted(workload, self.times)


def measured_ms(
    conn: psycopg.Connection, workload: Sequence[WorkloadQuery], indexes: list[Candidate]
) -> tuple[list[float | None], list[str], int]:
    """Per statement, the best EXPLAIN ANALYZE ms of ``TIME_REPEATS`` runs with ``indexes``
    built (None for what is not measured: writes) and the plan it ran, and the indexes' real
    size."""
    runs = [(q.sql, q.params) for q in workload]
    results, real_bytes = measure_with_sizes(
        conn, runs, indexes, repeats=TIME_REPEATS, before_repeats=1
    )
    times: list[float | None] = []
    for query, result in zip(workload, results, strict=True):
        if result.before_ms is not None and result.after_ms is None:
            # Measured before but not after (an index the transaction cannot use, a timeout):
            # leaving it out would flatter this strategy.
            raise SystemExit(f"cannot measure {query.label or query.short()}: {result.reason}")
        times.append(result.after_ms)
    return times, [r.plan for r in results], real_bytes


def weighted(workload: Sequence[WorkloadQuery], times: Sequence[float | None]) -> float:
    return sum(q.calls * t for q, t in zip(workload, times, strict=True) if t is not None)


def verdict(ours: float, theirs: float, tolerance: float) -> tuple[str, float]:
    """WIN, TIE (within ``tolerance`` of ``theirs``) or LOSS, and the relative change."""
    change = (ours - theirs) / theirs if theirs else 0.0
    if change < -tolerance:
        return "WIN", change
    return ("TIE" if change <= tolerance else "LOSS"), change


@dataclass(frozen=True, slots=True)
class Comparison:
    cost: tuple[str, float]
    time: tuple[str, float]
    ours_ms: float  # with the statements of the same plan timed as one
    theirs_ms: float
    same_cost_plans: int  # statements the planner plans the same under both
    same_measured_plans: int  # measured statements that ran the same plan under both
    measured: int
    differing: tuple[str, ...]  # one line per measured statement whose plan differs


def compare(ours: Outcome, theirs: Outcome, workload: Sequence[WorkloadQuery]) -> Comparison:
    """The advisor against one baseline: planner cost, and measured time with the statements
    both strategies run with the same plan timed as one (each gets the best time of either)."""
    same_cost = sum(a.plan == b.plan for a, b in zip(ours.plans, theirs.plans, strict=True))
    ours_times: list[float | None] = []
    theirs_times: list[float | None] = []
    differing: list[str] = []
    same = measured = 0
    for number, query in enumerate(workload):
        a, b = ours.times[number], theirs.times[number]
        if a is None or b is None:
            ours_times.append(None)
            theirs_times.append(None)
            continue
        measured += 1
        if ours.measured_plans[number] == theirs.measured_plans[number]:
            same += 1
            a = b = min(a, b)
        else:
            differing.append(
                f"{query.label or query.short(40)} x{query.calls:g}: "
                f"{a * 1000:,.0f} us vs {b * 1000:,.0f} us"
            )
        ours_times.append(a)
        theirs_times.append(b)
    ours_ms, theirs_ms = weighted(workload, ours_times), weighted(workload, theirs_times)
    return Comparison(
        cost=verdict(ours.cost, theirs.cost, COST_TOLERANCE),
        time=verdict(ours_ms, theirs_ms, TIME_TOLERANCE),
        ours_ms=ours_ms,
        theirs_ms=theirs_ms,
        same_cost_plans=same_cost,
        same_measured_plans=same,
        measured=measured,
        differing=tuple(differing),
    )


_INDEX_SPEC = re.compile(
    r"^\s*([\w.]+)\s*\(([^)]*)\)(?:\s+INCLUDE\s*\(([^)]*)\))?(?:\s+WHERE\s+(.+))?\s*$",
    re.IGNORECASE,
)


def parse_indexes(spec: str) -> list[Candidate]:
    """``renders(project_id, created_at DESC); renders(chain_id) WHERE chain_id IS NOT NULL``
    as candidates (``--extra``).

    >>> [c.definition(concurrently=False) for c in parse_indexes("t(a, b DESC) INCLUDE (c)")]
    ['CREATE INDEX t_a_b_covering_idx ON t (a, b DESC) INCLUDE (c)']
    """
    found = []
    for part in filter(str.strip, spec.split(";")):
        match = _INDEX_SPEC.match(part)
        if match is None:
            raise SystemExit(f"--extra: cannot read the index {part.strip()!r}")
        keys = []
        for key in match.group(2).split(","):
            column, *direction = key.split()
            descending = [d.upper() for d in direction] == ["DESC"]
            keys.append(IndexKey(column, column, descending))
        include = tuple(c.strip() for c in (match.group(3) or "").split(",") if c.strip())
        found.append(Candidate(match.group(1), tuple(keys), match.group(4), "--extra", include))
    return found


def run_scenario(
    url: str,
    title: str,
    workload: Sequence[WorkloadQuery],
    rounds: int = 3,
    extra: dict[str, list[Candidate]] | None = None,
) -> bool:
    print(f"\n== {title} ==")
    with connect(url) as conn:
        schema = load_schema(conn)
        rows = {t.name: t.row_estimate for t in schema.tables}
        print("rows: " + ", ".join(f"{name} {count:,}" for name, count in rows.items() if count))
        print(f"workload: {len(workload)} statements, {sum(q.calls for q in workload):g} calls")
        settings = AdvisorSettings()
        extra = {
            name: indexes
            for name, indexes in (extra or {}).items()
            if all(schema.table(c.table) is not None for c in indexes)
        }
        started = time.perf_counter()
        result = advise(conn, schema, workload, settings)
        wall = time.perf_counter() - started
        print(f"advisor ({result.method}) wall time: {wall:.2f} s")
        for advice in result.advice:
            print(
                f"  [{advice.priority}] {advice.ddl}  ({human_bytes(advice.est_size)}, "
                f"HypoPG {human_bytes(advice.planner_size)})"
            )
        started = time.perf_counter()
        baseline = advise(conn, schema, workload, replace(settings, strategy="per-query"))
        baseline_wall = time.perf_counter() - started
        strategies = {
            "no secondary index": [],
            "advisor": [a.candidate for a in result.advice],
            "every filtered column": every_filtered_column(schema, workload),
            "per-query (2 col, 50%)": [a.candidate for a in baseline.advice],
            **extra,  # hand-made sets (on this scenario's tables), timed alongside, not checked
        }
        walls = {"advisor": wall, "per-query (2 col, 50%)": baseline_wall}
        for name in ("every filtered column", "per-query (2 col, 50%)"):
            listed = ", ".join(
                f"{c.table}({', '.join(k.render() for k in c.keys)})" for c in strategies[name]
            )
            print(f"  {name}: {listed}")
        # Sub-millisecond statements on a shared machine: each strategy is timed in several
        # rounds, in a rotating order, and each statement keeps its best time across rounds.
        best: dict[str, list[float | None]] = {}
        plans: dict[str, list[str]] = {}
        real: dict[str, int] = {}
        names = list(strategies)
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                times, plans[name], real[name] = measured_ms(conn, workload, strategies[name])
                previous = best.get(name)
                best[name] = (
                    times
                    if previous is None
                    else [
                        None if a is None or b is None else min(a, b)
                        for a, b in zip(previous, times, strict=True)
                    ]
                )
        outcomes: list[Outcome] = []
        for name, indexes in strategies.items():
            cost = workload_cost(conn, schema, workload, indexes, settings)
            outcomes.append(
                Outcome(
                    name,
                    len(indexes),
                    cost.index_bytes,
                    cost.estimated_bytes,
                    real[name],
                    cost.cost,
                    cost.plans,
                    tuple(best[name]),
                    tuple(plans[name]),
                    walls.get(name),
                )
            )
    print(f"{'strategy':<26}{'indexes':>8}{'HypoPG':>11}{'estimated':>11}{'as built':>11}"
          f"{'planner cost':>14}{'EXPLAIN ANALYZE':>18}{'wall':>9}")  # fmt: skip
    for o in outcomes:
        wall_text = f"{o.wall_s:.2f}s" if o.wall_s is not None else ""
        print(f"{o.name:<26}{o.indexes:>8}{human_bytes(o.index_bytes):>11}"
              f"{human_bytes(o.estimated_bytes):>11}"
              f"{human_bytes(o.real_bytes):>11}{o.cost:>14,.0f}"
              f"{o.measured_ms(workload):>15,.1f} ms{wall_text:>9}")  # fmt: skip
    by_name = {o.name: o for o in outcomes}
    ours = by_name["advisor"]
    every = by_name["every filtered column"]
    per_query = by_name["per-query (2 col, 50%)"]
    none = by_name["no secondary index"]
    print(
        f"advisor vs none: cost /{none.cost / max(ours.cost, 1e-9):,.0f}, "
        f"time /{none.measured_ms(workload) / max(ours.measured_ms(workload), 1e-9):,.0f}"
    )
    checks: dict[str, bool] = {}
    for other in (every, per_query):
        c = compare(ours, other, workload)
        (cost_verdict, cost_change), (time_verdict, time_change) = c.cost, c.time
        # The margins, so that a win by a hair reads as one, and a tie as a tie.
        print(
            f"advisor vs {other.name}: cost {cost_verdict} {cost_change:+.3%} "
            f"({ours.cost:,.0f} vs {other.cost:,.0f}; same plan for {c.same_cost_plans} of "
            f"{len(ours.plans)} statements); time {time_verdict} {time_change:+.2%} "
            f"({c.ours_ms:,.1f} vs {c.theirs_ms:,.1f} ms; same plan for "
            f"{c.same_measured_plans} of {c.measured} measured statements, timed as one); "
            f"bytes as built {(ours.real_bytes - other.real_bytes) / other.real_bytes:+.1%}"
        )
        for line in c.differing:
            print(f"    plans differ: {line}")
        checks[f"cost vs {other.name}: {cost_verdict}"] = cost_verdict != "LOSS"
        checks[f"time vs {other.name}: {time_verdict}"] = time_verdict != "LOSS"
    for name in extra:
        c = compare(by_name[name], ours, workload)
        print(
            f"{name} vs advisor: cost {c.cost[1]:+.1%}, time {c.time[1]:+.1%} "
            f"({c.ours_ms:,.1f} vs {c.theirs_ms:,.1f} ms; same plan for "
            f"{c.same_measured_plans} of {c.measured} measured statements, timed as one)"
        )
        for line in c.differing:
            print(f"    plans differ: {line}")
    checks["bytes at most every-filtered-column (estimated)"] = (
        ours.estimated_bytes <= every.estimated_bytes
    )
    checks["bytes at most every-filtered-column (as built)"] = ours.real_bytes <= every.real_bytes
    for label, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  advisor {label}")
    return all(checks.values())


async def _load_reference_data(url: str, scale_name: str) -> object:
    from sqlalchemy.ext.asyncio import create_async_engine

    from dbaudit.reference.render_platform.datagen import Scale, generate
    from dbaudit.reference.render_platform.schema import create_schema

    engine = create_async_engine(sqlalchemy_url(url, "asyncpg"))
    try:
        await create_schema(engine, "naive")
    finally:
        await engine.dispose()
    large = Scale.large()
    scale = large if scale_name == "large" else replace(large, name="mid", users=large.users // 10)
    started = time.perf_counter()
    dataset = await generate(url, scale, skip_foreign_key_checks=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(VACUUM)
    print(f"loaded reference app ({scale.name}) in {time.perf_counter() - started:.1f} s")
    return dataset


def load_reference(server: PostgresServer, url: str, scale_name: str) -> tuple[WorkloadQuery, ...]:
    """Load the naive schema into ``url`` and return the workload, recorded on an identical
    copy (the data generator is deterministic).

    Recording runs the writing operations and restores their rows: those updates leave HOT
    chains, and an index built over a HOT chain that another session's snapshot may still see
    is unusable in the transaction that built it (pg_index.indcheckxmin), so the measured
    "after" times would silently be times without the index. On a shared server a VACUUM cannot
    clean them up while another session holds an old snapshot: the database that is measured
    is never written to."""
    from dbaudit.indexes.reference_workload import OPERATION_FREQUENCY, record_mixed_workload

    with temporary_database(server) as scratch:
        dataset = asyncio.run(_load_reference_data(scratch, scale_name))
        print(
            "workload: naive and optimized operations, calls per operation: "
            + ", ".join(f"{name} {calls:g}" for name, calls in OPERATION_FREQUENCY.items())
        )
        workload = asyncio.run(record_mixed_workload(scratch, dataset))
    loaded = asyncio.run(_load_reference_data(url, scale_name))
    if loaded != dataset:
        raise SystemExit("the data generator is not deterministic: recorded ids would not match")
    return workload


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("reference", "shop"))
    parser.add_argument("--reference-scale", choices=("large", "mid"), default="large")
    parser.add_argument(
        "--rounds", type=int, default=3, help="timing rounds per strategy (default %(default)s)"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=INDEXES",
        help="also time this index set, e.g. 'composite=renders(project_id, created_at DESC); "
        "projects(user_id)' (indexes separated by ';', with INCLUDE (...) and WHERE ...)",
    )
    args = parser.parse_args(argv)
    extra = {}
    for item in args.extra:
        name, _, spec = item.partition("=")
        extra[name.strip()] = parse_indexes(spec)
    ok = True
    with resolve_server() as server:
        print(f"server: {redact(server.url)} ({server.source})")
        if args.only in (None, "reference"):
            with temporary_database(server) as url:
                workload = load_reference(server, url, args.reference_scale)
                ok &= run_scenario(
                    url, f"reference render platform, naive schema ({args.reference_scale})",
                    workload, args.rounds, extra,
                )  # fmt: skip
        if args.only in (None, "shop"):
            with temporary_database(server) as url:
                started = time.perf_counter()
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(SHOP_DDL)
                    conn.execute(SHOP_DATA)
                    conn.execute(VACUUM)
                print(f"\nloaded shop in {time.perf_counter() - started:.1f} s")
                ok &= run_scenario(
                    url, "multi-tenant shop (own schema)", shop_workload(), args.rounds, extra
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
