"""The gateway as an ASGI application (a gateway process serves only this)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from spectrus_domain import diag
from spectrus_domain.metrics import metrics_app
from spectrus_gateway.server import Gateway


def gateway_routes(gateway: Gateway) -> list[Route | WebSocketRoute]:
    return [
        WebSocketRoute("/gateway", gateway),
        WebSocketRoute("/gateway/", gateway),
    ]


def gateway_reporter(gateway: Gateway) -> diag.Reporter:
    """The gateway's part of ``/diag``."""
    reporter = diag.Reporter("gateway", gateway.hub.node)

    async def queues() -> dict[str, int]:
        return gateway.queues()

    reporter.sections.update(gateway=gateway.diagnostics, queues=queues)
    return reporter


def create_gateway_app(gateway: Gateway) -> Starlette:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "connections": len(gateway.live), **gateway.hub.stats})

    routes = [
        *gateway_routes(gateway),
        Route("/healthz", health),
        Route("/metrics", metrics_app, methods=["GET"]),
    ]
    # discord.py dials the gateway URL with a query string on "/".
    routes.append(WebSocketRoute("/", gateway))
    return Starlette(routes=routes, lifespan=lifespan)
