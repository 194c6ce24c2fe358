"""Snapshot and restore of the tables a write operation changes, on a real PostgreSQL."""

from __future__ import annotations

import asyncpg

from dbaudit.bench.proxy import DelayProxy, target_from_url
from dbaudit.bench.reference import (
    SNAPSHOT_SCHEMA,
    Restorer,
    load_reference,
    restore_script,
    snapshot_tables,
)
from dbaudit.db import PostgresServer, temporary_database

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
        restore = Restorer(fresh_pg_url, ("parent", "child"))

        await connection.execute("DELETE FROM child WHERE parent_id = 2")
        await connection.execute("DELETE FROM parent WHERE id = 2")
        await connection.execute("UPDATE parent SET name = 'changed' WHERE id = 1")
        await connection.execute("INSERT INTO parent VALUES (9, 'new')")
        await connection.execute("INSERT INTO child VALUES (4, 9, 1)")
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
        await restore.close()
        await connection.close()


def test_restore_script_orders_inserts_parents_first_and_deletes_children_first() -> None:
    script = restore_script({"parent": ["id", "name"], "child": ["id", "parent_id"]})
    statements = script.split(";\n")
    assert [statement.split()[0] for statement in statements] == [
        "INSERT",
        "INSERT",
        "UPDATE",
        "UPDATE",
        "DELETE",
        "DELETE",
    ]
    assert "public.parent" in statements[0] and "public.child" in statements[1]
    assert "public.child" in statements[4] and "public.parent" in statements[5]
    assert "SET (id, name) = (s.id, s.name)" in statements[2]


async def _differing_tables(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            SNAPSHOT_SCHEMA,
        )
        differing = []
        for (table,) in tables:
            changed = await connection.fetchval(
                f"SELECT count(*) FROM ((TABLE public.{table} EXCEPT ALL "
                f"TABLE {SNAPSHOT_SCHEMA}.{table}) UNION ALL (TABLE {SNAPSHOT_SCHEMA}.{table} "
                f"EXCEPT ALL TABLE public.{table})) d"
            )
            if changed:
                differing.append(table)
        return sorted(differing)
    finally:
        await connection.close()


async def test_every_write_case_leaves_the_reference_data_as_loaded(
    pg_server: PostgresServer,
) -> None:
    with temporary_database(pg_server) as naive_url, temporary_database(pg_server) as opt_url:
        async with (
            DelayProxy(target_from_url(naive_url)) as proxy,
            load_reference(naive_url, opt_url, proxy.port) as loaded,
        ):
            # Loading compared one call of every operation, writes restored after each.
            assert all(equal for _, equal in loaded.results_equal)
            writes = [case for case in loaded.cases if case.writes]
            assert writes, "the operations table has a write operation"
            for case in writes:
                for side in (case.before, case.after):
                    await side.call()
                assert await _differing_tables(naive_url) != []
                for side in (case.before, case.after):
                    assert side.restore is not None
                    await side.restore()
            assert await _differing_tables(naive_url) == []
            assert await _differing_tables(opt_url) == []
