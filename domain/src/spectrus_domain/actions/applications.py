"""Applications and their bots, made as on Discord's developer API: create an
application (which creates its bot user), reset the bot's token, and authorize the bot
into a guild through the OAuth2 ``bot`` scope."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from spectrus_domain import audit, credentials, events, queries, shapes
from spectrus_domain.access import Actor, guild_access
from spectrus_domain.actions.auth import check_account_room
from spectrus_domain.actions.guilds import add_member
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.permissions import ALL_PERMISSIONS, Permission
from spectrus_domain.storage.db import Connection, Executor, update


async def render(conn: Executor, row: Any) -> dict[str, Any]:
    owner = await queries.user_row(conn, row["owner_id"])
    bot = await queries.user_row(conn, row["bot_user_id"])
    return shapes.application(row, owner, bot)


async def _application(conn: Executor, application_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM applications WHERE id = $1", application_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_APPLICATION)
    return row


async def create_application(
    ctx: Context, actor: Actor, *, name: str, description: str = ""
) -> dict[str, Any]:
    if actor.bot:
        raise DomainError(Error.BOTS_CANNOT_USE)
    # As on Discord, the application and its bot user share one id.
    app_id = ctx.ids.next()

    async def body(conn: Connection) -> dict[str, Any]:
        # A bot is an account like any other: without this a capped instance would still
        # grow without bound, one application at a time.
        await check_account_room(ctx, conn)
        await conn.execute(
            "INSERT INTO users (id, username, bot, created_at) VALUES ($1, $2, true, $3)",
            app_id,
            name,
            ctx.now(),
        )
        # The key that would verify interaction webhooks; Spectrus sends none yet.
        verify_key = secrets.token_hex(32)
        row = await conn.fetchrow(
            """INSERT INTO applications (id, name, description, owner_id, bot_user_id, verify_key,
                                         created_at)
               VALUES ($1, $2, $3, $4, $1, $5, $6) RETURNING *""",
            app_id,
            name,
            description,
            actor.user_id,
            verify_key,
            ctx.now(),
        )
        return await render(conn, row)

    return await ctx.db.write(body)


async def list_applications(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    rows = await ctx.db.fetch(
        "SELECT * FROM applications WHERE owner_id = $1 ORDER BY id", actor.user_id
    )
    return [await render(ctx.db.pool, r) for r in rows]


async def get_application(ctx: Context, actor: Actor, application_id: int) -> dict[str, Any]:
    row = await _application(ctx.db.pool, application_id)
    if actor.user_id not in (row["owner_id"], row["bot_user_id"]):
        raise DomainError(Error.MISSING_ACCESS)
    return await render(ctx.db.pool, row)


async def current_application(ctx: Context, actor: Actor) -> dict[str, Any]:
    """``GET /oauth2/applications/@me`` with a bot token: the bot's own application."""
    row = await ctx.db.fetchrow("SELECT * FROM applications WHERE bot_user_id = $1", actor.user_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_APPLICATION)
    return await render(ctx.db.pool, row)


# The application flags an owner may set: the gateway's privileged-intent switches
# (GATEWAY_PRESENCE, GATEWAY_GUILD_MEMBERS, GATEWAY_MESSAGE_CONTENT and their _LIMITED forms).
EDITABLE_FLAGS = (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15) | (1 << 18) | (1 << 19)


async def modify_application(
    ctx: Context, actor: Actor, application_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """``PATCH /applications/{id}`` by its owner (or ``/applications/@me`` by its bot)."""

    async def body(conn: Connection) -> dict[str, Any]:
        row = await _application(conn, application_id)
        if actor.user_id not in (row["owner_id"], row["bot_user_id"]):
            raise DomainError(Error.MISSING_ACCESS)
        fields = {
            k: v
            for k, v in changes.items()
            if k in ("name", "description", "bot_public") and v is not None
        }
        if changes.get("flags") is not None:
            fields["flags"] = (row["flags"] & ~EDITABLE_FLAGS) | (changes["flags"] & EDITABLE_FLAGS)
        if fields:
            row = await update(conn, "applications", {"id": application_id}, fields)
        if "name" in fields:
            await conn.execute(
                "UPDATE users SET username = $2 WHERE id = $1", row["bot_user_id"], fields["name"]
            )
        return await render(conn, row)

    return await ctx.db.write(body)


async def reset_bot_token(ctx: Context, actor: Actor, application_id: int) -> str:
    """A new bot token; every earlier one stops working at once."""

    async def body(conn: Connection) -> str:
        row = await _application(conn, application_id)
        if row["owner_id"] != actor.user_id:
            raise DomainError(Error.MISSING_ACCESS)
        bot_id = row["bot_user_id"]
        await conn.execute(
            "UPDATE auth_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            bot_id,
            ctx.now(),
        )
        token = credentials.new_token(bot_id)
        await conn.execute(
            """INSERT INTO auth_tokens (id, user_id, kind, token_hash, created_at, last_used_at)
               VALUES ($1, $2, 'bot', $3, $4, $4)""",
            ctx.ids.next(),
            bot_id,
            credentials.token_hash(token),
            ctx.now(),
        )
        return token

    return await ctx.db.write(body)


async def authorize_bot(
    ctx: Context,
    actor: Actor,
    *,
    client_id: int,
    guild_id: int,
    permissions: int,
    reason: str | None = None,
) -> None:
    """Add an application's bot to a guild (MANAGE_GUILD). Requested permissions become
    the bot's managed role; nobody can hand out bits they do not hold."""
    if actor.bot:
        raise DomainError(Error.BOTS_CANNOT_USE)

    async def body(conn: Connection) -> None:
        app = await _application(conn, client_id)
        if not app["bot_public"] and app["owner_id"] != actor.user_id:
            raise invalid_form("client_id", "APPLICATION_NOT_PUBLIC", "This bot is private")
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.MANAGE_GUILD)
        bits = permissions & ALL_PERMISSIONS
        guild.require_grantable(bits)
        bot_id = app["bot_user_id"]
        if not await add_member(ctx, conn, guild_id, bot_id):
            return  # already there
        if bits:
            role_id = ctx.ids.next()
            await conn.execute(
                """INSERT INTO roles (id, guild_id, name, position, permissions, managed, bot_id)
                   VALUES ($1, $2, $3, 1, $4, true, $5)""",
                role_id,
                guild_id,
                app["name"],
                bits,
                bot_id,
            )
            await conn.execute(
                "INSERT INTO member_roles (guild_id, user_id, role_id) VALUES ($1, $2, $3)",
                guild_id,
                bot_id,
                role_id,
            )
            role = shapes.role(await queries.role_row(conn, guild_id, role_id))
            await events.emit_guild(
                conn, guild_id, "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role}
            )
            member = await queries.member(conn, guild_id, bot_id)
            await events.emit_guild(
                conn, guild_id, "GUILD_MEMBER_UPDATE", {**member, "guild_id": str(guild_id)}
            )
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.BOT_ADD,
            target_id=bot_id,
            reason=reason,
        )

    await ctx.db.write(body)
