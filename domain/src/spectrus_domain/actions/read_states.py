"""Read state: where a person stopped reading each channel, and the ack that moves it."""

from __future__ import annotations

from typing import Any

from spectrus_domain import events
from spectrus_domain.access import Actor, channel_access
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.storage.db import Connection, Executor

MENTIONS_AFTER = """
SELECT count(*) FROM messages m
WHERE m.channel_id = $1 AND m.id > $2 AND m.author_id <> $3
  AND ($3 = ANY(m.mention_ids) OR m.mention_everyone OR m.mention_role_ids && $4::bigint[])
"""


async def mention_count(
    conn: Executor, channel_id: int, after: int, user_id: int, role_ids: list[int]
) -> int:
    return int(await conn.fetchval(MENTIONS_AFTER, channel_id, after, user_id, role_ids))


async def _role_ids(conn: Executor, guild_id: int | None, user_id: int) -> list[int]:
    if guild_id is None:
        return []
    rows = await conn.fetch(
        "SELECT role_id FROM member_roles WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
    )
    return [r["role_id"] for r in rows]


async def ack(ctx: Context, actor: Actor, channel_id: int, message_id: int) -> dict[str, Any]:
    """``POST /channels/{c}/messages/{m}/ack``: read up to ``message_id``. Never moves
    backwards; the user's other sessions get MESSAGE_ACK."""

    async def body(conn: Connection) -> dict[str, Any]:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        if not await conn.fetchval(
            "SELECT true FROM messages WHERE id = $1 AND channel_id = $2", message_id, channel_id
        ):
            raise DomainError(Error.UNKNOWN_MESSAGE)
        last = await conn.fetchval(
            """INSERT INTO read_states (user_id, channel_id, last_message_id, updated_at)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (user_id, channel_id) DO UPDATE
               SET last_message_id = greatest(read_states.last_message_id, EXCLUDED.last_message_id),
                   updated_at = EXCLUDED.updated_at
               RETURNING last_message_id""",
            actor.user_id,
            channel_id,
            message_id,
            ctx.now(),
        )
        count = await mention_count(
            conn,
            channel_id,
            last,
            actor.user_id,
            await _role_ids(conn, access.guild_id, actor.user_id),
        )
        data = {
            "channel_id": str(channel_id),
            "message_id": str(last),
            "mention_count": count,
            "version": int(ctx.now().timestamp() * 1000),
            "ack_type": 0,
        }
        await events.emit_user(conn, actor.user_id, "MESSAGE_ACK", data)
        return {"token": None}

    return await ctx.db.write(body)


async def read_state(conn: Executor, user_id: int) -> list[dict[str, Any]]:
    """READY's ``read_state.entries``: every channel the user has read, with mentions since."""
    rows = await conn.fetch(
        """SELECT r.channel_id, r.last_message_id, c.guild_id, c.last_pin_timestamp
           FROM read_states r JOIN channels c ON c.id = r.channel_id WHERE r.user_id = $1""",
        user_id,
    )
    entries = []
    for r in rows:
        roles = await _role_ids(conn, r["guild_id"], user_id)
        entries.append(
            {
                "id": str(r["channel_id"]),
                "last_message_id": str(r["last_message_id"]),
                "mention_count": await mention_count(
                    conn, r["channel_id"], r["last_message_id"], user_id, roles
                ),
                "last_pin_timestamp": r["last_pin_timestamp"].isoformat()
                if r["last_pin_timestamp"]
                else None,
            }
        )
    return entries
