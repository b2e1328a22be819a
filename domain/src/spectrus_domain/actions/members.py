"""Members and moderation: nicknames, roles, timeouts, kicks and bans."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from spectrus_domain import audit, events, limits, queries, shapes
from spectrus_domain.access import (
    Actor,
    GuildAccess,
    guild_access,
    member_rank,
    require_member_manageable,
    role_rank,
)
from spectrus_domain.actions import voice
from spectrus_domain.actions.guilds import remove_member
from spectrus_domain.actions.messages import delete_rows
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.ids import snowflake_floor
from spectrus_domain.permissions import Permission
from spectrus_domain.storage.db import Connection, one, update


async def _require_member(conn: Connection, guild_id: int, user_id: int) -> None:
    if not await conn.fetchval(
        "SELECT true FROM members WHERE guild_id = $1 AND user_id = $2 FOR UPDATE",
        guild_id,
        user_id,
    ):
        raise DomainError(Error.UNKNOWN_MEMBER)


async def _emit_member_update(conn: Connection, guild_id: int, user_id: int) -> dict[str, Any]:
    data = await queries.member(conn, guild_id, user_id)
    await events.emit_guild(
        conn, guild_id, "GUILD_MEMBER_UPDATE", {**data, "guild_id": str(guild_id)}
    )
    return data


async def _assignable_role(conn: Connection, guild: GuildAccess, role_id: int) -> None:
    row = await queries.role_row(conn, guild.guild_id, role_id)
    if row["managed"] or row["id"] == guild.guild_id:
        raise DomainError(Error.MISSING_PERMISSIONS)
    guild.require_outranks(role_rank(row["position"], row["id"]))


async def modify_member(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    user_id: int,
    changes: dict[str, Any],
    reason: str | None,
) -> dict[str, Any]:
    """``PATCH /guilds/{g}/members/{u}``: nick, roles, mute, deaf, timeout, voice move."""

    async def body(conn: Connection) -> dict[str, Any]:
        now = ctx.now()
        guild = await guild_access(conn, guild_id, actor.user_id, now)
        await _require_member(conn, guild_id, user_id)
        before = await one(
            conn, "SELECT * FROM members WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
        )
        updates: dict[str, Any] = {}
        if "nick" in changes:
            if user_id == actor.user_id and not guild.permissions & Permission.MANAGE_NICKNAMES:
                guild.require(Permission.CHANGE_NICKNAME)
            else:
                guild.require(Permission.MANAGE_NICKNAMES)
                await require_member_manageable(conn, guild, user_id)
            updates["nick"] = changes["nick"] or None
        for key, needed in (("mute", Permission.MUTE_MEMBERS), ("deaf", Permission.DEAFEN_MEMBERS)):
            if changes.get(key) is not None:
                guild.require(needed)
                updates[key] = changes[key]
        if "communication_disabled_until" in changes:
            until: datetime | None = changes["communication_disabled_until"]
            guild.require(Permission.MODERATE_MEMBERS)
            await require_member_manageable(conn, guild, user_id)
            if until is not None:
                if until > now + timedelta(seconds=limits.TIMEOUT_MAX_SECONDS):
                    raise invalid_form(
                        "communication_disabled_until",
                        "BASE_TYPE_BAD_TIMESTAMP",
                        "Timeouts may last at most 28 days",
                    )
                target = await guild_access(conn, guild_id, user_id, now)
                if target.permissions & Permission.ADMINISTRATOR:
                    raise DomainError(
                        Error.MISSING_PERMISSIONS
                    )  # administrators cannot be timed out
                if until <= now:
                    until = None
            updates["communication_disabled_until"] = until
        if "channel_id" in changes:
            await voice.moderate(conn, ctx, actor, guild_id, user_id, changes["channel_id"], reason)
        if updates:
            after = await update(
                conn, "members", {"guild_id": guild_id, "user_id": user_id}, updates
            )
            changed = audit.diff(
                {k: before[k] for k in updates},
                {k: after[k] for k in updates},
            )
            if changed:
                await audit.record(
                    conn,
                    ctx.ids,
                    guild_id,
                    actor.user_id,
                    AuditAction.MEMBER_UPDATE,
                    target_id=user_id,
                    changes=changed,
                    reason=reason,
                )
        roles_changed = False
        if changes.get("roles") is not None:
            roles_changed = await _set_roles(
                ctx, conn, guild, actor, user_id, set(changes["roles"]), reason
            )
        if updates or roles_changed:
            member = await _emit_member_update(conn, guild_id, user_id)
            if "mute" in updates or "deaf" in updates:
                await voice.announce(conn, guild_id, user_id)
            return member
        return await queries.member(conn, guild_id, user_id)

    return await ctx.db.write(body)


async def _set_roles(
    ctx: Context,
    conn: Connection,
    guild: GuildAccess,
    actor: Actor,
    user_id: int,
    wanted: set[int],
    reason: str | None,
) -> bool:
    guild.require(Permission.MANAGE_ROLES)
    current = {
        r["role_id"]
        for r in await conn.fetch(
            "SELECT role_id FROM member_roles WHERE guild_id = $1 AND user_id = $2",
            guild.guild_id,
            user_id,
        )
    }
    added, removed = wanted - current, current - wanted
    for role_id in added | removed:
        await _assignable_role(conn, guild, role_id)
    if not added and not removed:
        return False
    await conn.executemany(
        "INSERT INTO member_roles (guild_id, user_id, role_id) VALUES ($1, $2, $3)",
        [(guild.guild_id, user_id, r) for r in sorted(added)],
    )
    await conn.execute(
        "DELETE FROM member_roles WHERE guild_id = $1 AND user_id = $2 AND role_id = ANY($3)",
        guild.guild_id,
        user_id,
        sorted(removed),
    )
    names = {
        r["id"]: r["name"]
        for r in await conn.fetch(
            "SELECT id, name FROM roles WHERE id = ANY($1)", sorted(added | removed)
        )
    }
    changes = []
    for key, ids in (("$add", added), ("$remove", removed)):
        if ids:
            changes.append(
                {
                    "key": key,
                    "new_value": [{"id": str(r), "name": names.get(r, "")} for r in sorted(ids)],
                }
            )
    await audit.record(
        conn,
        ctx.ids,
        guild.guild_id,
        actor.user_id,
        AuditAction.MEMBER_ROLE_UPDATE,
        target_id=user_id,
        changes=changes,
        reason=reason,
    )
    return True


async def change_member_role(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    user_id: int,
    role_id: int,
    *,
    add: bool,
    reason: str | None,
) -> None:
    async def body(conn: Connection) -> None:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        await _require_member(conn, guild_id, user_id)
        current = {
            r["role_id"]
            for r in await conn.fetch(
                "SELECT role_id FROM member_roles WHERE guild_id = $1 AND user_id = $2",
                guild_id,
                user_id,
            )
        }
        await queries.role_row(conn, guild_id, role_id)
        wanted = current | {role_id} if add else current - {role_id}
        if await _set_roles(ctx, conn, guild, actor, user_id, wanted, reason):
            await _emit_member_update(conn, guild_id, user_id)

    await ctx.db.write(body)


async def kick(ctx: Context, actor: Actor, guild_id: int, user_id: int, reason: str | None) -> None:
    async def body(conn: Connection) -> None:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.KICK_MEMBERS)
        await _require_member(conn, guild_id, user_id)
        await require_member_manageable(conn, guild, user_id)
        await remove_member(ctx, conn, guild_id, user_id)
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.MEMBER_KICK,
            target_id=user_id,
            reason=reason,
        )

    await ctx.db.write(body)


async def ban(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    user_id: int,
    *,
    delete_message_seconds: int,
    reason: str | None,
) -> None:
    async def body(conn: Connection) -> None:
        now = ctx.now()
        guild = await guild_access(conn, guild_id, actor.user_id, now)
        guild.require(Permission.BAN_MEMBERS)
        user_row = await queries.user_row(conn, user_id)
        is_member = await conn.fetchval(
            "SELECT true FROM members WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
        )
        if user_id in (actor.user_id, guild.member.owner_id):
            raise DomainError(Error.MISSING_PERMISSIONS)
        if is_member:
            guild.require_outranks(await member_rank(conn, guild, user_id))
        inserted = await conn.fetchval(
            """INSERT INTO bans (guild_id, user_id, reason, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING RETURNING true""",
            guild_id,
            user_id,
            reason,
            now,
        )
        if is_member:
            await remove_member(ctx, conn, guild_id, user_id)
        if delete_message_seconds > 0:
            await _purge_messages(
                conn, guild_id, user_id, now - timedelta(seconds=delete_message_seconds)
            )
        if inserted:
            await _announce_ban(ctx, conn, guild_id, actor, user_row, reason, banned=True)

    await ctx.db.write(body)


async def _announce_ban(
    ctx: Context,
    conn: Connection,
    guild_id: int,
    actor: Actor,
    user_row: asyncpg.Record,
    reason: str | None,
    *,
    banned: bool,
) -> None:
    event = "GUILD_BAN_ADD" if banned else "GUILD_BAN_REMOVE"
    data = {"guild_id": str(guild_id), "user": shapes.user(user_row)}
    await events.emit_guild(conn, guild_id, event, data)
    action = AuditAction.MEMBER_BAN_ADD if banned else AuditAction.MEMBER_BAN_REMOVE
    await audit.record(
        conn, ctx.ids, guild_id, actor.user_id, action, target_id=user_row["id"], reason=reason
    )


async def _purge_messages(conn: Connection, guild_id: int, user_id: int, since: datetime) -> None:
    """Delete a banned user's recent messages, one MESSAGE_DELETE_BULK per channel."""
    floor = snowflake_floor(int(since.timestamp() * 1000))
    rows = await conn.fetch(
        """SELECT channel_id, array_agg(id ORDER BY id) AS ids FROM messages
           WHERE guild_id = $1 AND author_id = $2 AND id >= $3 GROUP BY channel_id""",
        guild_id,
        user_id,
        floor,
    )
    for r in rows:
        await delete_rows(conn, guild_id, r["channel_id"], list(r["ids"]))


async def unban(
    ctx: Context, actor: Actor, guild_id: int, user_id: int, reason: str | None
) -> None:
    async def body(conn: Connection) -> None:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.BAN_MEMBERS)
        deleted = await conn.fetchval(
            "DELETE FROM bans WHERE guild_id = $1 AND user_id = $2 RETURNING true",
            guild_id,
            user_id,
        )
        if not deleted:
            raise DomainError(Error.UNKNOWN_BAN)
        user_row = await queries.user_row(conn, user_id)
        await _announce_ban(ctx, conn, guild_id, actor, user_row, reason, banned=False)

    await ctx.db.write(body)
