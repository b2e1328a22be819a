"""Reads for services, each checked against the reader's permissions.

``queries`` loads objects; these decide whether the actor may see them, as Discord does:
a guild only to its members, history only with READ_MESSAGE_HISTORY, bans with
BAN_MEMBERS, the audit log with VIEW_AUDIT_LOG.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spectrus_domain import queries, shapes
from spectrus_domain.access import (
    Actor,
    channel_access,
    channel_overwrites,
    guild_access,
    permissions_in,
)
from spectrus_domain.actions.messages import parse_emoji
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.permissions import Permission


async def get_guild(
    ctx: Context, actor: Actor, guild_id: int, *, with_counts: bool
) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        await guild_access(conn, guild_id, actor.user_id, ctx.now())
        return await queries.guild(conn, guild_id, with_counts=with_counts)


async def guild_channels(ctx: Context, actor: Actor, guild_id: int) -> list[dict[str, Any]]:
    """The guild's channels the actor can view."""
    async with ctx.db.pool.acquire() as conn:
        access = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        channels = await queries.guild_channels(conn, guild_id)
    return [
        ch
        for ch in channels
        if permissions_in(access, ch, channel_overwrites(ch)) & Permission.VIEW_CHANNEL
    ]


async def get_channel(ctx: Context, actor: Actor, channel_id: int) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        data = await queries.channel_from_row(conn, access.channel)
        if access.is_private:
            data["recipients"] = [u for u in data["recipients"] if u["id"] != str(actor.user_id)]
        return data


async def list_messages(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    *,
    before: int | None,
    after: int | None,
    around: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    async with ctx.db.pool.acquire() as conn:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        if access.channel["type"] not in shapes.TEXT_CHANNEL_TYPES:
            raise DomainError(Error.INVALID_CHANNEL_TYPE)
        if not access.permissions & Permission.READ_MESSAGE_HISTORY:
            return []  # Discord answers an empty page, not an error
        return await queries.message_page(
            conn,
            channel_id,
            actor.user_id,
            ctx.urls(),
            before=before,
            after=after,
            around=around,
            limit=limit,
        )


async def get_message(
    ctx: Context, actor: Actor, channel_id: int, message_id: int
) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        access.require(Permission.READ_MESSAGE_HISTORY)
        return await queries.message(conn, channel_id, message_id, actor.user_id, ctx.urls())


async def reaction_users(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    message_id: int,
    raw_emoji: str,
    *,
    after: int,
    limit: int,
    burst: bool = False,
) -> list[dict[str, Any]]:
    stored = parse_emoji(raw_emoji)
    async with ctx.db.pool.acquire() as conn:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        access.require(Permission.READ_MESSAGE_HISTORY)
        await queries.message(conn, channel_id, message_id, actor.user_id, ctx.urls())
        if burst:
            return []  # burst ("super") reactions do not exist here
        rows = await conn.fetch(
            f"""SELECT {shapes.USER_COLUMNS} FROM reactions r JOIN users u ON u.id = r.user_id
                WHERE r.message_id = $1 AND r.emoji = $2 AND r.user_id > $3
                ORDER BY r.user_id LIMIT $4""",
            message_id,
            stored,
            after,
            limit,
        )
        return [shapes.user(r) for r in rows]


async def pins(
    ctx: Context, actor: Actor, channel_id: int, *, before: datetime | None, limit: int
) -> tuple[list[tuple[datetime, dict[str, Any]]], bool]:
    """Pinned messages, most recently pinned first; returns ``(page, has_more)``."""
    async with ctx.db.pool.acquire() as conn:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        if not access.permissions & Permission.READ_MESSAGE_HISTORY:
            return [], False
        rows = await conn.fetch(
            queries.MESSAGE_SELECT
            + """ WHERE m.channel_id = $1 AND m.pinned_at IS NOT NULL
                  AND ($2::timestamptz IS NULL OR m.pinned_at < $2)
                  ORDER BY m.pinned_at DESC LIMIT $3""",
            channel_id,
            before,
            limit + 1,
        )
        page = list(rows[:limit])
        rendered = await queries.messages_from_rows(conn, page, actor.user_id, ctx.urls())
        return [(r["pinned_at"], m) for r, m in zip(page, rendered, strict=True)], len(rows) > limit


async def roles(ctx: Context, actor: Actor, guild_id: int) -> list[dict[str, Any]]:
    async with ctx.db.pool.acquire() as conn:
        await guild_access(conn, guild_id, actor.user_id, ctx.now())
        return [shapes.role(r) for r in await queries.roles(conn, guild_id)]


async def role(ctx: Context, actor: Actor, guild_id: int, role_id: int) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        await guild_access(conn, guild_id, actor.user_id, ctx.now())
        return shapes.role(await queries.role_row(conn, guild_id, role_id))


async def member(ctx: Context, actor: Actor, guild_id: int, user_id: int) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        await guild_access(conn, guild_id, actor.user_id, ctx.now())
        return await queries.member(conn, guild_id, user_id)


async def members(
    ctx: Context, actor: Actor, guild_id: int, *, after: int, limit: int
) -> list[dict[str, Any]]:
    async with ctx.db.pool.acquire() as conn:
        await guild_access(conn, guild_id, actor.user_id, ctx.now())
        return await queries.members(conn, guild_id, after=after, limit=limit)


async def search_members(
    ctx: Context, actor: Actor, guild_id: int, query: str, limit: int
) -> list[dict[str, Any]]:
    async with ctx.db.pool.acquire() as conn:
        await guild_access(conn, guild_id, actor.user_id, ctx.now())
        return await queries.search_members(conn, guild_id, query, limit)


_BAN_SELECT = """
SELECT b.reason, u.id AS u_id, u.username AS u_username, u.global_name AS u_global_name,
       u.avatar AS u_avatar, u.bot AS u_bot, u.system AS u_system, u.flags AS u_flags
FROM bans b JOIN users u ON u.id = b.user_id
"""


async def bans(
    ctx: Context, actor: Actor, guild_id: int, *, before: int | None, after: int | None, limit: int
) -> list[dict[str, Any]]:
    async with ctx.db.pool.acquire() as conn:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.BAN_MEMBERS)
        if before is not None and after is None:
            rows = list(
                reversed(
                    await conn.fetch(
                        _BAN_SELECT
                        + " WHERE b.guild_id = $1 AND b.user_id < $2 ORDER BY b.user_id DESC LIMIT $3",
                        guild_id,
                        before,
                        limit,
                    )
                )
            )
        else:
            rows = await conn.fetch(
                _BAN_SELECT
                + " WHERE b.guild_id = $1 AND b.user_id > $2 ORDER BY b.user_id LIMIT $3",
                guild_id,
                after or 0,
                limit,
            )
        return [shapes.ban(r) for r in rows]


async def ban(ctx: Context, actor: Actor, guild_id: int, user_id: int) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.BAN_MEMBERS)
        row = await conn.fetchrow(
            _BAN_SELECT + " WHERE b.guild_id = $1 AND b.user_id = $2", guild_id, user_id
        )
        if row is None:
            raise DomainError(Error.UNKNOWN_BAN)
        return shapes.ban(row)


async def audit_log(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    *,
    user_id: int | None,
    action_type: int | None,
    before: int | None,
    after: int | None,
    limit: int,
) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.VIEW_AUDIT_LOG)
        filters = """guild_id = $1 AND ($2::bigint IS NULL OR user_id = $2)
                     AND ($3::smallint IS NULL OR action_type = $3)"""
        if after is not None and before is None:
            rows = list(
                reversed(
                    await conn.fetch(
                        f"SELECT * FROM audit_log WHERE {filters} AND id > $4 ORDER BY id LIMIT $5",
                        guild_id,
                        user_id,
                        action_type,
                        after,
                        limit,
                    )
                )
            )
        else:
            rows = await conn.fetch(
                f"SELECT * FROM audit_log WHERE {filters} AND id < $4 ORDER BY id DESC LIMIT $5",
                guild_id,
                user_id,
                action_type,
                before if before is not None else (1 << 63) - 1,
                limit,
            )
        entries = [shapes.audit_entry(r) for r in rows]
        user_ids = sorted(
            {r["user_id"] for r in rows if r["user_id"]}
            | {r["target_id"] for r in rows if r["target_id"] and r["action_type"] in _USER_TARGETS}
        )
        users = await queries.users_by_id(conn, user_ids)
        return {
            "audit_log_entries": entries,
            "users": [shapes.user(u) for u in users.values()],
            "application_commands": [],
            "auto_moderation_rules": [],
            "guild_scheduled_events": [],
            "integrations": [],
            "threads": [],
            "webhooks": [],
        }


# Action types whose target is a user (their users are included in the response).
_USER_TARGETS = {20, 22, 23, 24, 25, 28, 72, 74, 75}


async def my_guilds(
    ctx: Context,
    actor: Actor,
    *,
    before: int | None,
    after: int | None,
    limit: int,
    with_counts: bool,
) -> list[dict[str, Any]]:
    """``GET /users/@me/guilds``: partial guilds with the actor's permissions in each."""
    async with ctx.db.pool.acquire() as conn:
        if before is not None and after is None:
            rows = list(
                reversed(
                    await conn.fetch(
                        "SELECT guild_id FROM members WHERE user_id = $1 AND guild_id < $2 ORDER BY guild_id DESC LIMIT $3",
                        actor.user_id,
                        before,
                        limit,
                    )
                )
            )
        else:
            rows = await conn.fetch(
                "SELECT guild_id FROM members WHERE user_id = $1 AND guild_id > $2 ORDER BY guild_id LIMIT $3",
                actor.user_id,
                after or 0,
                limit,
            )
        out = []
        for r in rows:
            access = await guild_access(conn, r["guild_id"], actor.user_id, ctx.now())
            g = access.row
            item: dict[str, Any] = {
                "id": str(g["id"]),
                "name": g["name"],
                "icon": g["icon"],
                "banner": None,
                "owner": access.is_owner,
                "permissions": str(access.permissions),
                "features": [],
            }
            if with_counts:
                item["approximate_member_count"] = await conn.fetchval(
                    "SELECT count(*) FROM members WHERE guild_id = $1", g["id"]
                )
                item["approximate_presence_count"] = 0
            out.append(item)
        return out


async def list_emojis(ctx: Context, actor: Actor, guild_id: int) -> list[dict[str, Any]]:
    async with ctx.db.pool.acquire() as conn:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        rows = await queries.emojis(conn, guild_id)
        if not guild.permissions & (
            Permission.MANAGE_GUILD_EXPRESSIONS | Permission.CREATE_GUILD_EXPRESSIONS
        ):
            return [shapes.custom_emoji(r) for r in rows]
        return [await queries.emoji_with_creator(conn, r) for r in rows]


async def get_emoji(ctx: Context, actor: Actor, guild_id: int, emoji_id: int) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        row = await conn.fetchrow(
            "SELECT * FROM emojis WHERE id = $1 AND guild_id = $2", emoji_id, guild_id
        )
        if row is None:
            raise DomainError(Error.UNKNOWN_EMOJI)
        if guild.permissions & (
            Permission.MANAGE_GUILD_EXPRESSIONS | Permission.CREATE_GUILD_EXPRESSIONS
        ):
            return await queries.emoji_with_creator(conn, row)
        return shapes.custom_emoji(row)


async def require_may_attach(ctx: Context, actor: Actor, channel_id: int) -> None:
    """Checked before files are stored, so nobody may make the instance write files
    they could not post (the message action checks again, authoritatively)."""
    async with ctx.db.pool.acquire() as conn:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        access.require(Permission.SEND_MESSAGES, Permission.ATTACH_FILES)


async def require_may_create_emoji(ctx: Context, actor: Actor, guild_id: int) -> None:
    """Checked before the image is stored (the action checks again)."""
    async with ctx.db.pool.acquire() as conn:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        if not guild.permissions & Permission.MANAGE_GUILD_EXPRESSIONS:
            guild.require(Permission.CREATE_GUILD_EXPRESSIONS)
