"""Reference operations, naive vs optimized, measured side by side in one run (issue 3, section 5).

For every operation of the reference render platform: statements (SQLAlchemy cursor events),
round trips (client turns counted on the wire by the delay proxy), median and p95 latency with
the database behind an injected one-way delay of 0 ms and 1 ms, and the throughput of 50
concurrent clients at 1 ms. The measured ``SELECT 1`` round trip at each setting is printed first,
so the reader sees what the injected delay really costs on this machine. Improvements at 1 ms
are then set against the seed estimates of the issue.

    python benchmarks/reference_ops.py            # full run (one to three minutes)
    python benchmarks/reference_ops.py --quick    # short run (under 30 s), same tables
    python benchmarks/reference_ops.py --json     # one JSON document

The database comes from ``dbaudit.db.resolve_server`` (``DBAUDIT_DATABASE_URL``, 127.0.0.1:5432,
else an embedded PostgreSQL); two temporary databases are created and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Sequence

import psycopg

from dbaudit.bench.reference import ReferenceRun, run_reference
from dbaudit.bench.runner import CaseResult, Settings
from dbaudit.bench.stats import improvement_pct
from dbaudit.bench.table import render_plain, to_json
from dbaudit.db import DatabaseUnavailable, redact, resolve_server, temporary_database

# Issue 3, section 5: "87% faster for get_user_projects, 94% delete_chain (50 renders), 69%
# profile stats, 76% render-with-context, 50% credits", at "typical" latency.
SEED_ESTIMATES_PCT: dict[str, float] = {
    "get_user_projects": 87.0,
    "delete_chain": 94.0,
    "get_profile_stats": 69.0,
    "get_render_with_context": 76.0,
    "get_user_credits_with_reset": 50.0,
}
COMPARED_AT_MS = 1.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: fewer calls")
    parser.add_argument("--repeat", type=int, help="timed calls per operation, variant, delay")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument(
        "--calls-per-client", type=int, help="calls per concurrent client (default 4; quick: 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="data generator seed")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace) -> Settings:
    return Settings(
        delays_ms=(0.0, COMPARED_AT_MS),
        repeat=args.repeat or (5 if args.quick else 20),
        warmup=2 if args.quick else 3,
        clients=args.clients,
        calls_per_client=args.calls_per_client or (1 if args.quick else 4),
        concurrency_delay_ms=COMPARED_AT_MS if args.clients > 0 else None,
        rtt_samples=20 if args.quick else 50,
    )


def seed_comparison(reference: ReferenceRun) -> str:
    """Measured median improvement at 1 ms next to each seed estimate."""
    by_name = {case.name: case for case in reference.result.cases}
    lines = [
        f"Against the seed estimates (median improvement at {COMPARED_AT_MS:g} ms one-way delay)",
        f"{'operation':<30} {'seed':>6} {'measured':>9}  verdict",
    ]
    for name, seed in SEED_ESTIMATES_PCT.items():
        case = by_name.get(name)
        if case is None:
            lines.append(f"{name:<30} {seed:>5.0f}% {'-':>9}  not in the operations table")
            continue
        measured = _improvement(case)
        verdict = "beats the estimate" if measured >= seed else "BELOW the estimate"
        lines.append(f"{name:<30} {seed:>5.0f}% {measured:>8.0f}%  {verdict}")
    return "\n".join(lines)


def _improvement(case: CaseResult) -> float:
    before = case.before.latency_at(COMPARED_AT_MS).median_ms
    after = case.after.latency_at(COMPARED_AT_MS).median_ms
    return improvement_pct(before, after)


def _server_version(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_for(args)
    except ValueError as error:
        print(f"reference_ops: error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        with (
            resolve_server() as server,
            temporary_database(server) as naive_url,
            temporary_database(server) as optimized_url,
        ):
            version = _server_version(server.url)

            def report(step: str) -> None:
                if not args.json:
                    print(f"  {step}", file=sys.stderr, flush=True)

            measuring = run_reference(
                naive_url, optimized_url, settings, seed=args.seed, progress=report
            )
            try:
                reference = asyncio.run(measuring)
            finally:
                measuring.close()  # never started (Ctrl-C): no "never awaited" warning
    except DatabaseUnavailable as error:
        print(f"reference_ops: error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started

    environment = {
        "database": f"PostgreSQL {version} ({server.source}: {redact(server.url)})",
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "elapsed_s": round(elapsed, 1),
        # The machine is shared: the 1-minute load average says how busy it was.
        "load_average": f"{load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end",
    }
    if args.json:
        document = {"environment": environment, **to_json(reference.result)}
        document["seed_estimates_pct"] = SEED_ESTIMATES_PCT
        document["results_equal"] = dict(reference.results_equal)
        document["checkout_overhead_round_trips"] = dict(reference.checkout_overhead)
        print(json.dumps(document, indent=2))
        return 0

    print(f"database: {environment['database']}")
    print(f"machine:  {environment['machine']}, load average {environment['load_average']}")
    print(f"rows:     {', '.join(f'{t} {n}' for t, n in reference.row_counts)}")
    print()
    sys.stdout.write(render_plain(reference.result))
    print()
    print(seed_comparison(reference))
    print()
    overhead = dict(reference.checkout_overhead)
    print(
        "checkout: each use of a pooled connection costs wire round trips besides its statements:"
        f" naive engine {overhead.get('naive')}, optimized engine {overhead.get('optimized')}"
    )
    unequal = [name for name, equal in reference.results_equal if not equal]
    print(
        "results: naive and optimized "
        + (f"DIFFER for {', '.join(unequal)}" if unequal else "returned identical results")
    )
    print(f"elapsed:  {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
