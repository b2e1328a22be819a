"""Invites by code: look up (no account needed), accept, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from spectrus_api.deps import Ctx, CurrentActor, Person, Reason
from spectrus_api.ratelimit import RateLimitedRoute, limit
from spectrus_domain.actions import invites

router = APIRouter(route_class=RateLimitedRoute, tags=["invites"])

Code = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]


@router.get("/invites/{code}")
@limit("invites.get", 20, 10)
async def get_invite(
    code: Code, ctx: Ctx, with_counts: bool = False, with_expiration: bool = True
) -> dict[str, Any]:
    del with_expiration  # expires_at is always included, as on Discord since v10
    return await invites.get_invite(ctx, code, with_counts=with_counts)


@router.post("/invites/{code}")
@limit("invites.accept", 10, 60)
async def accept_invite(code: Code, actor: Person, ctx: Ctx) -> dict[str, Any]:
    return await invites.accept_invite(ctx, actor, code)


@router.delete("/invites/{code}")
@limit("invites.delete", 10, 10)
async def delete_invite(
    code: Code, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> dict[str, Any]:
    return await invites.delete_invite(ctx, actor, code, reason)
