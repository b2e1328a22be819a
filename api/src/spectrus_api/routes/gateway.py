"""Where clients find the gateway (``GET /gateway``, ``GET /gateway/bot``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from spectrus_api.deps import Ctx, CurrentActor
from spectrus_api.ratelimit import RateLimitedRoute

router = APIRouter(route_class=RateLimitedRoute, tags=["gateway"])


@router.get("/gateway")
async def gateway(ctx: Ctx) -> dict[str, Any]:
    return {"url": ctx.settings.websocket_url}


@router.get("/gateway/bot")
async def gateway_bot(actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    del actor  # only checks that the token is valid, as on Discord
    return {
        "url": ctx.settings.websocket_url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 86_400_000,
            "max_concurrency": 1,
        },
    }
