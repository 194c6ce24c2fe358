"""The operations of issue 3 as data: what to call, and how many round trips each variant makes.

Benchmarks, the demo and the runtime profiler's acceptance tests all drive the app through
``OPERATIONS``. Round trips are statements sent through SQLAlchemy's cursor (what its
``before_cursor_execute`` event sees) for the heavy user of any ``Scale``; the counts follow from
the heavy user's fixed shape in ``datagen`` and the tests measure them exactly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dbaudit.reference.render_platform.datagen import (
    HEAVY_CHAINED_PROJECTS,
    HEAVY_LONG_CHAIN_LENGTH,
    HEAVY_PROJECTS,
    Dataset,
    restore_long_chain,
)
from dbaudit.reference.render_platform.results import RenderPlatformAPI

RECENT_PROJECTS_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    call: Callable[[RenderPlatformAPI, Dataset], Awaitable[object]]
    naive_round_trips: int
    optimized_round_trips: int
    writes: bool
    naive_shape: str
    optimized_shape: str
    fix: str
    # Puts back what a writing operation changed (given the libpq URL), so it can run again.
    restore: Callable[[str, Dataset], Awaitable[None]] | None = None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        name="get_user_projects",
        call=lambda app, data: app.get_user_projects(data.heavy_user_id),
        naive_round_trips=1 + HEAVY_PROJECTS,
        optimized_round_trips=2,
        writes=False,
        naive_shape="1 + N (a query per project)",
        optimized_shape="2",
        fix="GROUP BY count; ROW_NUMBER() window for the latest 4 per project",
    ),
    Operation(
        name="get_user_chains_with_renders",
        call=lambda app, data: app.get_user_chains_with_renders(data.heavy_user_id),
        naive_round_trips=1 + HEAVY_PROJECTS + HEAVY_CHAINED_PROJECTS,
        optimized_round_trips=3,
        writes=False,
        naive_shape="1 + N + N*M (per project, then per chain)",
        optimized_shape="3",
        fix="three batched IN queries, grouped in Python",
    ),
    Operation(
        name="get_user_recent_projects",
        call=lambda app, data: app.get_user_recent_projects(
            data.heavy_user_id, RECENT_PROJECTS_LIMIT
        ),
        naive_round_trips=1 + RECENT_PROJECTS_LIMIT,
        optimized_round_trips=2,
        writes=False,
        naive_shape="1 + N (per-project loop)",
        optimized_shape="2",
        fix="reuses the batched project queries",
    ),
    Operation(
        name="get_profile_stats",
        call=lambda app, data: app.get_profile_stats(data.heavy_user_id),
        naive_round_trips=5,
        optimized_round_trips=4,
        writes=False,
        naive_shape="5 sequential (total counted from fetched rows)",
        optimized_shape="4 concurrent",
        fix="asyncio.gather on separate sessions; total from the per-project counts",
    ),
    Operation(
        name="delete_chain",
        call=lambda app, data: app.delete_chain(data.long_chain_id),
        naive_round_trips=2 + HEAVY_LONG_CHAIN_LENGTH,
        optimized_round_trips=1,
        writes=True,
        naive_shape="2 + N (an UPDATE and a COMMIT per render; not atomic)",
        optimized_shape="1 (atomic)",
        fix="one statement: UPDATE and DELETE as data-modifying CTEs",
        restore=restore_long_chain,
    ),
    Operation(
        name="get_render_with_context",
        call=lambda app, data: app.get_render_with_context(data.context_render_id),
        naive_round_trips=4,
        optimized_round_trips=1,
        writes=False,
        naive_shape="up to 4 sequential lookups",
        optimized_shape="1",
        fix="LEFT JOINs on self-join aliases",
    ),
    Operation(
        name="get_user_credits_with_reset",
        call=lambda app, data: app.get_user_credits_with_reset(data.heavy_user_id),
        naive_round_trips=2,
        optimized_round_trips=1,
        writes=False,
        naive_shape="2",
        optimized_shape="1",
        fix="LEFT JOINs to the latest active subscription and its plan",
    ),
)


def operation(name: str) -> Operation:
    for candidate in OPERATIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no operation named {name!r}")
