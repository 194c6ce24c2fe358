"""The reference app's operations as an advisor workload, recorded as they run.

Each operation of ``OPERATIONS`` runs once against a loaded database while
:func:`dbaudit.indexes.workload.recording` records the statements with their parameters;
repeated statements (the N+1 loops) merge into one entry whose ``calls`` counts them. Labels name
the variant and the operation that sent the statement first. Writing operations are restored
afterwards.

A recorded run says how many statements one call of an operation sends, not how often the
operation runs: :data:`OPERATION_FREQUENCY` weighs each operation by how often a render
platform calls it (a profile page is opened far more often than a chain is deleted), so that
the advisor judges a realistic mix. Recording both variants is the workload of a team halfway
through fixing its code: the naive N+1 loops still run somewhere, and the fixed queries (GROUP
BY counts, ROW_NUMBER() per project, recent renders with LIMIT, batched IN lookups, self-joins)
are where composite, sort-direction and partial indexes matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

from dbaudit.indexes.workload import WorkloadQuery, merge, recording

Variant = Literal["naive", "optimized"]

# Calls per operation in one unit of traffic (say, a minute of a busy platform): pages that
# every visit opens run most, a destructive action rarely.
OPERATION_FREQUENCY: Mapping[str, float] = {
    "get_user_projects": 100.0,  # the dashboard
    "get_user_chains_with_renders": 20.0,  # the chain editor
    "get_user_recent_projects": 200.0,  # the sidebar of every page
    "get_profile_stats": 50.0,  # the profile page
    "delete_chain": 1.0,
    "get_render_with_context": 300.0,  # every render page
    "get_user_credits_with_reset": 200.0,  # the credit badge of every page
}


async def record_reference_workload(
    url: str,
    dataset: object,
    variant: Variant = "naive",
    frequency: Mapping[str, float] | None = None,
) -> tuple[WorkloadQuery, ...]:
    """``url``: libpq URL of a database loaded by ``datagen.generate``; ``dataset`` its result.

    Without ``frequency`` every operation runs once per unit; with it, each recorded statement's
    calls are multiplied by its operation's frequency (1 for an operation not listed)."""
    from dbaudit.reference.render_platform import naive, optimized
    from dbaudit.reference.render_platform.operations import OPERATIONS

    module = naive if variant == "naive" else optimized
    engine = module.create_engine(url)
    recorded: list[WorkloadQuery] = []
    try:
        app = module.RenderPlatform(engine)
        for operation in OPERATIONS:
            with recording(engine) as captured:
                await operation.call(app, dataset)  # type: ignore[arg-type]
            weight = frequency.get(operation.name, 1.0) if frequency is not None else 1.0
            label = operation.name if frequency is None else f"{variant}:{operation.name}"
            recorded.extend(
                replace(q, label=label, calls=q.calls * weight) for q in merge(captured)
            )
            if operation.restore is not None:
                await operation.restore(url, dataset)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return merge(recorded)


async def record_mixed_workload(
    url: str,
    dataset: object,
    variants: Sequence[Variant] = ("naive", "optimized"),
    frequency: Mapping[str, float] = OPERATION_FREQUENCY,
) -> tuple[WorkloadQuery, ...]:
    """Both variants' operations, each weighed by ``frequency``, merged into one workload."""
    recorded: list[WorkloadQuery] = []
    for variant in variants:
        recorded.extend(await record_reference_workload(url, dataset, variant, frequency))
    return merge(recorded)
