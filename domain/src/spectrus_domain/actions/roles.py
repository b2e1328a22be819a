"""Guild roles: create, modify, reorder, delete, with Discord's hierarchy rules.

A member may only manage roles ranked below their own highest role, and may only grant
permission bits they hold (the owner and administrators are exempt from both).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from spectrus_domain import audit, events, limits, queries, shapes
from spectrus_domain.access import Actor, GuildAccess, guild_access, role_rank
from spectrus_domain.actions.channels import emit_channel
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.permissions import Permission
from spectrus_domain.storage.db import Connection, update

ROLE_EDITABLE = ("name", "permissions", "color", "hoist", "mentionable", "unicode_emoji")


def _audit_view(row: Any, keys: Any) -> dict[str, Any]:
    return {k: str(row[k]) if k == "permissions" else row[k] for k in keys}


async def _manageable_role(conn: Connection, guild: GuildAccess, role_id: int) -> asyncpg.Record:
    guild.require(Permission.MANAGE_ROLES)
    row = await queries.role_row(conn, guild.guild_id, role_id)
    if row["id"] != guild.guild_id:  # anyone with MANAGE_ROLES may edit @everyone's bits
        guild.require_outranks(role_rank(row["position"], row["id"]))
    return row


async def _emit_role(conn: Connection, guild_id: int, event: str, role_id: int) -> dict[str, Any]:
    data = shapes.role(await queries.role_row(conn, guild_id, role_id))
    await events.emit_guild(conn, guild_id, event, {"guild_id": str(guild_id), "role": data})
    return data


async def create_role(
    ctx: Context, actor: Actor, guild_id: int, spec: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.MANAGE_ROLES)
        count = await conn.fetchval("SELECT count(*) FROM roles WHERE guild_id = $1", guild_id)
        if count >= limits.ROLES_PER_GUILD:
            raise DomainError(Error.MAX_ROLES)
        bits = spec.get("permissions")
        if bits is None:
            bits = int(await conn.fetchval("SELECT permissions FROM roles WHERE id = $1", guild_id))
        guild.require_grantable(bits)
        role_id = ctx.ids.next()
        # Position 1, just above @everyone; equal positions rank newer roles lower, so
        # no other role has to move.
        await conn.execute(
            """INSERT INTO roles (id, guild_id, name, color, hoist, position, permissions,
                                  mentionable, unicode_emoji)
               VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)""",
            role_id,
            guild_id,
            spec.get("name") or "new role",
            spec.get("color") or 0,
            bool(spec.get("hoist")),
            bits,
            bool(spec.get("mentionable")),
            spec.get("unicode_emoji"),
        )
        row = await queries.role_row(conn, guild_id, role_id)
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.ROLE_CREATE,
            target_id=role_id,
            changes=audit.diff(
                {}, _audit_view(row, ("name", "permissions", "color", "hoist", "mentionable"))
            ),
            reason=reason,
        )
        return await _emit_role(conn, guild_id, "GUILD_ROLE_CREATE", role_id)

    return await ctx.db.write(body)


async def modify_role(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    role_id: int,
    changes: dict[str, Any],
    reason: str | None,
) -> dict[str, Any]:
    async def body(conn: Connection) -> dict[str, Any]:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        row = await _manageable_role(conn, guild, role_id)
        fields = {k: v for k, v in changes.items() if k in ROLE_EDITABLE}
        if role_id == guild_id:
            fields.pop("name", None)  # @everyone keeps its name
        if row["managed"]:
            fields.pop("name", None)
        for key, default in (
            ("color", 0),
            ("hoist", False),
            ("mentionable", False),
            ("name", "new role"),
        ):
            if key in fields and fields[key] is None:
                fields[key] = default
        if fields.get("permissions") is None:
            fields.pop("permissions", None)
        else:
            # Granting is limited to held bits; bits the role already had may stay.
            guild.require_grantable(fields["permissions"] & ~row["permissions"])
        new = await update(conn, "roles", {"id": role_id}, fields) if fields else row
        changed = audit.diff(_audit_view(row, fields), _audit_view(new, fields))
        if not changed:
            return shapes.role(new)
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.ROLE_UPDATE,
            target_id=role_id,
            changes=changed,
            reason=reason,
        )
        return await _emit_role(conn, guild_id, "GUILD_ROLE_UPDATE", role_id)

    return await ctx.db.write(body)


async def modify_positions(
    ctx: Context, actor: Actor, guild_id: int, moves: list[dict[str, Any]], reason: str | None
) -> list[dict[str, Any]]:
    async def body(conn: Connection) -> list[dict[str, Any]]:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        guild.require(Permission.MANAGE_ROLES)
        for i, move in enumerate(moves):
            if move["id"] == guild_id:
                raise invalid_form(f"{i}.id", "ROLE_EVERYONE", "@everyone cannot be moved")
            row = await conn.fetchrow(
                "SELECT * FROM roles WHERE id = $1 AND guild_id = $2 FOR UPDATE",
                move["id"],
                guild_id,
            )
            if row is None:
                raise invalid_form(f"{i}.id", "UNKNOWN_ROLE", "Unknown role of this guild")
            position = move.get("position")
            if position is None or position == row["position"]:
                continue
            guild.require_outranks(role_rank(row["position"], row["id"]))
            guild.require_outranks(role_rank(position, row["id"]))
            await conn.execute("UPDATE roles SET position = $2 WHERE id = $1", row["id"], position)
            await audit.record(
                conn,
                ctx.ids,
                guild_id,
                actor.user_id,
                AuditAction.ROLE_UPDATE,
                target_id=row["id"],
                changes=audit.diff({"position": row["position"]}, {"position": position}),
                reason=reason,
            )
            await _emit_role(conn, guild_id, "GUILD_ROLE_UPDATE", row["id"])
        return [shapes.role(r) for r in await queries.roles(conn, guild_id)]

    return await ctx.db.write(body)


async def delete_role(
    ctx: Context, actor: Actor, guild_id: int, role_id: int, reason: str | None
) -> None:
    async def body(conn: Connection) -> None:
        guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        row = await _manageable_role(conn, guild, role_id)
        if role_id == guild_id or row["managed"]:
            raise invalid_form("role_id", "ROLE_NOT_DELETABLE", "This role cannot be deleted")
        await conn.execute("DELETE FROM roles WHERE id = $1", role_id)
        affected = await conn.fetch(
            "DELETE FROM overwrites WHERE target_id = $1 AND type = 0 RETURNING channel_id", role_id
        )
        for r in affected:
            await emit_channel(conn, "CHANNEL_UPDATE", r["channel_id"])
        await events.emit_guild(
            conn,
            guild_id,
            "GUILD_ROLE_DELETE",
            {"guild_id": str(guild_id), "role_id": str(role_id)},
        )
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.ROLE_DELETE,
            target_id=role_id,
            changes=audit.diff(
                _audit_view(row, ("name", "permissions", "color", "hoist", "mentionable")), {}
            ),
            reason=reason,
        )

    await ctx.db.write(body)
