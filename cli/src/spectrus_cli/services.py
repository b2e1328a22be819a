"""``spectrus api``, ``spectrus gateway`` and ``spectrus media``: one service per process,
sharing PostgreSQL and Redis (the layout Kubernetes runs; ``spectrus up`` runs all three in
one process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn

from spectrus_domain import diag
from spectrus_domain.bus import BackgroundPublisher
from spectrus_domain.bus.redis import RedisBus, RedisTopology
from spectrus_domain.config import Settings
from spectrus_domain.context import Context
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage import Database, connect
from spectrus_domain.storage.node_ids import (
    NodeLease,
    NodeLeaseLostError,
    NoFreeNodeIdError,
    lease_node_id,
)

log = logging.getLogger("spectrus")


class ConfigError(Exception):
    pass


def _require(settings: Settings) -> None:
    if not settings.database_url:
        raise ConfigError("needs --database-url (SPECTRUS_DATABASE_URL)")
    if not settings.redis:
        raise ConfigError("needs --redis-urls (SPECTRUS_REDIS_URLS): processes meet through Redis")


def http_config(app: Callable[..., Any], settings: Settings) -> uvicorn.Config:
    """How every Spectrus process serves HTTP and WebSocket (the gateway's WebSocket
    protocol joins the frames of one loop turn into one write; see spectrus_gateway.wire)."""
    from spectrus_gateway.wire import GatewayWebSocketProtocol

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        server_header=False,
        ws=GatewayWebSocketProtocol,
        ws_per_message_deflate=False,  # the gateway compresses its own stream
    )


async def _serve(
    app: Callable[..., Any], settings: Settings, lease: NodeLease | None = None
) -> None:
    """Serve until stopped; with a node id lease, renew it meanwhile and stop serving
    (raising NodeLeaseLostError) when it is lost."""
    server = uvicorn.Server(http_config(app, settings))
    if lease is None:
        await server.serve()
        return
    serving = asyncio.create_task(server.serve())
    keeping = asyncio.create_task(lease.keep())
    try:
        await asyncio.wait({serving, keeping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # The server stopped (a signal), or the lease was lost (requests in flight now
        # fail on the generator's guard): either way the other one ends too.
        server.should_exit = True
        keeping.cancel()
        await asyncio.wait({serving, keeping})
    lost = None if keeping.cancelled() else keeping.exception()
    if lost is not None:
        raise lost
    serving.result()


@contextlib.asynccontextmanager
async def _node_ids(
    settings: Settings, db: Database
) -> AsyncIterator[tuple[SnowflakeGenerator, NodeLease | None]]:
    """The process's id source: ``node_id`` as set, or a node id leased from PostgreSQL
    (released when the service stops)."""
    if not settings.node_id_lease:
        yield SnowflakeGenerator(settings.node_id), None
        return
    lease = await lease_node_id(db)  # logs which
    try:
        yield lease.generator(), lease
    finally:
        try:
            await lease.release()
        except Exception as exc:  # the database is away; the lease simply expires
            log.warning(
                "could not release node id %d (%s); it frees in %g s", lease.node_id, exc, lease.ttl
            )


# Each service imports its package only when run, so an image that carries one service
# (the api's has no media stack, the media node's no web framework) runs its command.


async def run_api(settings: Settings) -> None:
    from spectrus_api.app import create_app

    _require(settings)
    db = await connect(settings.database_url)
    topology = await RedisTopology.connect(
        settings.redis, cluster=settings.redis_cluster, password=settings.redis_password
    )
    publisher = BackgroundPublisher(RedisBus(topology))
    db.publisher = publisher
    try:
        async with _node_ids(settings, db) as (ids, lease):
            ctx = await Context.open(db, settings, ids)
            log.info("api serving on %s:%s", settings.host, settings.port)
            try:
                app = create_app(ctx, diag_board=diag.RedisBoard(topology))
                await _serve(app, settings, lease)
            finally:
                await publisher.close()
    finally:
        await topology.close()
        await db.close()


async def run_gateway(settings: Settings) -> None:
    from spectrus_gateway.app import create_gateway_app, gateway_reporter
    from spectrus_gateway.media import MediaNodes, NodesFile
    from spectrus_gateway.redis_stores import RedisPresenceStore, RedisSessionStore
    from spectrus_gateway.server import Gateway

    _require(settings)
    db = await connect(settings.database_url)
    topology = await RedisTopology.connect(
        settings.redis, cluster=settings.redis_cluster, password=settings.redis_password
    )
    try:
        async with _node_ids(settings, db) as (ids, lease):
            ctx = await Context.open(db, settings, ids)
            nodes: MediaNodes | None = None
            if settings.media_nodes_file:
                nodes = MediaNodes(NodesFile(Path(settings.media_nodes_file)))
                if settings.media:
                    log.warning("--media-nodes-file given: --media-nodes is not used")
            elif settings.media:
                nodes = MediaNodes(settings.media)
            else:
                log.warning("no --media-nodes: voice channels show who joins, but carry no audio")
            gateway = Gateway(
                ctx,
                RedisBus(topology),
                RedisSessionStore(topology),
                RedisPresenceStore(topology),
                media=nodes,
            )
            log.info("gateway serving on %s:%s", settings.host, settings.port)
            reporting = asyncio.create_task(
                diag.post_forever(gateway_reporter(gateway), diag.RedisBoard(topology))
            )
            try:
                await _serve(create_gateway_app(gateway), settings, lease)
            finally:
                reporting.cancel()
                if nodes is not None:
                    await nodes.close()
    finally:
        await topology.close()
        await db.close()


async def run_media(settings: Settings) -> None:
    """A media node: needs no database or Redis; the gateway reaches it over gRPC."""
    from spectrus_media.service import MediaService

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    media = MediaService(settings)
    await media.start()
    log.info("media node: voice wss://%s, control %s", media.endpoint, media.control)
    try:
        await stop.wait()
    finally:
        await media.stop()


_SERVICES = {"api": run_api, "gateway": run_gateway, "media": run_media}


def run(service: str, settings: Settings) -> int:
    try:
        asyncio.run(_SERVICES[service](settings))
    except ConfigError as exc:
        print(f"spectrus {service}: {exc}")
        return 2
    except (NodeLeaseLostError, NoFreeNodeIdError) as exc:
        # Exiting beats minting ids another process may mint too; Kubernetes restarts us.
        log.critical("spectrus %s stopped: %s", service, exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
