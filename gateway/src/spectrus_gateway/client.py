"""A small gateway client: identify or resume, heartbeat, collect dispatches.

For tests, benchmarks and load generators that need many connections cheaply (discord.py
is the compatibility check; this is the workhorse). It speaks plain JSON or either
transport compression and keeps ``session_id`` and ``seq`` so it can resume elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets
import zstandard
from websockets.asyncio.client import ClientConnection


@dataclass
class Dispatch:
    seq: int
    event: str
    data: Any


class GatewayClosed(Exception):  # noqa: N818 - the server's answer, not our failure
    def __init__(self, code: int) -> None:
        super().__init__(f"gateway closed the connection with {code}")
        self.code = code


@dataclass
class GatewayClient:
    url: str
    token: str
    intents: int = (1 << 26) - 1
    compress: str | None = None
    session_id: str | None = None
    user_id: str | None = None  # from READY
    seq: int = 0
    dispatches: asyncio.Queue[Dispatch] = field(default_factory=asyncio.Queue)
    closed: asyncio.Future[int] | None = None
    invalid_session: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: ClientConnection | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def identify(self) -> Dispatch:
        """Connect and identify; returns READY."""
        await self._connect()
        await self._send(
            {
                "op": 2,
                "d": {"token": self.token, "intents": self.intents, "properties": {"os": "test"}},
            }
        )
        assert self.closed is not None
        ready = asyncio.ensure_future(self.next_dispatch("READY"))
        waiters: set[asyncio.Future[Any]] = {ready, self.closed}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise GatewayClosed(self.closed.result())
        self.user_id = ready.result().data["user"]["id"]
        return ready.result()

    async def resume(self, url: str | None = None) -> None:
        """Connect (to ``url``, e.g. another process) and resume where we were."""
        if url is not None:
            self.url = url
        await self._connect()
        await self._send(
            {"op": 6, "d": {"token": self.token, "session_id": self.session_id, "seq": self.seq}}
        )

    async def next_dispatch(self, event: str | None = None, wait: float = 15.0) -> Dispatch:
        """The next dispatch (of ``event``, skipping others); TimeoutError after ``wait`` s."""
        async with asyncio.timeout(wait):
            while True:
                dispatch = await self.dispatches.get()
                if event is None or dispatch.event == event:
                    return dispatch

    async def join_voice(self, guild_id: str, channel_id: str) -> dict[str, Any]:
        """Join a voice channel (op 4); the VOICE_SERVER_UPDATE saying where to log in."""
        state = {
            "guild_id": guild_id,
            "channel_id": channel_id,
            "self_mute": False,
            "self_deaf": False,
        }
        await self._send({"op": 4, "d": state})
        return dict((await self.next_dispatch("VOICE_SERVER_UPDATE")).data)

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self._send(payload)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()

    def abandon(self) -> None:
        """Drop the connection without a goodbye (as a crash would look to the server)."""
        for task in self._tasks:
            task.cancel()
        if self._ws is not None and self._ws.transport is not None:
            self._ws.transport.abort()

    async def _connect(self) -> None:
        await self.close()
        query = "v=10&encoding=json" + (f"&compress={self.compress}" if self.compress else "")
        sep = "&" if "?" in self.url else "?"
        self._ws = await websockets.connect(
            f"{self.url}{sep}{query}", max_size=None, compression=None
        )
        self.closed = asyncio.get_running_loop().create_future()
        self.invalid_session.clear()
        decode = _decoder(self.compress)
        hello = orjson.loads(decode(await self._ws.recv()))
        assert hello["op"] == 10, hello
        interval = hello["d"]["heartbeat_interval"] / 1000
        self._tasks = [
            asyncio.create_task(self._read(decode)),
            asyncio.create_task(self._heartbeat(interval)),
        ]

    async def _send(self, payload: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(orjson.dumps(payload).decode())

    async def _read(self, decode: Any) -> None:
        assert self._ws is not None
        assert self.closed is not None
        try:
            async for raw in self._ws:
                message = orjson.loads(decode(raw))
                if message["op"] == 0:
                    self.seq = message["s"]
                    if message["t"] == "READY":
                        self.session_id = message["d"]["session_id"]
                    self.dispatches.put_nowait(Dispatch(message["s"], message["t"], message["d"]))
                elif message["op"] == 9:
                    self.invalid_session.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            code = self._ws.close_code if self._ws.close_code is not None else 1006
            if not self.closed.done():
                self.closed.set_result(code)

    async def _heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._send({"op": 1, "d": self.seq or None})


def _decoder(compress: str | None) -> Any:
    if compress == "zlib-stream":
        inflater = zlib.decompressobj()
        return inflater.decompress
    if compress == "zstd-stream":
        reader = zstandard.ZstdDecompressor().decompressobj()
        return reader.decompress
    return lambda raw: raw
