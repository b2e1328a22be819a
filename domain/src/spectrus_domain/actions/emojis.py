"""Guild emoji: create, rename or restrict to roles, delete. Each change is audited and
announced with GUILD_EMOJIS_UPDATE, which carries the guild's whole emoji list.

Whoever has MANAGE_GUILD_EXPRESSIONS manages every emoji; CREATE_GUILD_EXPRESSIONS lets
a member add emoji and manage their own. The image is written to the file store by the
service before the action runs (pending, like attachments) and claimed on commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from spectrus_domain import audit, events, limits, queries, shapes
from spectrus_domain.access import Actor, GuildAccess, guild_access
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.permissions import Permission
from spectrus_domain.storage import files
from spectrus_domain.storage.db import Connection, one, update


def file_key(emoji_id: int) -> str:
    return f"e/{emoji_id}"


@dataclass(frozen=True)
class EmojiImage:
    """An uploaded emoji image, already checked and in the store under ``file_key``."""

    emoji_id: int
    content_type: str
    animated: bool


def _may_manage(guild: GuildAccess, row: asyncpg.Record) -> None:
    if guild.permissions & Permission.MANAGE_GUILD_EXPRESSIONS:
        return
    if row["user_id"] == guild.member.user_id:
        guild.require(Permission.CREATE_GUILD_EXPRESSIONS)
        return
    raise DomainError(Error.MISSING_PERMISSIONS)


async def _row(conn: Connection, guild_id: int, emoji_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM emojis WHERE id = $1 AND guild_id = $2 FOR UPDATE", emoji_id, guild_id
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_EMOJI)
    return row


async def _valid_roles(conn: Connection, guild_id: int, role_ids: list[int]) -> list[int]:
    unique = sorted(set(role_ids) - {guild_id})
    found = await conn.fetchval(
        "SELECT count(*) FROM roles WHERE guild_id = $1 AND id = ANY($2)", guild_id, unique
    )
    if found != len(unique):
        raise DomainError(Error.UNKNOWN_ROLE)
    return unique


async def _announce(conn: Connection, guild_id: int) -> None:
    emojis = [shapes.custom_emoji(r) for r in await queries.emojis(conn, guild_id)]
    await events.emit_guild(
        conn, guild_id, "GUILD_EMOJIS_UPDATE", {"guild_id": str(guild_id), "emojis": emojis}
    )


async def create_emoji(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    name: str,
    image: EmojiImage,
    role_ids: list[int],
    reason: str | None,
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        if not guild.permissions & Permission.MANAGE_GUILD_EXPRESSIONS:
            guild.require(Permission.CREATE_GUILD_EXPRESSIONS)
        roles = await _valid_roles(conn, guild_id, role_ids)
        count = await conn.fetchval(
            "SELECT count(*) FROM emojis WHERE guild_id = $1 AND animated = $2",
            guild_id,
            image.animated,
        )
        if count >= limits.EMOJIS_PER_GUILD:
            raise DomainError(Error.MAX_EMOJIS)
        if not await files.claim(conn, [file_key(image.emoji_id)]):
            raise DomainError(Error.UPLOAD_EXPIRED)
        row = await one(
            conn,
            """INSERT INTO emojis (id, guild_id, name, animated, role_ids, user_id,
                                   content_type, file_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
            image.emoji_id,
            guild_id,
            name,
            image.animated,
            roles,
            actor.user_id,
            image.content_type,
            file_key(image.emoji_id),
        )
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.EMOJI_CREATE,
            target_id=image.emoji_id,
            changes=audit.diff({}, {"name": name}),
            reason=reason,
        )
        await _announce(conn, guild_id)
        return await queries.emoji_with_creator(conn, row)

    return await ctx.db.write(body)


async def modify_emoji(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    emoji_id: int,
    changes: dict[str, Any],
    reason: str | None,
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        row = await _row(conn, guild_id, emoji_id)
        _may_manage(guild, row)
        fields: dict[str, Any] = {}
        if changes.get("name") is not None:
            fields["name"] = changes["name"]
        if "roles" in changes:
            fields["role_ids"] = await _valid_roles(conn, guild_id, changes["roles"] or [])
        new = await update(conn, "emojis", {"id": emoji_id}, fields) if fields else row
        changed = audit.diff({"name": row["name"]}, {"name": new["name"]})
        if new["role_ids"] != row["role_ids"]:
            changed += audit.diff(
                {"roles": [str(r) for r in row["role_ids"]]},
                {"roles": [str(r) for r in new["role_ids"]]},
            )
        if changed:
            await audit.record(
                conn,
                ctx.ids,
                guild_id,
                actor.user_id,
                AuditAction.EMOJI_UPDATE,
                target_id=emoji_id,
                changes=changed,
                reason=reason,
            )
            await _announce(conn, guild_id)
        return await queries.emoji_with_creator(conn, new)

    return await ctx.db.write(body)


async def delete_emoji(
    ctx: Context, actor: Actor, guild_id: int, emoji_id: int, reason: str | None
) -> None:
    async def body(conn: Connection) -> None:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        row = await _row(conn, guild_id, emoji_id)
        _may_manage(guild, row)
        await conn.execute("DELETE FROM emojis WHERE id = $1", emoji_id)  # its file goes too
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.EMOJI_DELETE,
            target_id=emoji_id,
            changes=audit.diff({"name": row["name"]}, {}),
            reason=reason,
        )
        await _announce(conn, guild_id)

    await ctx.db.write(body)
