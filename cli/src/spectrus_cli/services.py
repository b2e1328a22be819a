"""``spectrus api``, ``spectrus gateway`` and ``spectrus media``: one service per process,
sharing PostgreSQL and Redis (the layout Kubernetes runs; ``spectrus up`` runs all three in
one process)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

import uvicorn

from spectrus_domain.bus import BackgroundPublisher
from spectrus_domain.bus.redis import RedisBus, RedisTopology
from spectrus_domain.config import Settings
from spectrus_domain.context import Context
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage import connect

log = logging.getLogger("spectrus")


class ConfigError(Exception):
    pass


def _require(settings: Settings) -> None:
    if not settings.database_url:
        raise ConfigError("needs --database-url (SPECTRUS_DATABASE_URL)")
    if not settings.redis:
        raise ConfigError("needs --redis-urls (SPECTRUS_REDIS_URLS): processes meet through Redis")


def http_config(app: Callable[..., Any], settings: Settings) -> uvicorn.Config:
    """How every Spectrus process serves HTTP and WebSocket."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        server_header=False,
        ws_per_message_deflate=False,  # the gateway compresses its own stream
    )


async def _serve(app: Callable[..., Any], settings: Settings) -> None:
    await uvicorn.Server(http_config(app, settings)).serve()


# Each service imports its package only when run, so an image that carries one service
# (the api's has no media stack, the media node's no web framework) runs its command.


async def run_api(settings: Settings) -> None:
    from spectrus_api.app import create_app

    _require(settings)
    db = await connect(settings.database_url)
    topology = await RedisTopology.connect(settings.redis, cluster=settings.redis_cluster)
    publisher = BackgroundPublisher(RedisBus(topology))
    db.publisher = publisher
    try:
        ctx = await Context.open(db, settings, SnowflakeGenerator(settings.node_id))
        log.info("api serving on %s:%s", settings.host, settings.port)
        try:
            await _serve(create_app(ctx), settings)
        finally:
            await publisher.close()
    finally:
        await topology.close()
        await db.close()


async def run_gateway(settings: Settings) -> None:
    from spectrus_gateway.app import create_gateway_app
    from spectrus_gateway.media import MediaNodes
    from spectrus_gateway.redis_stores import RedisPresenceStore, RedisSessionStore
    from spectrus_gateway.server import Gateway

    _require(settings)
    db = await connect(settings.database_url)
    topology = await RedisTopology.connect(settings.redis, cluster=settings.redis_cluster)
    try:
        ctx = await Context.open(db, settings, SnowflakeGenerator(settings.node_id))
        nodes = MediaNodes(settings.media) if settings.media else None
        if nodes is None:
            log.warning("no --media-nodes: voice channels show who joins, but carry no audio")
        gateway = Gateway(
            ctx,
            RedisBus(topology),
            RedisSessionStore(topology),
            RedisPresenceStore(topology),
            media=nodes,
        )
        log.info("gateway serving on %s:%s", settings.host, settings.port)
        try:
            await _serve(create_gateway_app(gateway), settings)
        finally:
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
    except KeyboardInterrupt:
        pass
    return 0
