"""The gateway's WebSocket protocol under uvicorn: uvicorn's own (``websockets`` sans-I/O),
with the frames written to one connection in one turn of the event loop joined into one
socket write.

An event reaches a session as one frame, and the hub hands a batch of events to all its
sessions at once, so a session often has several frames to send together. Written one by
one, each frame is a ``send()`` system call, and on a busy gateway those calls are most of
its CPU (a third of it in the load tests: the kernel's work for each small packet). Joined,
a session's frames of one turn cost one call. Nothing waits longer than that turn: the
joined write goes out as soon as the loop has run what was ready.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class _JoinedWrites:
    """A transport whose writes of one loop turn go out as one; the rest is the real one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._transport.write(data)

    def close(self) -> None:
        self.flush()  # a close frame written just before goes out first
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol writing through ``_JoinedWrites``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        joined = _JoinedWrites(transport, asyncio.get_running_loop())
        super().connection_made(joined)  # type: ignore[arg-type]
