"""The delay proxy: forwards to TCP and unix sockets, holds every chunk, counts round trips.

Tests count round trips and held chunks; they never assert on wall-clock time.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from dbaudit.bench.proxy import (
    DelayProxy,
    TcpTarget,
    UnixTarget,
    target_from_url,
    url_through_proxy,
)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data.upper())
        await writer.drain()
    writer.close()


async def _talk(port: int, messages: list[bytes]) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = []
    for message in messages:
        writer.write(message)
        await writer.drain()
        replies.append(await reader.readexactly(len(message)))
    writer.close()
    await writer.wait_closed()
    return replies


@pytest.fixture()
async def tcp_echo() -> AsyncIterator[TcpTarget]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    yield TcpTarget("127.0.0.1", server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


@pytest.fixture()
async def unix_echo() -> AsyncIterator[UnixTarget]:
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "echo.sock")
        server = await asyncio.start_unix_server(_echo, path)
        yield UnixTarget(path)
        server.close()
        await server.wait_closed()


async def test_tcp_target_forwards_both_ways_and_counts_each_exchange(tcp_echo: TcpTarget) -> None:
    async with DelayProxy(tcp_echo, delay_s=0.001) as proxy:
        replies = await _talk(proxy.port, [b"one", b"two", b"three"])
    assert replies == [b"ONE", b"TWO", b"THREE"]
    assert proxy.counts.connections == 1
    assert proxy.counts.round_trips == 3
    assert proxy.counts.bytes_up == proxy.counts.bytes_down == len(b"onetwothree")


async def test_unix_target_forwards(unix_echo: UnixTarget) -> None:
    async with DelayProxy(unix_echo, delay_s=0.001) as proxy:
        replies = await _talk(proxy.port, [b"ping"] * 4)
    assert replies == [b"PING"] * 4
    assert proxy.counts.round_trips == 4


async def test_every_chunk_is_held_when_a_delay_is_set(tcp_echo: TcpTarget) -> None:
    async with DelayProxy(tcp_echo, delay_s=0.001) as proxy:
        await _talk(proxy.port, [b"a", b"b"])
        # Each exchange is one chunk up and one chunk down, both held.
        assert proxy.counts.held_chunks == 4
        proxy.delay_s = 0.0
        await _talk(proxy.port, [b"c", b"d"])
    assert proxy.counts.held_chunks == 4
    assert proxy.counts.round_trips == 4


async def test_each_direction_can_have_its_own_delay(tcp_echo: TcpTarget) -> None:
    async with DelayProxy(tcp_echo, upstream_delay_s=0.001) as proxy:
        await _talk(proxy.port, [b"a", b"b", b"c"])
        assert proxy.counts.held_chunks == 3  # only the client's chunks were held
        proxy.upstream_delay_s, proxy.downstream_delay_s = 0.0, 0.001
        await _talk(proxy.port, [b"d", b"e"])
    assert proxy.counts.held_chunks == 5  # then only the server's


async def test_unreachable_upstream_closes_the_client_connection() -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with DelayProxy(UnixTarget(str(Path(directory) / "absent.sock"))) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            assert await reader.read() == b""
            writer.close()
    assert proxy.counts.connections == 0


async def test_postgres_statements_cross_the_proxy_one_round_trip_each(pg_url: str) -> None:
    async with DelayProxy(target_from_url(pg_url), delay_s=0.001) as proxy:
        connection = await asyncpg.connect(url_through_proxy(pg_url, proxy.port))
        try:
            await connection.fetchval("SELECT 1")  # prepares and caches the statement
            before = proxy.counts.snapshot()
            for _ in range(7):
                assert await connection.fetchval("SELECT 1") == 1
            during = proxy.counts.snapshot() - before
        finally:
            await connection.close()
    assert during.round_trips == 7
    assert during.held_chunks >= 14  # at least one chunk each way per round trip


def test_target_from_tcp_url() -> None:
    assert target_from_url("postgresql://u:p@db.example:6543/app") == TcpTarget("db.example", 6543)
    assert target_from_url("postgresql://u@localhost/app") == TcpTarget("localhost", 5432)


def test_target_from_unix_socket_url() -> None:
    url = "postgresql://postgres:@/dbaudit_x?host=%2Ftmp%2Fdbaudit-pg-1"
    assert target_from_url(url) == UnixTarget("/tmp/dbaudit-pg-1/.s.PGSQL.5432")


def test_url_through_proxy_keeps_credentials_and_database_and_drops_the_socket() -> None:
    url = "postgresql://postgres:secret@/appdb?host=%2Ftmp%2Fx&application_name=demo"
    proxied = url_through_proxy(url, 40001)
    assert proxied == "postgresql://postgres:secret@127.0.0.1:40001/appdb?application_name=demo"
