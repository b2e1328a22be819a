"""Guild channels: create, modify, delete, reorder, and their permission overwrites."""

from __future__ import annotations

from typing import Any

import asyncpg

from spectrus_domain import audit, events, limits, queries, shapes
from spectrus_domain.access import (
    Actor,
    ChannelAccess,
    GuildAccess,
    channel_access,
    guild_access,
)
from spectrus_domain.actions import voice
from spectrus_domain.actions.dms import leave_private_channel
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.permissions import ALL_PERMISSIONS, OVERWRITE_ROLE, Permission
from spectrus_domain.storage.db import Connection, update

# Which fields each type of channel may change; the rest are ignored, as on Discord.
_FIELDS_BY_TYPE = {
    shapes.CHANNEL_TEXT: {"name", "topic", "position", "nsfw", "rate_limit_per_user", "parent_id"},
    shapes.CHANNEL_VOICE: {
        "name",
        "position",
        "nsfw",
        "rate_limit_per_user",
        "bitrate",
        "user_limit",
        "parent_id",
        "rtc_region",
    },
    shapes.CHANNEL_CATEGORY: {"name", "position", "nsfw"},
}


async def emit_channel(conn: Connection, event: str, channel_id: int) -> dict[str, Any]:
    data = await queries.channel(conn, channel_id)
    await events.emit_guild(conn, int(data["guild_id"]), event, data, channel_id=channel_id)
    return data


async def _check_parent(conn: Connection, guild_id: int, parent_id: int | None) -> None:
    if parent_id is None:
        return
    kind = await conn.fetchval(
        "SELECT type FROM channels WHERE id = $1 AND guild_id = $2", parent_id, guild_id
    )
    if kind != shapes.CHANNEL_CATEGORY:
        raise invalid_form(
            "parent_id", "CHANNEL_PARENT_INVALID", "Parent must be a category of this guild"
        )


async def _check_overwrites(
    conn: Connection, guild: GuildAccess, bits_held: int, overwrites: list[dict[str, Any]]
) -> None:
    """Overwrites need MANAGE_ROLES, may only move bits the actor holds, and must target
    a role of the guild or an existing user."""
    if not overwrites:
        return
    if len(overwrites) > limits.OVERWRITES_PER_CHANNEL:
        raise invalid_form("permission_overwrites", "BASE_TYPE_MAX_LENGTH", "Too many overwrites")
    if not bits_held & Permission.MANAGE_ROLES:
        raise DomainError(Error.MISSING_PERMISSIONS)
    for i, ow in enumerate(overwrites):
        if bits_held != ALL_PERMISSIONS and (ow["allow"] | ow["deny"]) & ~bits_held:
            raise DomainError(Error.MISSING_PERMISSIONS)
        if ow["type"] == OVERWRITE_ROLE:
            ok = await conn.fetchval(
                "SELECT true FROM roles WHERE id = $1 AND guild_id = $2", ow["id"], guild.guild_id
            )
        else:
            ok = await conn.fetchval("SELECT true FROM users WHERE id = $1", ow["id"])
        if not ok:
            raise invalid_form(
                f"permission_overwrites.{i}.id", "UNKNOWN_TARGET", "Unknown role or user"
            )


async def _write_overwrites(
    ctx: Context,
    conn: Connection,
    guild_id: int,
    actor: Actor,
    channel_id: int,
    wanted: list[dict[str, Any]],
    reason: str | None,
    *,
    replace: bool,
) -> bool:
    """Upsert ``wanted`` (and with ``replace`` delete the others), auditing each change."""
    current = {
        r["target_id"]: r
        for r in await conn.fetch("SELECT * FROM overwrites WHERE channel_id = $1", channel_id)
    }
    changed = False
    for ow in wanted:
        old = current.pop(ow["id"], None)
        if old is not None and (old["type"], old["allow"], old["deny"]) == (
            ow["type"],
            ow["allow"],
            ow["deny"],
        ):
            continue
        await conn.execute(
            """INSERT INTO overwrites (channel_id, target_id, type, allow, deny)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (channel_id, target_id)
               DO UPDATE SET type = EXCLUDED.type, allow = EXCLUDED.allow, deny = EXCLUDED.deny""",
            channel_id,
            ow["id"],
            ow["type"],
            ow["allow"],
            ow["deny"],
        )
        after = {"allow": str(ow["allow"]), "deny": str(ow["deny"])}
        if old is None:
            action, before = AuditAction.CHANNEL_OVERWRITE_CREATE, {}
            after |= {"id": str(ow["id"]), "type": ow["type"]}
        else:
            action = AuditAction.CHANNEL_OVERWRITE_UPDATE
            before = {"allow": str(old["allow"]), "deny": str(old["deny"])}
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            action,
            target_id=channel_id,
            changes=audit.diff(before, after),
            options={"id": str(ow["id"]), "type": str(ow["type"])},
            reason=reason,
        )
        changed = True
    if replace:
        for old in current.values():
            await _delete_overwrite_row(ctx, conn, guild_id, actor, channel_id, old, reason)
            changed = True
    return changed


async def _delete_overwrite_row(
    ctx: Context,
    conn: Connection,
    guild_id: int,
    actor: Actor,
    channel_id: int,
    old: asyncpg.Record,
    reason: str | None,
) -> None:
    await conn.execute(
        "DELETE FROM overwrites WHERE channel_id = $1 AND target_id = $2",
        channel_id,
        old["target_id"],
    )
    await audit.record(
        conn,
        ctx.ids,
        guild_id,
        actor.user_id,
        AuditAction.CHANNEL_OVERWRITE_DELETE,
        target_id=channel_id,
        changes=audit.diff(
            {
                "id": str(old["target_id"]),
                "type": old["type"],
                "allow": str(old["allow"]),
                "deny": str(old["deny"]),
            },
            {},
        ),
        options={"id": str(old["target_id"]), "type": str(old["type"])},
        reason=reason,
    )


async def create_channel(
    ctx: Context, actor: Actor, guild_id: int, spec: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.MANAGE_CHANNELS)
        kind = spec.get("type", shapes.CHANNEL_TEXT)
        if kind not in shapes.GUILD_CHANNEL_TYPES:
            raise invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of {0, 2, 4}.")
        count = await conn.fetchval("SELECT count(*) FROM channels WHERE guild_id = $1", guild_id)
        if count >= limits.CHANNELS_PER_GUILD:
            raise DomainError(Error.MAX_CHANNELS)
        parent_id = spec.get("parent_id") if kind != shapes.CHANNEL_CATEGORY else None
        await _check_parent(conn, guild_id, parent_id)
        overwrites = spec.get("permission_overwrites") or []
        await _check_overwrites(conn, guild, guild.permissions, overwrites)
        position = spec.get("position")
        if position is None:
            position = await conn.fetchval(
                "SELECT coalesce(max(position) + 1, 0) FROM channels WHERE guild_id = $1 AND type = $2",
                guild_id,
                kind,
            )
        voice = kind == shapes.CHANNEL_VOICE
        channel_id = ctx.ids.next()
        allowed = _FIELDS_BY_TYPE[kind]
        await conn.execute(
            """INSERT INTO channels (id, type, guild_id, name, topic, position, parent_id, nsfw,
                   rate_limit_per_user, bitrate, user_limit, rtc_region, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
            channel_id,
            kind,
            guild_id,
            spec["name"],
            spec.get("topic") if "topic" in allowed else None,
            position,
            parent_id,
            bool(spec.get("nsfw")),
            (spec.get("rate_limit_per_user") or 0) if "rate_limit_per_user" in allowed else 0,
            (spec.get("bitrate") or 64_000) if voice else None,
            (spec.get("user_limit") or 0) if voice else None,
            spec.get("rtc_region") if voice else None,
            ctx.now(),
        )
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.CHANNEL_CREATE,
            target_id=channel_id,
            changes=audit.diff({}, {"name": spec["name"], "type": kind}),
            reason=reason,
        )
        await _write_overwrites(
            ctx, conn, guild_id, actor, channel_id, overwrites, reason, replace=False
        )
        return await emit_channel(conn, "CHANNEL_CREATE", channel_id)

    return await ctx.db.write(body)


async def _channel_for_edit(
    ctx: Context, conn: Connection, actor: Actor, channel_id: int
) -> tuple[ChannelAccess, GuildAccess]:
    access = await channel_access(conn, channel_id, actor.user_id, ctx.now(), lock=True)
    if access.guild is None:
        raise DomainError(Error.DM_CHANNEL)
    return access, access.guild


async def modify_channel(
    ctx: Context, actor: Actor, channel_id: int, changes: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now(), lock=True)
        if access.guild is None:
            return await _modify_group_dm(conn, access, changes)
        guild = access.guild
        access.require(Permission.MANAGE_CHANNELS)
        row = access.channel
        allowed = _FIELDS_BY_TYPE[row["type"]]
        fields = {k: v for k, v in changes.items() if k in allowed}
        if "name" in fields and fields["name"] is None:
            raise invalid_form("name", "BASE_TYPE_REQUIRED", "This field is required")
        if "parent_id" in fields:
            await _check_parent(conn, guild.guild_id, fields["parent_id"])
        for key, default in (
            ("rate_limit_per_user", 0),
            ("bitrate", 64_000),
            ("user_limit", 0),
            ("nsfw", False),
            ("position", 0),
        ):
            if key in fields and fields[key] is None:
                fields[key] = default
        new_row = await update(conn, "channels", {"id": channel_id}, fields) if fields else row
        overwrites_changed = False
        if changes.get("permission_overwrites") is not None:
            wanted = changes["permission_overwrites"]
            await _check_overwrites(conn, guild, access.permissions, wanted)
            overwrites_changed = await _write_overwrites(
                ctx, conn, guild.guild_id, actor, channel_id, wanted, reason, replace=True
            )
        changed = audit.diff({k: row[k] for k in fields}, {k: new_row[k] for k in fields})
        if changed:
            await audit.record(
                conn,
                ctx.ids,
                guild.guild_id,
                actor.user_id,
                AuditAction.CHANNEL_UPDATE,
                target_id=channel_id,
                changes=changed,
                reason=reason,
            )
        if changed or overwrites_changed:
            return await emit_channel(conn, "CHANNEL_UPDATE", channel_id)
        return await queries.channel(conn, channel_id)

    return await ctx.db.write(body)


async def _modify_group_dm(
    conn: Connection, access: ChannelAccess, changes: dict[str, Any]
) -> dict[str, Any]:
    if access.channel["type"] != shapes.CHANNEL_GROUP_DM:
        raise DomainError(Error.INVALID_CHANNEL_TYPE)
    if "name" in changes:
        await conn.execute(
            "UPDATE channels SET name = $2 WHERE id = $1", access.channel_id, changes["name"]
        )
    data = await queries.channel(conn, access.channel_id)
    await events.emit(
        conn,
        "CHANNEL_UPDATE",
        data,
        stream_id=access.channel_id,
        channel_id=access.channel_id,
        user_ids=[int(u["id"]) for u in data["recipients"]],
    )
    return data


async def delete_channel(
    ctx: Context, actor: Actor, channel_id: int, reason: str | None
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now(), lock=True)
        if access.guild is None:
            return await leave_private_channel(ctx, conn, access, actor)
        guild = access.guild
        access.require(Permission.MANAGE_CHANNELS)
        data = await queries.channel(conn, channel_id)
        children = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM channels WHERE parent_id = $1", channel_id)
        ]
        await voice.drop_channel(conn, guild.guild_id, channel_id)
        await conn.execute("DELETE FROM channels WHERE id = $1", channel_id)
        await events.emit_guild(conn, guild.guild_id, "CHANNEL_DELETE", data, channel_id=channel_id)
        for child in children:  # now orphans, as on Discord
            await emit_channel(conn, "CHANNEL_UPDATE", child)
        cleared = await conn.fetchval(
            """UPDATE guilds SET
                   system_channel_id = nullif(system_channel_id, $2),
                   afk_channel_id = nullif(afk_channel_id, $2)
               WHERE id = $1 AND $2 IN (system_channel_id, afk_channel_id) RETURNING true""",
            guild.guild_id,
            channel_id,
        )
        if cleared:
            guild_data = await queries.guild(conn, guild.guild_id)
            await events.emit_guild(
                conn,
                guild.guild_id,
                "GUILD_UPDATE",
                {**guild_data, "guild_id": str(guild.guild_id)},
            )
        await audit.record(
            conn,
            ctx.ids,
            guild.guild_id,
            actor.user_id,
            AuditAction.CHANNEL_DELETE,
            target_id=channel_id,
            changes=audit.diff({"name": data["name"], "type": data["type"]}, {}),
            reason=reason,
        )
        return data

    return await ctx.db.write(body)


async def modify_positions(
    ctx: Context, actor: Actor, guild_id: int, moves: list[dict[str, Any]], reason: str | None
) -> None:
    """``PATCH /guilds/{id}/channels``: new positions, parents, and permission sync."""

    async def body(conn: Connection) -> None:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.MANAGE_CHANNELS)
        ids = [m["id"] for m in moves]
        rows = {
            r["id"]: r
            for r in await conn.fetch(
                # Lock in id order so concurrent reorders cannot deadlock.
                "SELECT * FROM channels WHERE guild_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE",
                guild_id,
                ids,
            )
        }
        for i, move in enumerate(moves):
            row = rows.get(move["id"])
            if row is None:
                raise invalid_form(f"{i}.id", "CHANNEL_INVALID", "Unknown channel of this guild")
            sets: dict[str, Any] = {}
            if move.get("position") is not None:
                sets["position"] = move["position"]
            if "parent_id" in move and row["type"] != shapes.CHANNEL_CATEGORY:
                await _check_parent(conn, guild_id, move["parent_id"])
                sets["parent_id"] = move["parent_id"]
            if sets:
                await update(conn, "channels", {"id": move["id"]}, sets)
            parent = sets.get("parent_id", row["parent_id"])
            synced = False
            if move.get("lock_permissions") and parent is not None:
                parent_overwrites = await conn.fetch(
                    "SELECT target_id AS id, type, allow, deny FROM overwrites WHERE channel_id = $1",
                    parent,
                )
                synced = await _write_overwrites(
                    ctx,
                    conn,
                    guild_id,
                    actor,
                    move["id"],
                    [dict(r) for r in parent_overwrites],
                    reason,
                    replace=True,
                )
            if sets or synced:
                await emit_channel(conn, "CHANNEL_UPDATE", move["id"])

    await ctx.db.write(body)


async def put_overwrite(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    overwrite: dict[str, Any],
    reason: str | None,
) -> None:
    async def body(conn: Connection) -> None:
        access, guild = await _channel_for_edit(ctx, conn, actor, channel_id)
        await _check_overwrites(conn, guild, access.permissions, [overwrite])
        if await _write_overwrites(
            ctx, conn, guild.guild_id, actor, channel_id, [overwrite], reason, replace=False
        ):
            await emit_channel(conn, "CHANNEL_UPDATE", channel_id)

    await ctx.db.write(body)


async def delete_overwrite(
    ctx: Context, actor: Actor, channel_id: int, target_id: int, reason: str | None
) -> None:
    async def body(conn: Connection) -> None:
        access, guild = await _channel_for_edit(ctx, conn, actor, channel_id)
        access.require(Permission.MANAGE_ROLES)
        old = await conn.fetchrow(
            "SELECT * FROM overwrites WHERE channel_id = $1 AND target_id = $2",
            channel_id,
            target_id,
        )
        if old is None:
            return  # Discord answers 204 for an absent overwrite too
        await _delete_overwrite_row(ctx, conn, guild.guild_id, actor, channel_id, old, reason)
        await emit_channel(conn, "CHANNEL_UPDATE", channel_id)

    await ctx.db.write(body)
