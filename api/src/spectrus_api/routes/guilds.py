"""Guilds and everything addressed through them: channels, members, roles, bans, the
audit log and the guild's invites."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from spectrus_api.deps import Ctx, CurrentActor, Person, Reason
from spectrus_api.ratelimit import RateLimitedRoute, limit
from spectrus_api.routes.channels import ChannelSpec
from spectrus_api.validation import (
    Body,
    Permissions,
    Snowflake,
    SnowflakePath,
    SnowflakeQuery,
    Text,
    Timestamp,
)
from spectrus_domain import limits, views
from spectrus_domain.actions import channels, guilds, invites, members, roles

router = APIRouter(route_class=RateLimitedRoute, tags=["guilds"])

Level = Annotated[int, Field(ge=0, le=4)]


class GuildChannel(Body):
    name: Annotated[str, Text(limits.CHANNEL_NAME_MAX, limits.CHANNEL_NAME_MIN)]
    type: Literal[0, 2, 4] = 0
    id: Snowflake | None = None
    parent_id: Snowflake | None = None


class GuildRole(Body):
    id: Snowflake | None = None
    name: Annotated[str, Text(limits.ROLE_NAME_MAX)] | None = None
    permissions: Permissions | None = None
    color: Annotated[int, Field(ge=0, le=limits.COLOR_MAX)] | None = None
    hoist: bool | None = None
    mentionable: bool | None = None


class NewGuild(Body):
    name: Annotated[str, Text(limits.GUILD_NAME_MAX, limits.GUILD_NAME_MIN)]
    description: Annotated[str, Text(limits.GUILD_DESCRIPTION_MAX)] | None = None
    verification_level: Level = 0
    default_message_notifications: Annotated[int, Field(ge=0, le=1)] = 0
    explicit_content_filter: Annotated[int, Field(ge=0, le=2)] = 0
    roles: Annotated[list[GuildRole], Field(max_length=limits.ROLES_PER_GUILD)] | None = None
    channels: Annotated[list[GuildChannel], Field(max_length=limits.CHANNELS_PER_GUILD)] | None = (
        None
    )
    afk_channel_id: Snowflake | None = None
    afk_timeout: Literal[60, 300, 900, 1800, 3600] = 300
    system_channel_id: Snowflake | None = None


@router.post("/guilds", status_code=201)
@limit("guilds.create", 10, 3600)
async def create_guild(body: NewGuild, actor: Person, ctx: Ctx) -> dict[str, Any]:
    return await guilds.create_guild(
        ctx,
        actor,
        name=body.name,
        description=body.description,
        channels=[c.model_dump() for c in body.channels] if body.channels is not None else None,
        roles=[r.model_dump(exclude_none=True) for r in body.roles] if body.roles else None,
        system_channel_id=body.system_channel_id,
        afk_channel_id=body.afk_channel_id,
        afk_timeout=body.afk_timeout,
        verification_level=body.verification_level,
        default_message_notifications=body.default_message_notifications,
        explicit_content_filter=body.explicit_content_filter,
    )


@router.get("/guilds/{guild_id}")
async def get_guild(
    guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx, with_counts: bool = False
) -> dict[str, Any]:
    return await views.get_guild(ctx, actor, guild_id, with_counts=with_counts)


class GuildPatch(Body):
    name: Annotated[str, Text(limits.GUILD_NAME_MAX, limits.GUILD_NAME_MIN)] | None = None
    description: Annotated[str, Text(limits.GUILD_DESCRIPTION_MAX)] | None = None
    verification_level: Level | None = None
    default_message_notifications: Annotated[int, Field(ge=0, le=1)] | None = None
    explicit_content_filter: Annotated[int, Field(ge=0, le=2)] | None = None
    afk_channel_id: Snowflake | None = None
    afk_timeout: Literal[60, 300, 900, 1800, 3600] | None = None
    system_channel_id: Snowflake | None = None
    system_channel_flags: Annotated[int, Field(ge=0, le=(1 << 8) - 1)] | None = None
    preferred_locale: Annotated[str, Text(16, 2)] | None = None
    owner_id: Snowflake | None = None
    # Spectrus: messages older than this many days are deleted, with their files.
    message_retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None


@router.patch("/guilds/{guild_id}")
@limit("guilds.patch", 10, 10, major="guild_id")
async def modify_guild(
    guild_id: SnowflakePath, body: GuildPatch, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    # Only these may be cleared with null; a null elsewhere means "leave it".
    nullable = {"description", "afk_channel_id", "system_channel_id", "message_retention_days"}
    changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
    return await guilds.modify_guild(ctx, actor, guild_id, changes, reason)


@router.delete("/guilds/{guild_id}", status_code=204)
async def delete_guild(guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx) -> Response:
    await guilds.delete_guild(ctx, actor, guild_id)
    return Response(status_code=204)


# --- channels -------------------------------------------------------------------------


@router.get("/guilds/{guild_id}/channels")
async def guild_channels(
    guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> list[dict[str, Any]]:
    return await views.guild_channels(ctx, actor, guild_id)


class NewChannel(ChannelSpec):
    name: Annotated[str, Text(limits.CHANNEL_NAME_MAX, limits.CHANNEL_NAME_MIN)]
    type: Literal[0, 2, 4] = 0


@router.post("/guilds/{guild_id}/channels", status_code=201)
@limit("channels.create", 25, 60, major="guild_id")
async def create_channel(
    guild_id: SnowflakePath, body: NewChannel, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> dict[str, Any]:
    spec = body.model_dump(exclude_none=True)
    return await channels.create_channel(ctx, actor, guild_id, spec, reason)


class ChannelMove(Body):
    id: Snowflake
    position: Annotated[int, Field(ge=0, le=10_000)] | None = None
    lock_permissions: bool | None = None
    parent_id: Snowflake | None = None


@router.patch("/guilds/{guild_id}/channels", status_code=204)
@limit("channels.positions", 10, 10, major="guild_id")
async def channel_positions(
    guild_id: SnowflakePath,
    body: Annotated[list[ChannelMove], Field(max_length=limits.CHANNELS_PER_GUILD)],
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    moves = [m.model_dump(exclude_unset=True) for m in body]
    await channels.modify_positions(ctx, actor, guild_id, moves, reason)
    return Response(status_code=204)


# --- members --------------------------------------------------------------------------


@router.get("/guilds/{guild_id}/members")
async def list_members(
    guild_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=limits.MEMBER_PAGE_MAX)] = 1,
    after: Annotated[int, Query(ge=0, le=(1 << 63) - 1)] = 0,
) -> list[dict[str, Any]]:
    return await views.members(ctx, actor, guild_id, after=after, limit=limit)


@router.get("/guilds/{guild_id}/members/search")
async def search_members(
    guild_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    query: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[^\x00]*$")],
    limit: Annotated[int, Query(ge=1, le=limits.MEMBER_PAGE_MAX)] = 1,
) -> list[dict[str, Any]]:
    return await views.search_members(ctx, actor, guild_id, query, limit)


class MemberPatch(Body):
    nick: Annotated[str, Text(limits.NICK_MAX)] | None = None
    roles: Annotated[list[Snowflake], Field(max_length=limits.ROLES_PER_GUILD)] | None = None
    mute: bool | None = None
    deaf: bool | None = None
    channel_id: Snowflake | None = None
    communication_disabled_until: Timestamp | None = None


class NickPatch(Body):
    nick: Annotated[str, Text(limits.NICK_MAX)] | None = None


@router.patch("/guilds/{guild_id}/members/@me")
@limit("members.patch", 10, 10, major="guild_id")
async def modify_my_member(
    guild_id: SnowflakePath, body: NickPatch, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> dict[str, Any]:
    return await members.modify_member(
        ctx, actor, guild_id, actor.user_id, body.model_dump(exclude_unset=True), reason
    )


@router.get("/guilds/{guild_id}/members/{user_id}")
async def get_member(
    guild_id: SnowflakePath, user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await views.member(ctx, actor, guild_id, user_id)


@router.patch("/guilds/{guild_id}/members/{user_id}")
@limit("members.patch", 10, 10, major="guild_id")
async def modify_member(
    guild_id: SnowflakePath,
    user_id: SnowflakePath,
    body: MemberPatch,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> dict[str, Any]:
    return await members.modify_member(
        ctx, actor, guild_id, user_id, body.model_dump(exclude_unset=True), reason
    )


@router.delete("/guilds/{guild_id}/members/{user_id}", status_code=204)
@limit("members.kick", 10, 10, major="guild_id")
async def kick_member(
    guild_id: SnowflakePath, user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> Response:
    await members.kick(ctx, actor, guild_id, user_id, reason)
    return Response(status_code=204)


@router.put("/guilds/{guild_id}/members/{user_id}/roles/{role_id}", status_code=204)
@limit("members.roles", 10, 10, major="guild_id")
async def add_member_role(
    guild_id: SnowflakePath,
    user_id: SnowflakePath,
    role_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    await members.change_member_role(
        ctx, actor, guild_id, user_id, role_id, add=True, reason=reason
    )
    return Response(status_code=204)


@router.delete("/guilds/{guild_id}/members/{user_id}/roles/{role_id}", status_code=204)
@limit("members.roles", 10, 10, major="guild_id")
async def remove_member_role(
    guild_id: SnowflakePath,
    user_id: SnowflakePath,
    role_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> Response:
    await members.change_member_role(
        ctx, actor, guild_id, user_id, role_id, add=False, reason=reason
    )
    return Response(status_code=204)


# --- bans -----------------------------------------------------------------------------


@router.get("/guilds/{guild_id}/bans")
async def list_bans(
    guild_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=limits.BAN_PAGE_MAX)] = limits.BAN_PAGE_MAX,
    before: SnowflakeQuery = None,
    after: SnowflakeQuery = None,
) -> list[dict[str, Any]]:
    return await views.bans(ctx, actor, guild_id, before=before, after=after, limit=limit)


@router.get("/guilds/{guild_id}/bans/{user_id}")
async def get_ban(
    guild_id: SnowflakePath, user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await views.ban(ctx, actor, guild_id, user_id)


class NewBan(Body):
    delete_message_seconds: Annotated[int, Field(ge=0, le=limits.BAN_DELETE_SECONDS_MAX)] = 0
    delete_message_days: Annotated[int, Field(ge=0, le=7)] | None = None  # deprecated form


@router.put("/guilds/{guild_id}/bans/{user_id}", status_code=204)
@limit("bans.put", 10, 10, major="guild_id")
async def ban_member(
    guild_id: SnowflakePath,
    user_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
    body: NewBan | None = None,
) -> Response:
    seconds = 0
    if body is not None:
        seconds = body.delete_message_seconds or (body.delete_message_days or 0) * 86_400
    await members.ban(ctx, actor, guild_id, user_id, delete_message_seconds=seconds, reason=reason)
    return Response(status_code=204)


@router.delete("/guilds/{guild_id}/bans/{user_id}", status_code=204)
@limit("bans.delete", 10, 10, major="guild_id")
async def unban_member(
    guild_id: SnowflakePath, user_id: SnowflakePath, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> Response:
    await members.unban(ctx, actor, guild_id, user_id, reason)
    return Response(status_code=204)


# --- roles ----------------------------------------------------------------------------


class RoleSpec(Body):
    name: Annotated[str, Text(limits.ROLE_NAME_MAX)] | None = None
    permissions: Permissions | None = None
    color: Annotated[int, Field(ge=0, le=limits.COLOR_MAX)] | None = None
    hoist: bool | None = None
    mentionable: bool | None = None
    unicode_emoji: Annotated[str, Text(32)] | None = None


@router.get("/guilds/{guild_id}/roles")
async def list_roles(
    guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> list[dict[str, Any]]:
    return await views.roles(ctx, actor, guild_id)


@router.post("/guilds/{guild_id}/roles")
@limit("roles.create", 25, 60, major="guild_id")
async def create_role(
    guild_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
    body: RoleSpec | None = None,
) -> dict[str, Any]:
    spec = body.model_dump(exclude_none=True) if body is not None else {}
    return await roles.create_role(ctx, actor, guild_id, spec, reason)


class RoleMove(Body):
    id: Snowflake
    position: Annotated[int, Field(ge=0, le=10_000)] | None = None


@router.patch("/guilds/{guild_id}/roles")
@limit("roles.positions", 10, 10, major="guild_id")
async def role_positions(
    guild_id: SnowflakePath,
    body: Annotated[list[RoleMove], Field(max_length=limits.ROLES_PER_GUILD)],
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
) -> list[dict[str, Any]]:
    return await roles.modify_positions(
        ctx, actor, guild_id, [m.model_dump() for m in body], reason
    )


@router.get("/guilds/{guild_id}/roles/{role_id}")
async def get_role(
    guild_id: SnowflakePath, role_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> dict[str, Any]:
    return await views.role(ctx, actor, guild_id, role_id)


@router.patch("/guilds/{guild_id}/roles/{role_id}")
@limit("roles.patch", 25, 60, major="guild_id")
async def modify_role(
    guild_id: SnowflakePath,
    role_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    reason: Reason,
    body: RoleSpec | None = None,
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True) if body is not None else {}
    return await roles.modify_role(ctx, actor, guild_id, role_id, changes, reason)


@router.delete("/guilds/{guild_id}/roles/{role_id}", status_code=204)
@limit("roles.delete", 25, 60, major="guild_id")
async def delete_role(
    guild_id: SnowflakePath, role_id: SnowflakePath, actor: CurrentActor, ctx: Ctx, reason: Reason
) -> Response:
    await roles.delete_role(ctx, actor, guild_id, role_id, reason)
    return Response(status_code=204)


# --- audit log and invites --------------------------------------------------------------


@router.get("/guilds/{guild_id}/audit-logs")
async def audit_log(
    guild_id: SnowflakePath,
    actor: CurrentActor,
    ctx: Ctx,
    user_id: SnowflakeQuery = None,
    action_type: Annotated[int | None, Query(ge=1, le=255)] = None,
    before: SnowflakeQuery = None,
    after: SnowflakeQuery = None,
    limit: Annotated[int, Query(ge=1, le=limits.AUDIT_PAGE_MAX)] = 50,
) -> dict[str, Any]:
    return await views.audit_log(
        ctx,
        actor,
        guild_id,
        user_id=user_id,
        action_type=action_type,
        before=before,
        after=after,
        limit=limit,
    )


@router.get("/guilds/{guild_id}/invites")
async def guild_invites(
    guild_id: SnowflakePath, actor: CurrentActor, ctx: Ctx
) -> list[dict[str, Any]]:
    return await invites.list_invites(ctx, actor, guild_id=guild_id)
