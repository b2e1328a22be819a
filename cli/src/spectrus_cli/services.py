"""``spectrus api`` and ``spectrus gateway``: one service per process, sharing PostgreSQL
and Redis (the layout Kubernetes runs; ``spectrus up`` runs both in one process)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import uvicorn

from spectrus_api.app import create_app
from spectrus_domain.bus import BackgroundPublisher
from spectrus_domain.bus.redis import RedisBus, RedisTopology
from spectrus_domain.config import Settings
from spectrus_domain.context import Context
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage import connect
from spectrus_gateway.app import create_gateway_app
from spectrus_gateway.redis_stores import RedisPresenceStore, RedisSessionStore
from spectrus_gateway.server import Gateway

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


async def run_api(settings: Settings) -> None:
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
    _require(settings)
    db = await connect(settings.database_url)
    topology = await RedisTopology.connect(settings.redis, cluster=settings.redis_cluster)
    try:
        ctx = await Context.open(db, settings, SnowflakeGenerator(settings.node_id))
        gateway = Gateway(
            ctx, RedisBus(topology), RedisSessionStore(topology), RedisPresenceStore(topology)
        )
        log.info("gateway serving on %s:%s", settings.host, settings.port)
        await _serve(create_gateway_app(gateway), settings)
    finally:
        await topology.close()
        await db.close()


def run(service: str, settings: Settings) -> int:
    try:
        asyncio.run(run_api(settings) if service == "api" else run_gateway(settings))
    except ConfigError as exc:
        print(f"spectrus {service}: {exc}")
        return 2
    except KeyboardInterrupt:
        pass
    return 0
