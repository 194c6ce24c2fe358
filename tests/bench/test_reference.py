"""Snapshot and restore of the tables a write operation changes, on a real PostgreSQL."""

from __future__ import annotations

import asyncpg

from dbaudit.bench.reference import SNAPSHOT_SCHEMA, restorer, snapshot_tables

SCHEMA = """
CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE child (
    id int PRIMARY KEY,
    parent_id int NOT NULL REFERENCES parent (id),
    previous_id int REFERENCES child (id)
);
INSERT INTO parent VALUES (1, 'a'), (2, 'b');
INSERT INTO child VALUES (1, 1, NULL), (2, 1, 1), (3, 2, 2);
"""


async def _rows(connection: asyncpg.Connection) -> list[tuple[object, ...]]:
    rows = await connection.fetch(
        "SELECT p.id, p.name, c.id, c.previous_id FROM parent p "
        "LEFT JOIN child c ON c.parent_id = p.id ORDER BY p.id, c.id"
    )
    return [tuple(row) for row in rows]


async def test_restore_puts_back_deleted_and_changed_rows(fresh_pg_url: str) -> None:
    connection = await asyncpg.connect(fresh_pg_url)
    try:
        await connection.execute(SCHEMA)
        original = await _rows(connection)
        await snapshot_tables(fresh_pg_url, ("parent", "child"))
        restore = restorer(fresh_pg_url, ("parent", "child"))

        await connection.execute("DELETE FROM child WHERE parent_id = 2")
        await connection.execute("DELETE FROM parent WHERE id = 2")
        await connection.execute("UPDATE parent SET name = 'changed' WHERE id = 1")
        await connection.execute("INSERT INTO parent VALUES (9, 'new')")
        assert await _rows(connection) != original

        await restore()
        assert await _rows(connection) == original
        await restore()  # idempotent: restoring unchanged tables changes nothing
        assert await _rows(connection) == original
        snapshot_tables_found = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            SNAPSHOT_SCHEMA,
        )
        assert snapshot_tables_found == 2
    finally:
        await connection.close()
