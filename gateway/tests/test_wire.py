"""Frames written to one connection in one loop turn leave in one socket write, in order,
and a close sends what was written before it. Over a real loopback TCP connection; the
only stand-in is a counter wrapped around the real transport's ``write``."""

from __future__ import annotations

import asyncio
from typing import Any

from spectrus_gateway.wire import _JoinedWrites


class _Counting:
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _connected() -> tuple[asyncio.StreamReader, asyncio.Transport, asyncio.Server]:
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await accepted.put(reader)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(
        asyncio.Protocol, "127.0.0.1", port
    )
    return await accepted.get(), transport, server


async def test_one_turns_writes_leave_as_one_and_in_order() -> None:
    reader, transport, server = await _connected()
    counted = _Counting(transport)
    joined = _JoinedWrites(counted, asyncio.get_running_loop())  # type: ignore[arg-type]
    for part in (b"one ", b"two ", b"three "):
        joined.write(part)
    assert counted.writes == 0  # nothing yet: the turn is not over
    assert await reader.readexactly(14) == b"one two three "
    assert counted.writes == 1
    joined.write(b"later ")  # a new turn, a new write
    assert await reader.readexactly(6) == b"later "
    assert counted.writes == 2
    joined.write(b"last words")
    joined.close()  # flushes first
    assert await reader.read() == b"last words"
    server.close()
    await server.wait_closed()
