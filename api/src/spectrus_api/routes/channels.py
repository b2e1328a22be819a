"""Channels: get, modify, delete, permission overwrites, invites, typing, group DM
recipients."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from spectrus_api.deps import Ctx, CurrentActor, Reason
from spectrus_api.ratelimit import RateLimitedRoute, limit
from spectrus_api.validation import Body, Permissions, Snowflake, SnowflakePath, Text
from spectrus_domain import limits, views
from spectrus_domain.actions import channels, dms, invites, messages

router = APIRouter(route_class=RateLimitedRoute, tags=["channels"])


class Overwrite(Body):
    id: Snowflake
    type: Literal[0, 1]
    allow: Permissions = 0
    deny: Permissions = 0


class ChannelSpec(Body):
    """Fields shared by channel creation and modification."""

    topic: Annotated[str, Text(limits.CHANNEL_TOPIC_MAX)] | None = None
    position: Annotated[int, Field(ge=0, le=10_000)] | None = None
    nsfw: bool | None = None
    rate_limit_per_user: Annotated[int, Field(ge=0, le=limits.SLOWMODE_MAX)] | None = None
    bitrate: Annotated[int, Field(ge=limits.BITRATE_MIN, le=limits.BITRATE_MAX)] | None = None
    user_limit: Annotated[int, Field(ge=0, le=limits.USER_LIMIT_MAX)] | None = None
    parent_id: Snowflake | None = None
    rtc_region: Annotated[str, Text(32)] | None = None
    permission_overwrites: (
        Annotated[list[Overwrite], Field(max_length=limits.OVERWRITES_PER_CHANNEL)] | None
    ) = None


class ChannelPatch(ChannelSpec):
    name: Annotated[str, Text(limits.CHANNEL_NAME_MAX, limits.CHANNEL_NAME_MIN)] | None = None


@router.get("/channels/{channel_id}")
async def get_channel(channel_id: SnowflakePath, actor: CurrentActor, ctx: Ctx) -> dict[str, Any]:
    return await views.get_channel(ctx, actor, channel_id)


@router.patch("/channels/{channel_id}")
@limit("channels.patch", 10, 10, major="channel_id")
async def modify_channel(
    channel_id: SnowflakePath, body: ChannelPatch, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return await channels.modify_channel(ctx, actor, channel_id, changes, reason)


@router.delete("/channels/{channel_id}")
@limit("channels.delete", 10, 10, major="channel_id")
async def delete_channel(
    channel_id: SnowflakePath, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> dict[str, Any]:
    return await channels.delete_channel(ctx, actor, channel_id, reason)


class OverwriteBody(Body):
    type: Literal[0, 1]
    allow: Permissions = 0
    deny: Permissions = 0


@router.put("/channels/{channel_id}/permissions/{overwrite_id}", status_code=204)
@limit("channels.permissions", 10, 10, major="channel_id")
async def put_overwrite(
    channel_id: SnowflakePath,
    overwrite_id: SnowflakePath,
    body: OverwriteBody,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    overwrite = {"id": overwrite_id, **body.model_dump()}
    await channels.put_overwrite(ctx, actor, channel_id, overwrite, reason)
    return Response(status_code=204)


@router.delete("/channels/{channel_id}/permissions/{overwrite_id}", status_code=204)
@limit("channels.permissions", 10, 10, major="channel_id")
async def delete_overwrite(
    channel_id: SnowflakePath,
    overwrite_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    await channels.delete_overwrite(ctx, actor, channel_id, overwrite_id, reason)
    return Response(status_code=204)


class NewInvite(Body):
    max_age: Annotated[int, Field(ge=0, le=limits.INVITE_MAX_AGE)] = limits.INVITE_DEFAULT_MAX_AGE
    max_uses: Annotated[int, Field(ge=0, le=limits.INVITE_MAX_USES)] = 0
    temporary: bool = False
    unique: bool = False


@router.get("/channels/{channel_id}/invites")
async def channel_invites(
    channel_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> list[dict[str, Any]]:
    return await invites.list_invites(ctx, actor, channel_id=channel_id)


@router.post("/channels/{channel_id}/invites")
@limit("invites.create", 5, 15, major="channel_id")
async def create_invite(
    channel_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
    body: NewInvite | None = None,
) -> dict[str, Any]:
    spec = body or NewInvite()
    return await invites.create_invite(
        ctx,
        actor,
        channel_id,
        max_age=spec.max_age,
        max_uses=spec.max_uses,
        temporary=spec.temporary,
        reason=reason,
    )


@router.post("/channels/{channel_id}/typing", status_code=204)
@limit("channels.typing", 5, 5, major="channel_id")
async def trigger_typing(channel_id: SnowflakePath, actor: CurrentActor, ctx: Ctx) -> Response:
    await messages.typing(ctx, actor, channel_id)
    return Response(status_code=204)


@router.put("/channels/{channel_id}/recipients/{user_id}", status_code=204)
@limit("channels.recipients", 10, 10, major="channel_id")
async def add_recipient(
    channel_id: SnowflakePath, user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> Response:
    await dms.add_recipient(ctx, actor, channel_id, user_id)
    return Response(status_code=204)


@router.delete("/channels/{channel_id}/recipients/{user_id}", status_code=204)
@limit("channels.recipients", 10, 10, major="channel_id")
async def remove_recipient(
    channel_id: SnowflakePath, user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> Response:
    await dms.remove_recipient(ctx, actor, channel_id, user_id)
    return Response(status_code=204)
