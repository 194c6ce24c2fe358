"""Deterministic data for the render platform, loaded with COPY.

One user is the *heavy user* the issue describes (50 projects, 200+ renders, a chain of 50
renders, a subscription and credits); the others are drawn at random from ``Scale`` ranges with
a seeded ``random.Random``, so the same seed always gives the same rows and ids.

Rows are produced user by user and copied in batches of users, so a large scale (over a million
renders) never sits in memory at once. Ids are assigned here, in order, so every table's ids are
``1..n`` and the identity sequences are moved past them at the end.

Run ``python -m dbaudit.reference.render_platform.datagen --scale large`` to load a scale into a
fresh database of the resolved server and print what it took (the database is kept and its URL
printed when ``--keep`` is given).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
HEAVY_PROJECTS = 50
HEAVY_LONG_CHAIN_LENGTH = 50
# The heavy user's first projects hold one chain each: the long chain, then one of length 0,
# one of length 1, then short ones; the rest have none.
HEAVY_CHAINED_PROJECTS = 10
# The render of the long chain whose context (parent, reference, chain) the demo looks up.
CONTEXT_CHAIN_POSITION = 25

PLANS: tuple[tuple[int, str, int, int], ...] = (
    (1, "Starter", 100, 900),
    (2, "Pro", 500, 2900),
    (3, "Studio", 2000, 9900),
)
RENDER_TYPES = ("text_to_image", "image_to_image", "upscale", "inpaint", "variation")
STATUS_WEIGHTS = (("completed", 70), ("failed", 8), ("processing", 7), ("pending", 15))
SUBSCRIPTION_STATUSES = (("active", 75), ("canceled", 15), ("past_due", 10))
FREE_ALLOWANCE = 50

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "name", "created_at"),
    "projects": ("id", "user_id", "name", "slug", "created_at", "updated_at"),
    "render_chains": ("id", "project_id", "name", "created_at"),
    "renders": (
        "id",
        "project_id",
        "user_id",
        "chain_id",
        "chain_position",
        "parent_render_id",
        "reference_render_id",
        "type",
        "status",
        "prompt",
        "output_url",
        "created_at",
        "updated_at",
    ),
    "gallery_items": ("id", "render_id", "user_id", "is_public", "created_at"),
    "file_storage": ("id", "user_id", "url", "size_bytes", "created_at"),
    "user_subscriptions": (
        "id",
        "user_id",
        "plan_id",
        "status",
        "current_period_end",
        "created_at",
    ),
    "user_credits": ("id", "user_id", "balance", "monthly_allowance", "last_reset_at"),
    "credit_transactions": (
        "id",
        "user_id",
        "amount",
        "type",
        "reference_type",
        "reference_id",
        "created_at",
    ),
}
# Parents before children, so foreign keys hold row by row within a batch.
LOAD_ORDER: tuple[str, ...] = tuple(TABLE_COLUMNS)
SEQUENCED_TABLES: tuple[str, ...] = (*LOAD_ORDER, "subscription_plans")

Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Scale:
    """How much data: the heavy user is always there; ``users`` ordinary users come on top.

    Ranges are inclusive ``(low, high)`` bounds drawn uniformly per user, project or chain.
    """

    name: str
    users: int
    projects_per_user: tuple[int, int]
    renders_per_project: tuple[int, int]
    chains_per_project: tuple[int, int]
    chain_length: tuple[int, int]
    subscribed_fraction: float = 1.0
    credited_fraction: float = 1.0
    transactions_per_user: tuple[int, int] = (0, 4)
    users_per_batch: int = 2000

    def __post_init__(self) -> None:
        if self.users < 0:
            raise ValueError(f"users must be zero or more, not {self.users}")
        for label in (
            "projects_per_user",
            "renders_per_project",
            "chains_per_project",
            "chain_length",
            "transactions_per_user",
        ):
            low, high = getattr(self, label)
            if not 0 <= low <= high:
                raise ValueError(f"{label} must be 0 <= low <= high, not {(low, high)}")
        for label in ("subscribed_fraction", "credited_fraction"):
            if not 0.0 <= getattr(self, label) <= 1.0:
                raise ValueError(f"{label} must be within 0..1")
        if self.users_per_batch < 1:
            raise ValueError(f"users_per_batch must be at least 1, not {self.users_per_batch}")

    @classmethod
    def demo(cls) -> Scale:
        """The heavy user plus a few dozen ordinary ones; loads in well under a second."""
        return cls(
            name="demo",
            users=30,
            projects_per_user=(0, 6),
            renders_per_project=(0, 8),
            chains_per_project=(0, 2),
            chain_length=(0, 6),
        )

    @classmethod
    def varied(cls) -> Scale:
        """Small, with every edge case: users without projects, subscription or credits."""
        return cls(
            name="varied",
            users=40,
            projects_per_user=(0, 4),
            renders_per_project=(0, 6),
            chains_per_project=(0, 3),
            chain_length=(0, 4),
            subscribed_fraction=0.6,
            credited_fraction=0.8,
        )

    @classmethod
    def large(cls) -> Scale:
        """Over a million renders, for the index work (about 1.1M renders, 200k projects)."""
        return cls(
            name="large",
            users=40_000,
            projects_per_user=(1, 9),
            renders_per_project=(1, 9),
            chains_per_project=(0, 1),
            chain_length=(0, 3),
            transactions_per_user=(0, 2),
        )


@dataclass(frozen=True, slots=True)
class Dataset:
    """What was loaded, and the ids the operations table drives the app with."""

    seed: int
    scale: Scale
    heavy_user_id: int
    long_chain_id: int
    long_chain_project_id: int
    long_chain_name: str
    long_chain_created_at: datetime
    long_chain_render_ids: tuple[int, ...]
    context_render_id: int
    user_ids: range
    project_ids: range
    chain_ids: range
    render_ids: range
    row_counts: tuple[tuple[str, int], ...]

    def count(self, table: str) -> int:
        return dict(self.row_counts)[table]


@dataclass(slots=True)
class _Ids:
    """Next id per table; ids are handed out in generation order."""

    next: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_COLUMNS, 1))

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value

    def used(self, table: str) -> int:
        return self.next[table] - 1


@dataclass(slots=True)
class _Batch:
    rows: dict[str, list[Row]] = field(default_factory=lambda: {t: [] for t in TABLE_COLUMNS})


@dataclass(frozen=True, slots=True)
class _HeavyFacts:
    long_chain_id: int
    long_chain_project_id: int
    long_chain_name: str
    long_chain_created_at: datetime
    long_chain_render_ids: tuple[int, ...]
    context_render_id: int


@dataclass(frozen=True, slots=True)
class _ProjectPlan:
    renders: int
    chain_lengths: tuple[int, ...]


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _heavy_plan(rng: random.Random) -> list[_ProjectPlan]:
    """50 projects: the long chain in the first, chains of length 0 and 1 in the next two, a few
    short chains after, and the last two projects empty."""
    plans = []
    for index in range(HEAVY_PROJECTS):
        renders = rng.randint(2, 8) if index < HEAVY_PROJECTS - 2 else 0
        if index == 0:
            chains: tuple[int, ...] = (HEAVY_LONG_CHAIN_LENGTH,)
        elif index == 1:
            chains = (0,)
        elif index == 2:
            chains = (1,)
        elif index < HEAVY_CHAINED_PROJECTS:
            chains = (rng.randint(2, 5),)
        else:
            chains = ()
        plans.append(_ProjectPlan(renders=renders, chain_lengths=chains))
    return plans


def _ordinary_plan(rng: random.Random, scale: Scale) -> list[_ProjectPlan]:
    return [
        _ProjectPlan(
            renders=rng.randint(*scale.renders_per_project),
            chain_lengths=tuple(
                rng.randint(*scale.chain_length)
                for _ in range(rng.randint(*scale.chains_per_project))
            ),
        )
        for _ in range(rng.randint(*scale.projects_per_user))
    ]


def _render_row(
    rng: random.Random,
    ids: _Ids,
    *,
    user_id: int,
    project_id: int,
    created_at: datetime,
    chain: tuple[int, int] | None,
    parent_id: int | None,
    reference_id: int | None,
) -> Row:
    render_id = ids.take("renders")
    status = _weighted(rng, STATUS_WEIGHTS)
    subject = rng.choice(("a lighthouse", "a red fox", "a city at night", "a bowl of fruit"))
    style = rng.choice(("watercolor", "35mm photo", "isometric", "oil painting"))
    output_url = f"https://cdn.example.com/r/{render_id}.png" if status == "completed" else None
    updated_at = created_at + timedelta(seconds=rng.randint(1, 90))
    chain_id, position = chain if chain is not None else (None, None)
    return (
        render_id,
        project_id,
        user_id,
        chain_id,
        position,
        parent_id,
        reference_id,
        rng.choice(RENDER_TYPES),
        status,
        f"{subject}, {style}",
        output_url,
        created_at,
        updated_at,
    )


def _user_rows(
    rng: random.Random,
    ids: _Ids,
    batch: _Batch,
    scale: Scale,
    *,
    heavy: bool,
) -> _HeavyFacts | None:
    """Append one user's rows to ``batch``; for the heavy user, return the ids the demo needs."""
    user_id = ids.take("users")
    joined = BASE_TIME + timedelta(hours=user_id % 5000, minutes=rng.randint(0, 59))
    batch.rows["users"].append((user_id, f"user{user_id}@example.com", f"User {user_id}", joined))
    clock = joined
    first_render_row = len(batch.rows["renders"])
    user_renders: list[int] = []
    facts: _HeavyFacts | None = None
    plans = _heavy_plan(rng) if heavy else _ordinary_plan(rng, scale)
    for plan in plans:
        project_id = ids.take("projects")
        project_created = clock = clock + timedelta(minutes=rng.randint(1, 600))
        project_renders: list[int] = []
        renders = batch.rows["renders"]
        for _ in range(plan.renders):
            clock += timedelta(seconds=rng.randint(5, 3600))
            parent = rng.choice(project_renders) if project_renders and rng.random() < 0.3 else None
            reference = rng.choice(user_renders) if user_renders and rng.random() < 0.2 else None
            row = _render_row(
                rng,
                ids,
                user_id=user_id,
                project_id=project_id,
                created_at=clock,
                chain=None,
                parent_id=parent,
                reference_id=reference,
            )
            renders.append(row)
            project_renders.append(row[0])  # type: ignore[arg-type]
            user_renders.append(row[0])  # type: ignore[arg-type]
        for chain_number, length in enumerate(plan.chain_lengths, start=1):
            chain_id = ids.take("render_chains")
            clock += timedelta(minutes=rng.randint(1, 120))
            chain_created = clock
            chain_name = f"Chain {chain_number} of project {project_id}"
            batch.rows["render_chains"].append((chain_id, project_id, chain_name, chain_created))
            chain_renders: list[int] = []
            # The chain's style reference is an earlier render of the user, when there is one.
            reference = user_renders[0] if user_renders else None
            for position in range(length):
                clock += timedelta(seconds=rng.randint(5, 600))
                row = _render_row(
                    rng,
                    ids,
                    user_id=user_id,
                    project_id=project_id,
                    created_at=clock,
                    chain=(chain_id, position),
                    parent_id=chain_renders[-1] if chain_renders else None,
                    reference_id=reference,
                )
                renders.append(row)
                chain_renders.append(row[0])  # type: ignore[arg-type]
            user_renders.extend(chain_renders)
            if heavy and length == HEAVY_LONG_CHAIN_LENGTH and facts is None:
                facts = _HeavyFacts(
                    long_chain_id=chain_id,
                    long_chain_project_id=project_id,
                    long_chain_name=chain_name,
                    long_chain_created_at=chain_created,
                    long_chain_render_ids=tuple(chain_renders),
                    context_render_id=chain_renders[CONTEXT_CHAIN_POSITION],
                )
        updated = clock if plan.renders or plan.chain_lengths else project_created
        batch.rows["projects"].append(
            (
                project_id,
                user_id,
                f"Project {project_id}",
                f"u{user_id}-p{project_id}",
                project_created,
                updated,
            )
        )
    own_renders = batch.rows["renders"][first_render_row:]
    _user_extras(rng, ids, batch, scale, own_renders, user_id=user_id, heavy=heavy, since=joined)
    return facts


def _user_extras(
    rng: random.Random,
    ids: _Ids,
    batch: _Batch,
    scale: Scale,
    own_renders: list[Row],
    *,
    user_id: int,
    heavy: bool,
    since: datetime,
) -> None:
    """Gallery entries and files for completed renders, subscription, credits, transactions."""
    for render in own_renders:
        if render[8] != "completed":
            continue
        created = render[11]
        assert isinstance(created, datetime)
        batch.rows["file_storage"].append(
            (
                ids.take("file_storage"),
                user_id,
                render[10],
                rng.randint(200_000, 8_000_000),
                created,
            )
        )
        if rng.random() < 0.3:
            batch.rows["gallery_items"].append(
                (ids.take("gallery_items"), render[0], user_id, rng.random() < 0.5, created)
            )
    plan_id: int | None = None
    if heavy or rng.random() < scale.subscribed_fraction:
        plan_id = rng.choice(PLANS)[0]
        status = "active" if heavy else _weighted(rng, SUBSCRIPTION_STATUSES)
        if rng.random() < 0.3:
            # An older, ended subscription: the "active" filter has something to skip.
            batch.rows["user_subscriptions"].append(
                (ids.take("user_subscriptions"), user_id, 1, "canceled", since, since)
            )
        period_end = BASE_TIME + timedelta(days=rng.randint(20, 400))
        batch.rows["user_subscriptions"].append(
            (ids.take("user_subscriptions"), user_id, plan_id, status, period_end, since)
        )
    if heavy or rng.random() < scale.credited_fraction:
        allowance = PLANS[plan_id - 1][2] if plan_id is not None else FREE_ALLOWANCE
        batch.rows["user_credits"].append(
            (
                ids.take("user_credits"),
                user_id,
                rng.randint(0, allowance),
                allowance,
                BASE_TIME + timedelta(days=rng.randint(0, 300)),
            )
        )
    for _ in range(rng.randint(*scale.transactions_per_user)):
        kind = rng.choice(("render", "monthly_reset", "purchase"))
        batch.rows["credit_transactions"].append(
            (
                ids.take("credit_transactions"),
                user_id,
                -rng.randint(1, 10) if kind == "render" else rng.randint(50, 500),
                kind,
                "render" if kind == "render" else None,
                None,
                since + timedelta(days=rng.randint(0, 300)),
            )
        )


def _batches(scale: Scale, seed: int, ids: _Ids) -> Iterator[tuple[_Batch, _HeavyFacts | None]]:
    rng = random.Random(seed)
    total = scale.users + 1
    for start in range(0, total, scale.users_per_batch):
        batch = _Batch()
        facts = None
        for index in range(start, min(total, start + scale.users_per_batch)):
            found = _user_rows(rng, ids, batch, scale, heavy=index == 0)
            facts = facts or found
        yield batch, facts


async def _copy_batch(connection: asyncpg.Connection, batch: _Batch) -> None:
    for table in LOAD_ORDER:
        rows = batch.rows[table]
        if rows:
            await connection.copy_records_to_table(
                table, records=rows, columns=list(TABLE_COLUMNS[table])
            )


async def generate(
    url: str, scale: Scale, seed: int = 0, *, skip_foreign_key_checks: bool = False
) -> Dataset:
    """Load ``scale`` into the (empty) render platform tables at ``url``; same seed, same rows.

    ``skip_foreign_key_checks`` (honoured for superusers only) cuts a large load by about 60%:
    the generator only ever points at rows it has already emitted, which the tests check by
    loading with the checks on.
    """
    connection = await asyncpg.connect(url)
    try:
        if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
            raise ValueError("the users table is not empty; generate into a fresh schema")
        ids = _Ids()
        heavy: _HeavyFacts | None = None
        async with connection.transaction():
            if skip_foreign_key_checks and await connection.fetchval(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ):
                # Foreign key checks are triggers; replica mode skips them for this transaction.
                await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.copy_records_to_table(
                "subscription_plans",
                records=list(PLANS),
                columns=["id", "name", "credits_per_month", "price_cents"],
            )
            for batch, facts in _batches(scale, seed, ids):
                heavy = heavy or facts
                await _copy_batch(connection, batch)
            for table in SEQUENCED_TABLES:
                # Rows came with their ids, so move each identity past them.
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE(max(id), 0) + 1, false) FROM {table}"
                )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    assert heavy is not None, "the heavy user always has the long chain"
    return Dataset(
        seed=seed,
        scale=scale,
        heavy_user_id=1,
        long_chain_id=heavy.long_chain_id,
        long_chain_project_id=heavy.long_chain_project_id,
        long_chain_name=heavy.long_chain_name,
        long_chain_created_at=heavy.long_chain_created_at,
        long_chain_render_ids=heavy.long_chain_render_ids,
        context_render_id=heavy.context_render_id,
        user_ids=range(1, ids.used("users") + 1),
        project_ids=range(1, ids.used("projects") + 1),
        chain_ids=range(1, ids.used("render_chains") + 1),
        render_ids=range(1, ids.used("renders") + 1),
        row_counts=(
            ("subscription_plans", len(PLANS)),
            *((table, ids.used(table)) for table in LOAD_ORDER),
        ),
    )


async def restore_long_chain(url: str, dataset: Dataset) -> None:
    """Put the long chain back after ``delete_chain`` removed it (benchmarks repeat that write)."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO render_chains (id, project_id, name, created_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                dataset.long_chain_id,
                dataset.long_chain_project_id,
                dataset.long_chain_name,
                dataset.long_chain_created_at,
            )
            await connection.execute(
                "UPDATE renders SET chain_id = $1, chain_position = member.position - 1 "
                "FROM unnest($2::bigint[]) WITH ORDINALITY AS member(render_id, position) "
                "WHERE renders.id = member.render_id",
                dataset.long_chain_id,
                list(dataset.long_chain_render_ids),
            )
    finally:
        await connection.close()


SCALES = {"demo": Scale.demo, "varied": Scale.varied, "large": Scale.large}


async def _load_and_report(scale_name: str, seed: int, keep: bool, variant: str) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from dbaudit.db import redact, resolve_server, sqlalchemy_url, temporary_database
    from dbaudit.reference.render_platform.schema import create_indexes, create_schema

    with resolve_server() as server, temporary_database(server) as url:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            await create_schema(engine, "naive")
            started = time.perf_counter()
            dataset = await generate(
                url, SCALES[scale_name](), seed, skip_foreign_key_checks=scale_name == "large"
            )
            loaded = time.perf_counter() - started
            indexed = 0.0
            if variant == "optimized":
                started = time.perf_counter()
                await create_indexes(engine)
                indexed = time.perf_counter() - started
        finally:
            await engine.dispose()
        counts = ", ".join(f"{table} {count:,}" for table, count in dataset.row_counts)
        print(f"scale {scale_name} (seed {seed}) on {server.source} server: {counts}")
        print(f"loaded with COPY in {loaded:.1f} s; optimized indexes built in {indexed:.1f} s")
        if keep:
            print(f"kept: {redact(url)} (drop it when done)")
            await asyncio.Event().wait()  # keeps the database until interrupted
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load render platform data and time it.")
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=("naive", "optimized"), default="optimized")
    parser.add_argument("--keep", action="store_true", help="keep the database until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_load_and_report(args.scale, args.seed, args.keep, args.variant))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one line, never a traceback, for a command-line tool
        print(f"datagen: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
