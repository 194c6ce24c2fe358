"""An asyncio TCP proxy that puts a one-way delay on each direction of every connection.

The kernels we run on have no ``netem``, so a networked database is imitated in user space:
every chunk read from one side is held for ``delay_s`` before it is written to the other side.
Chunks are timestamped on arrival and released in order by a separate writer task, so the delay
is a latency (it does not add up when several chunks are in flight), which is how a network
link behaves.

The proxy also counts *round trips* on the wire: a round trip starts each time the client sends
after the server has spoken (or for the first time on a connection). That is the number of
times a client waited for the network, whatever the driver does underneath (``BEGIN``,
prepare, pre-ping, ``COMMIT``), so it explains the latency the benchmark measures.

Upstream is a TCP ``host:port`` or a unix socket path (the embedded ``pgserver`` listens only
on a unix socket); the proxy itself always listens on TCP 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import make_url

from dbaudit.db.harness import libpq_url

CHUNK_BYTES = 65536
LISTEN_HOST = "127.0.0.1"
DEFAULT_PG_PORT = 5432


@dataclass(frozen=True, slots=True)
class TcpTarget:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class UnixTarget:
    path: str


Target = TcpTarget | UnixTarget


def target_from_url(url: str) -> Target:
    """Where the server of a libpq URL listens: ``?host=/dir`` means a unix socket in ``/dir``.

    >>> target_from_url("postgresql://postgres@127.0.0.1:5433/test")
    TcpTarget(host='127.0.0.1', port=5433)
    >>> target_from_url("postgresql://postgres:@/postgres?host=/tmp/x")
    UnixTarget(path='/tmp/x/.s.PGSQL.5432')
    """
    parts = urlsplit(url)
    query_host = parse_qs(parts.query).get("host", [None])[0]
    host = query_host or parts.hostname or "localhost"
    port = parts.port or int(parse_qs(parts.query).get("port", [DEFAULT_PG_PORT])[0])
    if host.startswith("/"):
        return UnixTarget(os.path.join(host, f".s.PGSQL.{port}"))
    return TcpTarget(host, port)


def url_through_proxy(url: str, port: int) -> str:
    """The same libpq URL (user, password, database, options) pointed at the proxy's TCP port."""
    parsed = make_url(url)
    query = {key: value for key, value in parsed.query.items() if key not in ("host", "port")}
    return libpq_url(parsed.set(host=LISTEN_HOST, port=port, query=query))


@dataclass(slots=True)
class WireCounts:
    """What crossed the proxy; ``round_trips`` counts client turns after a server reply."""

    connections: int = 0
    round_trips: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    # Chunks that were held back for a non-zero delay before being passed on.
    held_chunks: int = 0

    def snapshot(self) -> WireSnapshot:
        return WireSnapshot(
            self.connections, self.round_trips, self.bytes_up, self.bytes_down, self.held_chunks
        )


@dataclass(frozen=True, slots=True)
class WireSnapshot:
    connections: int
    round_trips: int
    bytes_up: int
    bytes_down: int
    held_chunks: int

    def __sub__(self, other: WireSnapshot) -> WireSnapshot:
        return WireSnapshot(
            self.connections - other.connections,
            self.round_trips - other.round_trips,
            self.bytes_up - other.bytes_up,
            self.bytes_down - other.bytes_down,
            self.held_chunks - other.held_chunks,
        )


@dataclass(slots=True)
class _Conversation:
    """Per-connection state: who spoke last decides whether a client send opens a round trip."""

    server_spoke_last: bool = True


@dataclass(slots=True)
class DelayProxy:
    """``async with DelayProxy(target, delay_s=0.001) as proxy: connect to proxy.port``.

    ``delay_s`` is the one-way delay of both directions; ``upstream_delay_s`` (client to server)
    or ``downstream_delay_s`` (server to client) override it for one direction. All may be
    changed while the proxy runs; a change applies to chunks arriving afterwards.
    """

    target: Target
    delay_s: float = 0.0
    upstream_delay_s: float | None = None
    downstream_delay_s: float | None = None
    counts: WireCounts = field(default_factory=WireCounts)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._accept, LISTEN_HOST, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self._server = None

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self.target, UnixTarget):
            return await asyncio.open_unix_connection(self.target.path)
        return await asyncio.open_connection(self.target.host, self.target.port)

    async def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                server_reader, server_writer = await self._open_upstream()
            except OSError:
                client_writer.close()
                return
            self.counts.connections += 1
            conversation = _Conversation()
            pumps = (
                asyncio.create_task(
                    self._pump(client_reader, server_writer, conversation, upstream=True)
                ),
                asyncio.create_task(
                    self._pump(server_reader, client_writer, conversation, upstream=False)
                ),
            )
            try:
                # Either side closing ends the conversation for both.
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                for writer in (client_writer, server_writer):
                    writer.close()
        except asyncio.CancelledError:
            # Cancelled by __aexit__: the handler ends here (asyncio's stream callback would
            # report a cancelled handler task as an unhandled error).
            return
        finally:
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conversation: _Conversation,
        *,
        upstream: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        # (delay, release time, data); None marks end of stream.
        queue: asyncio.Queue[tuple[float, float, bytes] | None] = asyncio.Queue()
        writer_task = asyncio.create_task(self._release(queue, writer))
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                self._record(data, conversation, upstream=upstream)
                delay = self._delay(upstream=upstream)
                queue.put_nowait((delay, loop.time() + delay, data))
            queue.put_nowait(None)
            await writer_task
        finally:
            writer_task.cancel()
            await asyncio.gather(writer_task, return_exceptions=True)

    def _delay(self, *, upstream: bool) -> float:
        override = self.upstream_delay_s if upstream else self.downstream_delay_s
        return self.delay_s if override is None else override

    def _record(self, data: bytes, conversation: _Conversation, *, upstream: bool) -> None:
        if upstream:
            self.counts.bytes_up += len(data)
            if conversation.server_spoke_last:
                self.counts.round_trips += 1
            conversation.server_spoke_last = False
        else:
            self.counts.bytes_down += len(data)
            conversation.server_spoke_last = True

    async def _release(
        self, queue: asyncio.Queue[tuple[float, float, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while (item := await queue.get()) is not None:
            delay, release_at, data = item
            wait = release_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if delay > 0:
                self.counts.held_chunks += 1
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
