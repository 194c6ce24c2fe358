"""Count the SQL statements an engine sends, from SQLAlchemy's own cursor events.

This is the application's view (one per ``cursor.execute``/``executemany``), the count the issue's
operations table states (``51`` vs ``2``). The wire view, which also sees ``BEGIN``, prepares,
pre-pings and ``COMMIT``, is :class:`dbaudit.bench.proxy.WireCounts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(slots=True)
class StatementCounter:
    statements: int = 0
    executemany_rows: int = 0

    def on_execute(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        self.statements += 1
        if executemany:
            self.executemany_rows += len(parameters)


@contextmanager
def count_statements(engine: AsyncEngine | Engine) -> Iterator[StatementCounter]:
    """Count every statement ``engine`` executes inside the block (all its pooled connections)."""
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    counter = StatementCounter()
    event.listen(sync_engine, "before_cursor_execute", counter.on_execute)
    try:
        yield counter
    finally:
        event.remove(sync_engine, "before_cursor_execute", counter.on_execute)
