"""Direct messages and group DMs: open, add and remove recipients, leave.

Private channels have their own event stream (the channel id) and name their recipients
on every event, since there is no guild membership to derive them from.
"""

from __future__ import annotations

from typing import Any

from spectrus_domain import events, limits, queries, shapes
from spectrus_domain.access import Actor, ChannelAccess, channel_access
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.storage.db import Connection, Executor

SHARES_A_GUILD = """
SELECT true FROM members a JOIN members b ON a.guild_id = b.guild_id
WHERE a.user_id = $1 AND b.user_id = $2 LIMIT 1
"""


async def recipients_of(conn: Connection, channel_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT user_id FROM channel_recipients WHERE channel_id = $1 ORDER BY user_id", channel_id
    )
    return [r["user_id"] for r in rows]


async def emit_private(
    conn: Connection,
    channel_id: int,
    event: str,
    data: dict[str, Any],
    *,
    user_ids: list[int] | None = None,
    channel_seq: int | None = None,
) -> None:
    await events.emit(
        conn,
        event,
        data,
        stream_id=channel_id,
        channel_id=channel_id,
        channel_seq=channel_seq,
        user_ids=user_ids if user_ids is not None else await recipients_of(conn, channel_id),
    )


async def open_dm(ctx: Context, actor: Actor, recipient_id: int) -> dict[str, Any]:
    """The one DM channel between ``actor`` and ``recipient_id``, created if needed."""

    async def body(conn: Connection) -> dict[str, Any]:
        await queries.user_row(conn, recipient_id)
        if recipient_id == actor.user_id:
            raise DomainError(Error.CANNOT_MESSAGE_USER)
        low, high = sorted((actor.user_id, recipient_id))
        existing = await conn.fetchval(
            "SELECT channel_id FROM dm_pairs WHERE user_low = $1 AND user_high = $2", low, high
        )
        if existing is not None:
            return await private_channel_view(conn, existing, actor.user_id)
        channel_id = ctx.ids.next()
        await conn.execute(
            "INSERT INTO channels (id, type, created_at) VALUES ($1, $2, $3)",
            channel_id,
            shapes.CHANNEL_DM,
            ctx.now(),
        )
        inserted = await conn.fetchval(
            """INSERT INTO dm_pairs (user_low, user_high, channel_id) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            low,
            high,
            channel_id,
        )
        if not inserted:  # opened concurrently by the other side: use theirs
            await conn.execute("DELETE FROM channels WHERE id = $1", channel_id)
            existing = await conn.fetchval(
                "SELECT channel_id FROM dm_pairs WHERE user_low = $1 AND user_high = $2", low, high
            )
            return await private_channel_view(conn, existing, actor.user_id)
        await conn.executemany(
            "INSERT INTO channel_recipients (channel_id, user_id) VALUES ($1, $2)",
            [(channel_id, low), (channel_id, high)],
        )
        data = await private_channel_view(conn, channel_id, actor.user_id)
        # Discord tells only the opener; the other side learns of it with the first message.
        await events.grant_stream(conn, actor.user_id, "CHANNEL_CREATE", data, channel_id)
        return data

    return await ctx.db.write(body)


async def private_channel_view(conn: Executor, channel_id: int, viewer: int) -> dict[str, Any]:
    """Discord lists the other recipients only, never the viewer."""
    data = await queries.channel(conn, channel_id)
    data["recipients"] = [u for u in data["recipients"] if u["id"] != str(viewer)]
    return data


async def create_group_dm(
    ctx: Context, actor: Actor, recipient_ids: list[int], name: str | None
) -> dict[str, Any]:
    if actor.bot:
        raise DomainError(Error.BOTS_CANNOT_USE)
    others = sorted(set(recipient_ids) - {actor.user_id})
    if len(others) + 1 > limits.GROUP_DM_RECIPIENTS:
        raise DomainError(Error.MAX_RECIPIENTS)

    async def body(conn: Connection) -> dict[str, Any]:
        for user_id in others:
            await _require_reachable(conn, actor.user_id, user_id)
        channel_id = ctx.ids.next()
        await conn.execute(
            "INSERT INTO channels (id, type, name, owner_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            channel_id,
            shapes.CHANNEL_GROUP_DM,
            name,
            actor.user_id,
            ctx.now(),
        )
        await conn.executemany(
            "INSERT INTO channel_recipients (channel_id, user_id) VALUES ($1, $2)",
            [(channel_id, u) for u in [actor.user_id, *others]],
        )
        for user_id in [actor.user_id, *others]:
            view = await private_channel_view(conn, channel_id, user_id)
            await events.grant_stream(conn, user_id, "CHANNEL_CREATE", view, channel_id)
        return await private_channel_view(conn, channel_id, actor.user_id)

    return await ctx.db.write(body)


async def _require_reachable(conn: Connection, actor_id: int, user_id: int) -> None:
    """People can be put in a DM by those they share a guild with (we have no friends
    list), which keeps strangers from opening conversations."""
    await queries.user_row(conn, user_id)
    if not await conn.fetchval(SHARES_A_GUILD, actor_id, user_id):
        raise DomainError(Error.CANNOT_MESSAGE_USER)


async def add_recipient(ctx: Context, actor: Actor, channel_id: int, user_id: int) -> None:
    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now(), lock=True)
        if access.channel["type"] != shapes.CHANNEL_GROUP_DM:
            raise DomainError(Error.INVALID_CHANNEL_TYPE)
        await _require_reachable(conn, actor.user_id, user_id)
        current = await recipients_of(conn, channel_id)
        if user_id in current:
            return
        if len(current) >= limits.GROUP_DM_RECIPIENTS:
            raise DomainError(Error.MAX_RECIPIENTS)
        await conn.execute(
            "INSERT INTO channel_recipients (channel_id, user_id) VALUES ($1, $2)",
            channel_id,
            user_id,
        )
        user = await queries.user(conn, user_id)
        await emit_private(
            conn, channel_id, "CHANNEL_RECIPIENT_ADD", {"channel_id": str(channel_id), "user": user}
        )
        view = await private_channel_view(conn, channel_id, user_id)
        await events.grant_stream(conn, user_id, "CHANNEL_CREATE", view, channel_id)

    await ctx.db.write(body)


async def remove_recipient(ctx: Context, actor: Actor, channel_id: int, user_id: int) -> None:
    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now(), lock=True)
        if access.channel["type"] != shapes.CHANNEL_GROUP_DM:
            raise DomainError(Error.INVALID_CHANNEL_TYPE)
        if user_id != actor.user_id and access.channel["owner_id"] != actor.user_id:
            raise DomainError(Error.MISSING_PERMISSIONS)
        await _remove(ctx, conn, access, user_id)

    await ctx.db.write(body)


async def leave_private_channel(
    ctx: Context, conn: Connection, access: ChannelAccess, actor: Actor
) -> dict[str, Any]:
    """``DELETE /channels/{dm}``: closing a DM keeps it (it reopens with the next message);
    leaving a group DM removes the actor from it."""
    data = await private_channel_view(conn, access.channel_id, actor.user_id)
    if access.channel["type"] == shapes.CHANNEL_GROUP_DM:
        await _remove(ctx, conn, access, actor.user_id)
    return data


async def _remove(ctx: Context, conn: Connection, access: ChannelAccess, user_id: int) -> None:
    channel_id = access.channel_id
    before = await recipients_of(conn, channel_id)
    if user_id not in before:
        raise DomainError(Error.UNKNOWN_USER)
    user = await queries.user(conn, user_id)
    await conn.execute(
        "DELETE FROM channel_recipients WHERE channel_id = $1 AND user_id = $2", channel_id, user_id
    )
    remaining = [u for u in before if u != user_id]
    await emit_private(
        conn,
        channel_id,
        "CHANNEL_RECIPIENT_REMOVE",
        {"channel_id": str(channel_id), "user": user},
        user_ids=before,
    )
    gone = await private_channel_view(conn, channel_id, user_id)
    await events.revoke_stream(conn, user_id, "CHANNEL_DELETE", gone, channel_id)
    if not remaining:
        await conn.execute("DELETE FROM channels WHERE id = $1", channel_id)
    elif access.channel["owner_id"] == user_id:
        await conn.execute(
            "UPDATE channels SET owner_id = $2 WHERE id = $1", channel_id, remaining[0]
        )
        await emit_private(
            conn,
            channel_id,
            "CHANNEL_UPDATE",
            await queries.channel(conn, channel_id),
            user_ids=remaining,
        )


async def list_private_channels(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    rows = await ctx.db.fetch(
        """SELECT c.id FROM channel_recipients r JOIN channels c ON c.id = r.channel_id
           WHERE r.user_id = $1 ORDER BY coalesce(c.last_message_id, c.id) DESC LIMIT 200""",
        actor.user_id,
    )
    async with ctx.db.pool.acquire() as conn:
        return [await private_channel_view(conn, r["id"], actor.user_id) for r in rows]
