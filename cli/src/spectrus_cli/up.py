"""``spectrus up``: embedded PostgreSQL (unless a URL is given), migrations, the API, the
gateway and a media node (voice), in one process.

Shutdown order on Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish,
close the pool, then stop PostgreSQL with a fast (clean) shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from spectrus_api.app import create_app
from spectrus_cli.embedded_pg import EmbeddedPostgres
from spectrus_cli.services import http_config
from spectrus_domain import diag
from spectrus_domain.bus.memory import MemoryBus
from spectrus_domain.config import Settings
from spectrus_domain.context import Context
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage import connect
from spectrus_gateway.app import gateway_reporter, gateway_routes
from spectrus_gateway.media import MediaNodes, NodesFile
from spectrus_gateway.presence import MemoryPresenceStore
from spectrus_gateway.server import Gateway
from spectrus_gateway.sessions import MemorySessionStore
from spectrus_media.service import MediaService

log = logging.getLogger("spectrus")


def banner(settings: Settings, media: MediaService) -> str:
    base = settings.base_url
    trust = f"\n               (voice clients trust {media.ca_file})" if media.ca_file else ""
    return f"""
  Spectrus is running at {base}
    REST API   {base}/api/v10   (Discord API v10 shapes; docs at {base}/api/v10/docs)
    gateway    {settings.websocket_url}
    voice      wss://{media.endpoint}/?v=8, packets on udp port {media.udp_port}{trust}
    data       {settings.data_dir.resolve()}

  Create the first account:
    curl -sX POST {base}/api/v10/auth/register -H 'Content-Type: application/json' \\
         -d '{{"username": "alice", "password": "a long passphrase"}}'
  The answer carries a token; send it as the Authorization header.
  Press Ctrl-C to stop (nothing acknowledged is lost).
"""


class _Server(uvicorn.Server):
    """uvicorn's server with an event for "listening", to print the banner then."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.ready.set()


def compose(ctx: Context, gateway: Gateway) -> Starlette:
    """API and gateway in one ASGI app on one port; the gateway starts and stops with it."""

    api = create_app(ctx, diag_board=diag.LocalBoard([gateway_reporter(gateway)]))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            async with api.router.lifespan_context(api):
                yield
        finally:
            await gateway.stop()

    return Starlette(routes=[*gateway_routes(gateway), Mount("/", app=api)], lifespan=lifespan)


async def serve(settings: Settings, dsn: str) -> None:
    db = await connect(dsn)
    bus = MemoryBus()
    db.publisher = bus.publish
    media = MediaService(settings)
    nodes: MediaNodes | None = None
    try:
        ctx = await Context.open(db, settings, SnowflakeGenerator(settings.node_id))
        await media.start()
        nodes = MediaNodes(
            NodesFile(Path(settings.media_nodes_file))
            if settings.media_nodes_file
            else settings.media or [media.control]
        )
        gateway = Gateway(ctx, bus, MemorySessionStore(), MemoryPresenceStore(), media=nodes)
        server = _Server(http_config(compose(ctx, gateway), settings))
        serving = asyncio.create_task(server.serve())
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            print(banner(settings, media), flush=True)
        else:
            ready.cancel()
        await serving
    finally:
        await media.stop()
        if nodes is not None:
            await nodes.close()
        await db.close()


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """A second Ctrl-C must not abandon PostgreSQL half-stopped. Its fast shutdown is
    bounded (it escalates to SIGQUIT after a minute), so further signals just wait."""

    def wait(signum: int, _frame: object) -> None:
        log.warning("still stopping PostgreSQL (signal %d ignored)", signum)

    previous = {s: signal.signal(s, wait) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def up(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    postgres = None
    dsn = settings.database_url
    if not dsn:
        postgres = EmbeddedPostgres(settings.data_dir / "postgres")
        log.info("starting embedded PostgreSQL in %s", postgres.pgdata)
        dsn = postgres.start()
    try:
        asyncio.run(serve(settings, dsn))
    except KeyboardInterrupt:
        pass
    finally:
        if postgres is not None:
            with _interrupts_deferred():
                log.info("stopping PostgreSQL")
                postgres.stop()
    print("Spectrus stopped.", file=sys.stderr, flush=True)
