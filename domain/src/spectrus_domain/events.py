"""Writing events: every action appends what it did to the outbox, in its transaction.

An event belongs to exactly one stream (a guild, a private channel, or a user) and takes
that stream's next ``seq`` under the stream row's lock, so readers see a gap-free,
commit-ordered sequence per stream. Timeline changes in a channel (messages, reactions,
pins) also take the channel's next ``seq``.
"""

from __future__ import annotations

from typing import Any

from spectrus_domain.storage.db import Connection


async def next_channel_seq(conn: Connection, channel_id: int) -> tuple[int, int]:
    """Take the channel's next seq (locking its row until commit); also return the
    channel's ``last_message_id`` so a new message id can be made to follow it."""
    row = await conn.fetchrow(
        "UPDATE channels SET seq = seq + 1 WHERE id = $1 RETURNING seq, last_message_id",
        channel_id,
    )
    if row is None:
        raise LookupError(f"channel {channel_id} vanished inside its own transaction")
    return int(row["seq"]), int(row["last_message_id"] or 0)


async def emit(
    conn: Connection,
    event: str,
    data: dict[str, Any],
    *,
    stream_id: int,
    guild_id: int | None = None,
    channel_id: int | None = None,
    channel_seq: int | None = None,
    user_ids: list[int] | None = None,
) -> int:
    """Append ``event`` to ``stream_id`` and return its stream seq.

    ``user_ids`` restricts delivery to those users (private channels, user events);
    otherwise the gateway delivers to whoever can view ``channel_id`` or ``guild_id``.
    """
    seq = await conn.fetchval(
        """WITH stream AS (
               INSERT INTO event_streams (id, seq) VALUES ($1, 1)
               ON CONFLICT (id) DO UPDATE SET seq = event_streams.seq + 1
               RETURNING seq)
           INSERT INTO outbox (stream_id, seq, event, data, guild_id, channel_id, channel_seq,
                               user_ids)
           SELECT $1, stream.seq, $2, $3, $4, $5, $6, $7 FROM stream
           RETURNING seq""",
        stream_id,
        event,
        data,
        guild_id,
        channel_id,
        channel_seq,
        user_ids,
    )
    return int(seq)


async def emit_guild(
    conn: Connection,
    guild_id: int,
    event: str,
    data: dict[str, Any],
    *,
    channel_id: int | None = None,
    channel_seq: int | None = None,
    user_ids: list[int] | None = None,
) -> int:
    return await emit(
        conn,
        event,
        data,
        stream_id=guild_id,
        guild_id=guild_id,
        channel_id=channel_id,
        channel_seq=channel_seq,
        user_ids=user_ids,
    )


async def emit_user(conn: Connection, user_id: int, event: str, data: dict[str, Any]) -> int:
    return await emit(conn, event, data, stream_id=user_id, user_ids=[user_id])
