"""An API and gateway (and, for voice, a media node) served in-process over real sockets,
on real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from spectrus_api.app import create_app
from spectrus_api.ratelimit import RateLimiter
from spectrus_domain.bus import BusEvent
from spectrus_domain.bus.memory import MemoryBus
from spectrus_domain.context import Context
from spectrus_gateway.app import gateway_routes
from spectrus_gateway.client import GatewayClient
from spectrus_gateway.media import MediaNodes, NodesFile
from spectrus_gateway.presence import MemoryPresenceStore
from spectrus_gateway.server import Gateway
from spectrus_gateway.sessions import MemorySessionStore
from spectrus_gateway.wire import GatewayWebSocketProtocol
from spectrus_media.service import MediaService


class LossyBus(MemoryBus):
    """A real in-process bus that can be told to drop messages, as Redis may."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = 0  # how many of the next published events vanish

    async def publish(self, events: Sequence[BusEvent]) -> None:
        kept = []
        for event in events:
            if self.drop > 0 and event.seq is not None:
                self.drop -= 1
                continue
            kept.append(event)
        await super().publish(kept)


class ListeningServer(uvicorn.Server):
    """uvicorn with an event for "listening" (instead of polling ``started``)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@dataclass
class Stack:
    base: str
    ws: str
    ctx: Context
    bus: LossyBus
    gateway: Gateway
    http: httpx.AsyncClient
    media: MediaService | None = None

    async def call(
        self, token: str | None, method: str, path: str, expect: int = 200, **kw: Any
    ) -> Any:
        headers = {"Authorization": token} if token else {}
        r = await self.http.request(method, path, headers=headers, **kw)
        assert r.status_code == expect, f"{method} {path} -> {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def register(self, name: str) -> str:
        body = await self.call(
            None,
            "POST",
            "/auth/register",
            201,
            json={"username": name, "password": "correct horse battery"},
        )
        return str(body["token"])

    async def client(self, token: str, **kw: Any) -> GatewayClient:
        c = GatewayClient(self.ws, token, **kw)
        await c.identify()
        return c


@pytest.fixture
async def stack(ctx: Context) -> AsyncIterator[Stack]:
    async with _running(ctx, None) as running:
        yield running


@pytest.fixture
async def voice_stack(ctx: Context, tmp_path: Path) -> AsyncIterator[Stack]:
    """The stack with a real media node (Rust router, voice WebSocket, gRPC control)."""
    service = MediaService(
        ctx.settings.replace(voice_port=0, media_control_port=0, data_dir=tmp_path)
    )
    await service.start()
    nodes = MediaNodes([service.control])
    try:
        async with _running(ctx, nodes) as running:
            running.media = service
            yield running
    finally:
        await nodes.close()
        await service.stop()


@pytest.fixture
async def no_media_stack(ctx: Context, tmp_path: Path) -> AsyncIterator[Stack]:
    """The stack reading its media nodes from a file that lists none (yet)."""
    listing = tmp_path / "media-nodes"
    listing.write_text("# the operator has started no media node yet\n")
    nodes = MediaNodes(NodesFile(listing))
    try:
        async with _running(ctx, nodes) as running:
            yield running
    finally:
        await nodes.close()


@contextlib.asynccontextmanager
async def _running(ctx: Context, media: MediaNodes | None) -> AsyncIterator[Stack]:
    bus = LossyBus()
    ctx.db.publisher = bus.publish
    gateway = Gateway(
        ctx,
        bus,
        MemorySessionStore(),
        MemoryPresenceStore(),
        offline_grace=0.2,
        head_check_interval=0.2,
        media=media,
    )
    app = Starlette(
        routes=[
            *gateway_routes(gateway),
            Mount("/", app=create_app(ctx, limiter=RateLimiter(scale=0))),
        ]
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ListeningServer(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="off",
            ws=GatewayWebSocketProtocol,
            ws_per_message_deflate=False,
        )
    )
    await gateway.start()
    serving = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.listening.wait(), 10)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v10", timeout=30) as http:
        yield Stack(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/gateway", ctx, bus, gateway, http
        )
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(serving, 10)
    await gateway.stop()
