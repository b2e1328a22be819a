"""Liveness and readiness for supervisors and load balancers (outside ``/api``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from spectrus_api.deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz", include_in_schema=False)
async def live() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def ready(ctx: Ctx) -> JSONResponse:
    try:
        await ctx.db.fetchval("SELECT 1")
    except Exception:
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
