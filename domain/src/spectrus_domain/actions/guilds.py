"""Guilds: create (with Discord's default layout or given channels and roles), modify,
delete, and the membership changes every join path shares."""

from __future__ import annotations

from typing import Any

from spectrus_domain import audit, events, limits, queries, shapes
from spectrus_domain.access import Actor, guild_access
from spectrus_domain.actions import voice
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.permissions import DEFAULT_EVERYONE, Permission
from spectrus_domain.storage.db import Connection, update

GUILD_EDITABLE = (
    "name",
    "description",
    "verification_level",
    "default_message_notifications",
    "explicit_content_filter",
    "afk_channel_id",
    "afk_timeout",
    "system_channel_id",
    "system_channel_flags",
    "preferred_locale",
    "owner_id",
    "message_retention_days",
)


async def add_member(
    ctx: Context, conn: Connection, guild_id: int, user_id: int, *, temporary: bool = False
) -> bool:
    """Make ``user_id`` a member (banned users may not join). False if already one."""
    if await conn.fetchval(
        "SELECT true FROM bans WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
    ):
        raise DomainError(Error.BANNED_FROM_GUILD)
    joined = await conn.fetchval("SELECT count(*) FROM members WHERE user_id = $1", user_id)
    if joined >= limits.GUILDS_PER_USER:
        raise DomainError(Error.MAX_GUILDS)
    inserted = await conn.fetchval(
        """INSERT INTO members (guild_id, user_id, joined_at, temporary) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING true""",
        guild_id,
        user_id,
        ctx.now(),
        temporary,
    )
    if not inserted:
        return False
    data = await queries.member(conn, guild_id, user_id)
    data["guild_id"] = str(guild_id)
    await events.grant_stream(conn, user_id, "GUILD_CREATE", {"id": str(guild_id)}, guild_id)
    await events.emit_guild(conn, guild_id, "GUILD_MEMBER_ADD", data)
    return True


async def remove_member(ctx: Context, conn: Connection, guild_id: int, user_id: int) -> bool:
    """Remove a membership (kick, ban, leave); tells the guild and the user."""
    user_row = await conn.fetchrow(
        f"SELECT {shapes.USER_COLUMNS} FROM users u WHERE u.id = $1", user_id
    )
    await voice.drop(conn, guild_id, user_id)
    deleted = await conn.fetchval(
        "DELETE FROM members WHERE guild_id = $1 AND user_id = $2 RETURNING true", guild_id, user_id
    )
    if not deleted or user_row is None:
        return False
    await events.emit_guild(
        conn,
        guild_id,
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(guild_id), "user": shapes.user(user_row)},
    )
    await events.revoke_stream(conn, user_id, "GUILD_DELETE", {"id": str(guild_id)}, guild_id)
    return True


def _placeholder(value: Any, mapping: dict[int, int], path: str) -> int | None:
    if value is None:
        return None
    if int(value) not in mapping:
        raise invalid_form(path, "GUILD_CREATE_CHANNEL_ID_INVALID", "Unknown placeholder id")
    return mapping[int(value)]


async def create_guild(
    ctx: Context,
    actor: Actor,
    *,
    name: str,
    description: str | None = None,
    channels: list[dict[str, Any]] | None = None,
    roles: list[dict[str, Any]] | None = None,
    system_channel_id: int | None = None,
    afk_channel_id: int | None = None,
    afk_timeout: int = 300,
    verification_level: int = 0,
    default_message_notifications: int = 0,
    explicit_content_filter: int = 0,
) -> dict[str, Any]:
    """Create a guild owned by ``actor``. Without ``channels`` it gets Discord's default
    layout. Given ``channels`` name their categories by placeholder ids; ``roles[0]`` sets
    @everyone's permissions; ``system_channel_id``/``afk_channel_id`` are placeholders."""
    guild_id = ctx.ids.next()

    async def body(conn: Connection) -> dict[str, Any]:
        joined = await conn.fetchval(
            "SELECT count(*) FROM members WHERE user_id = $1", actor.user_id
        )
        if joined >= limits.GUILDS_PER_USER:
            raise DomainError(Error.MAX_GUILDS)
        await conn.execute(
            """INSERT INTO guilds (id, name, description, owner_id, afk_timeout,
                   verification_level, default_message_notifications, explicit_content_filter,
                   created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            guild_id,
            name,
            description,
            actor.user_id,
            afk_timeout,
            verification_level,
            default_message_notifications,
            explicit_content_filter,
            ctx.now(),
        )
        await _create_roles(ctx, conn, guild_id, roles or [])
        placeholders, default_system = await _create_channels(ctx, conn, guild_id, channels)
        system = _placeholder(system_channel_id, placeholders, "system_channel_id")
        afk = _placeholder(afk_channel_id, placeholders, "afk_channel_id")
        await _check_special_channels(
            conn, guild_id, {"system_channel_id": system, "afk_channel_id": afk}
        )
        await conn.execute(
            "UPDATE guilds SET system_channel_id = $2, afk_channel_id = $3 WHERE id = $1",
            guild_id,
            system or default_system,
            afk,
        )
        await conn.execute(
            "INSERT INTO members (guild_id, user_id, joined_at) VALUES ($1, $2, $3)",
            guild_id,
            actor.user_id,
            ctx.now(),
        )
        await events.grant_stream(
            conn, actor.user_id, "GUILD_CREATE", {"id": str(guild_id)}, guild_id
        )
        return await queries.guild(conn, guild_id)

    return await ctx.db.write(body)


async def _create_roles(
    ctx: Context, conn: Connection, guild_id: int, roles: list[dict[str, Any]]
) -> None:
    """@everyone (id = guild id) first, from ``roles[0]`` if given, then the rest."""
    everyone = roles[0] if roles else {}
    await conn.execute(
        """INSERT INTO roles (id, guild_id, name, position, permissions)
           VALUES ($1, $1, '@everyone', 0, $2)""",
        guild_id,
        int(everyone.get("permissions", DEFAULT_EVERYONE)),
    )
    for position, spec in enumerate(roles[1:], start=1):
        await conn.execute(
            """INSERT INTO roles (id, guild_id, name, color, hoist, position, permissions,
                                  mentionable)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            ctx.ids.next(),
            guild_id,
            spec.get("name") or "new role",
            spec.get("color") or 0,
            bool(spec.get("hoist")),
            position,
            int(spec.get("permissions") or 0),
            bool(spec.get("mentionable")),
        )


async def _create_channels(
    ctx: Context, conn: Connection, guild_id: int, channels: list[dict[str, Any]] | None
) -> tuple[dict[int, int], int | None]:
    """Create the channels; return placeholder id -> real id, and the channel that should
    be the system channel when the caller names none (the default layout's "general")."""
    layout: list[tuple[int, int, str, int | None]] = []  # id, type, name, parent
    placeholders: dict[int, int] = {}
    default_system: int | None = None
    if channels is None:
        text_category, voice_category = ctx.ids.next(), ctx.ids.next()
        default_system = ctx.ids.next()
        layout = [
            (text_category, shapes.CHANNEL_CATEGORY, "Text Channels", None),
            (voice_category, shapes.CHANNEL_CATEGORY, "Voice Channels", None),
            (default_system, shapes.CHANNEL_TEXT, "general", text_category),
            (ctx.ids.next(), shapes.CHANNEL_VOICE, "General", voice_category),
        ]
    else:
        if len(channels) > limits.CHANNELS_PER_GUILD:
            raise DomainError(Error.MAX_CHANNELS)
        real_ids = [ctx.ids.next() for _ in channels]
        placeholders = {
            int(spec["id"]): real
            for spec, real in zip(channels, real_ids, strict=True)
            if spec.get("id") is not None
        }
        kinds = {
            real: int(spec.get("type", 0)) for spec, real in zip(channels, real_ids, strict=True)
        }
        for i, (spec, real) in enumerate(zip(channels, real_ids, strict=True)):
            parent = _placeholder(spec.get("parent_id"), placeholders, f"channels.{i}.parent_id")
            if parent is not None and kinds[parent] != shapes.CHANNEL_CATEGORY:
                raise invalid_form(
                    f"channels.{i}.parent_id", "CHANNEL_PARENT_INVALID", "Not a category"
                )
            layout.append((real, kinds[real], spec["name"], parent))
    for position, (cid, kind, name, _parent) in enumerate(layout):
        voice = kind == shapes.CHANNEL_VOICE
        await conn.execute(
            """INSERT INTO channels (id, type, guild_id, name, position, bitrate, user_limit,
                                     created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            cid,
            kind,
            guild_id,
            name,
            position,
            64_000 if voice else None,
            0 if voice else None,
            ctx.now(),
        )
    # Parents after all rows exist, so a child may be listed before its category.
    for cid, _kind, _name, parent in layout:
        if parent is not None:
            await conn.execute("UPDATE channels SET parent_id = $2 WHERE id = $1", cid, parent)
    return placeholders, default_system


async def modify_guild(
    ctx: Context, actor: Actor, guild_id: int, changes: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        access = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        access.require(Permission.MANAGE_GUILD)
        fields = {k: v for k, v in changes.items() if k in GUILD_EDITABLE}
        if "owner_id" in fields:
            access.require_owner()
            is_member = await conn.fetchval(
                "SELECT true FROM members WHERE guild_id = $1 AND user_id = $2",
                guild_id,
                fields["owner_id"],
            )
            if not is_member:
                raise invalid_form("owner_id", "GUILD_OWNER_INVALID", "New owner must be a member")
        await _check_special_channels(conn, guild_id, fields)
        before = dict(access.row)
        after_row = await update(conn, "guilds", {"id": guild_id}, fields) if fields else access.row
        data = await queries.guild(conn, guild_id)
        changed = audit.diff(
            {k: before[k] for k in fields},
            {k: after_row[k] for k in fields},
        )
        if changed:
            await audit.record(
                conn,
                ctx.ids,
                guild_id,
                actor.user_id,
                AuditAction.GUILD_UPDATE,
                target_id=guild_id,
                changes=changed,
                reason=reason,
            )
            await events.emit_guild(
                conn, guild_id, "GUILD_UPDATE", {**data, "guild_id": str(guild_id)}
            )
        return data

    return await ctx.db.write(body)


async def _check_special_channels(conn: Connection, guild_id: int, fields: dict[str, Any]) -> None:
    """The AFK channel must be a voice channel and the system channel a text channel
    of the same guild."""
    for key, kind in (
        ("afk_channel_id", shapes.CHANNEL_VOICE),
        ("system_channel_id", shapes.CHANNEL_TEXT),
    ):
        if fields.get(key) is None:
            continue
        ok = await conn.fetchval(
            "SELECT true FROM channels WHERE id = $1 AND guild_id = $2 AND type = $3",
            fields[key],
            guild_id,
            kind,
        )
        if not ok:
            raise invalid_form(key, "CHANNEL_INVALID", "Not a suitable channel of this guild")


async def delete_guild(ctx: Context, actor: Actor, guild_id: int) -> None:
    async def body(conn: Connection) -> None:
        access = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        access.require_owner()
        member_ids = [
            r["user_id"]
            for r in await conn.fetch("SELECT user_id FROM members WHERE guild_id = $1", guild_id)
        ]
        await conn.execute("DELETE FROM guilds WHERE id = $1", guild_id)
        for member_id in member_ids:
            await events.revoke_stream(
                conn, member_id, "GUILD_DELETE", {"id": str(guild_id)}, guild_id
            )

    await ctx.db.write(body)


async def leave_guild(ctx: Context, actor: Actor, guild_id: int) -> None:
    async def body(conn: Connection) -> None:
        access = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        if access.is_owner:
            raise invalid_form(
                "guild_id",
                "GUILD_OWNER_CANNOT_LEAVE",
                "The owner cannot leave; transfer or delete the guild",
            )
        await remove_member(ctx, conn, guild_id, actor.user_id)

    await ctx.db.write(body)
