"""The reference app's operations as an advisor workload, recorded as they run.

Each operation of ``OPERATIONS`` runs once against a loaded database (naive variant by default)
while :func:`dbaudit.indexes.workload.recording` records the statements with their parameters;
repeated statements (the N+1 loops) merge into one entry whose ``calls`` counts them. Labels name
the operation that sent the statement first. Writing operations are restored afterwards.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from dbaudit.indexes.workload import WorkloadQuery, merge, recording


async def record_reference_workload(
    url: str, dataset: object, variant: Literal["naive", "optimized"] = "naive"
) -> tuple[WorkloadQuery, ...]:
    """``url``: libpq URL of a database loaded by ``datagen.generate``; ``dataset`` its result."""
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
            recorded.extend(replace(q, label=operation.name) for q in captured)
            if operation.restore is not None:
                await operation.restore(url, dataset)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return merge(recorded)
