"""Invites: create (expiry, use limits, temporary membership), revoke, and accept."""

from __future__ import annotations

import secrets
import string
from datetime import timedelta
from typing import Any

from spectrus_domain import audit, events, limits, shapes
from spectrus_domain.access import Actor, channel_access, guild_access
from spectrus_domain.actions.guilds import add_member
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.permissions import Permission
from spectrus_domain.storage.db import Connection, Executor, one

_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 10  # 59 bits: invite codes are not guessable


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


async def render(
    conn: Executor,
    row: Any,
    *,
    with_metadata: bool,
    with_counts: bool = False,
) -> dict[str, Any]:
    guild_row = await conn.fetchrow("SELECT * FROM guilds WHERE id = $1", row["guild_id"])
    channel_row = await one(
        conn, "SELECT id, name, type FROM channels WHERE id = $1", row["channel_id"]
    )
    inviter = None
    if row["inviter_id"] is not None:
        inviter = await conn.fetchrow(
            f"SELECT {shapes.USER_COLUMNS} FROM users u WHERE u.id = $1", row["inviter_id"]
        )
    counts = None
    if with_counts:
        members = await conn.fetchval(
            "SELECT count(*) FROM members WHERE guild_id = $1", row["guild_id"]
        )
        counts = (members, 0)  # presence counts arrive with the gateway
    return shapes.invite(
        row,
        guild_row=guild_row,
        channel_row=channel_row,
        inviter=inviter,
        with_metadata=with_metadata,
        counts=counts,
    )


async def create_invite(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    *,
    max_age: int,
    max_uses: int,
    temporary: bool,
    reason: str | None,
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        now = ctx.now()
        access = await channel_access(conn, channel_id, actor.user_id, now)
        if access.guild is None or access.channel["type"] == shapes.CHANNEL_CATEGORY:
            raise DomainError(Error.INVALID_CHANNEL_TYPE)
        access.require(Permission.CREATE_INSTANT_INVITE)
        guild_id = access.guild.guild_id
        count = await conn.fetchval("SELECT count(*) FROM invites WHERE guild_id = $1", guild_id)
        if count >= limits.INVITES_PER_GUILD:
            raise DomainError(Error.MAX_INVITES)
        row = None
        while row is None:  # a code collision is astronomically rare; just draw again
            row = await conn.fetchrow(
                """INSERT INTO invites (code, guild_id, channel_id, inviter_id, max_age, max_uses,
                                        temporary, created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT (code) DO NOTHING RETURNING *""",
                new_code(),
                guild_id,
                channel_id,
                actor.user_id,
                max_age,
                max_uses,
                temporary,
                now,
                now + timedelta(seconds=max_age) if max_age else None,
            )
        data = await render(conn, row, with_metadata=True)
        await events.emit_guild(
            conn,
            guild_id,
            "INVITE_CREATE",
            {**data, "channel_id": str(channel_id), "guild_id": str(guild_id)},
            channel_id=channel_id,
        )
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.INVITE_CREATE,
            changes=audit.diff(
                {},
                {
                    "code": row["code"],
                    "channel_id": str(channel_id),
                    "inviter_id": str(actor.user_id),
                    "max_uses": max_uses,
                    "max_age": max_age,
                    "temporary": temporary,
                    "uses": 0,
                },
            ),
            reason=reason,
        )
        return data

    return await ctx.db.write(body)


async def _emit_invite_delete(conn: Connection, row: Any) -> None:
    await events.emit_guild(
        conn,
        row["guild_id"],
        "INVITE_DELETE",
        {
            "channel_id": str(row["channel_id"]),
            "guild_id": str(row["guild_id"]),
            "code": row["code"],
        },
        channel_id=row["channel_id"],
    )


async def delete_invite(
    ctx: Context, actor: Actor, code: str, reason: str | None
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        row = await conn.fetchrow("SELECT * FROM invites WHERE code = $1 FOR UPDATE", code)
        if row is None:
            raise DomainError(Error.UNKNOWN_INVITE)
        guild = await guild_access(conn, row["guild_id"], actor.user_id, ctx.now())
        if not guild.permissions & Permission.MANAGE_GUILD:
            access = await channel_access(conn, row["channel_id"], actor.user_id, ctx.now())
            access.require(Permission.MANAGE_CHANNELS)
        data = await render(conn, row, with_metadata=True)
        await conn.execute("DELETE FROM invites WHERE code = $1", code)
        await _emit_invite_delete(conn, row)
        await audit.record(
            conn,
            ctx.ids,
            row["guild_id"],
            actor.user_id,
            AuditAction.INVITE_DELETE,
            changes=audit.diff(
                {"code": code, "channel_id": str(row["channel_id"]), "uses": row["uses"]}, {}
            ),
            reason=reason,
        )
        return data

    return await ctx.db.write(body)


async def accept_invite(ctx: Context, actor: Actor, code: str) -> dict[str, Any]:
    """Join the invite's guild. Using an invite while already a member costs no use."""
    if actor.bot:
        raise DomainError(Error.BOTS_CANNOT_USE)

    async def body(conn: Connection) -> dict[str, Any]:
        now = ctx.now()
        row = await conn.fetchrow(
            "SELECT * FROM invites WHERE code = $1 AND (expires_at IS NULL OR expires_at > $2)",
            code,
            now,
        )
        if row is None:
            raise DomainError(Error.UNKNOWN_INVITE)
        already = await conn.fetchval(
            "SELECT true FROM members WHERE guild_id = $1 AND user_id = $2",
            row["guild_id"],
            actor.user_id,
        )
        if not already:
            row = await conn.fetchrow(
                """UPDATE invites SET uses = uses + 1
                   WHERE code = $1 AND (max_uses = 0 OR uses < max_uses) RETURNING *""",
                code,
            )
            if row is None:  # the last use went to someone else a moment ago
                raise DomainError(Error.UNKNOWN_INVITE)
            await add_member(ctx, conn, row["guild_id"], actor.user_id, temporary=row["temporary"])
        data = await render(conn, row, with_metadata=False, with_counts=True)
        data["new_member"] = not already
        if row["max_uses"] and row["uses"] >= row["max_uses"]:
            await conn.execute("DELETE FROM invites WHERE code = $1", code)
            await _emit_invite_delete(conn, row)
        return data

    return await ctx.db.write(body)


async def get_invite(ctx: Context, code: str, *, with_counts: bool) -> dict[str, Any]:
    row = await ctx.db.fetchrow(
        "SELECT * FROM invites WHERE code = $1 AND (expires_at IS NULL OR expires_at > $2)",
        code,
        ctx.now(),
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_INVITE)
    return await render(ctx.db.pool, row, with_metadata=False, with_counts=with_counts)


async def list_invites(
    ctx: Context, actor: Actor, *, guild_id: int | None = None, channel_id: int | None = None
) -> list[dict[str, Any]]:
    """A guild's invites (MANAGE_GUILD) or a channel's (MANAGE_CHANNELS)."""
    async with ctx.db.pool.acquire() as conn:
        now = ctx.now()
        if channel_id is not None:
            access = await channel_access(conn, channel_id, actor.user_id, now)
            if access.guild is None:
                raise DomainError(Error.DM_CHANNEL)
            access.require(Permission.MANAGE_CHANNELS)
            rows = await conn.fetch(
                "SELECT * FROM invites WHERE channel_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at",
                channel_id,
                now,
            )
        else:
            assert guild_id is not None
            guild = await guild_access(conn, guild_id, actor.user_id, now)
            guild.require(Permission.MANAGE_GUILD)
            rows = await conn.fetch(
                "SELECT * FROM invites WHERE guild_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at",
                guild_id,
                now,
            )
        return [await render(conn, r, with_metadata=True) for r in rows]
