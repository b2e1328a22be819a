"""Writing events: every action appends what it did to the outbox, in its transaction.

An event belongs to exactly one stream (a guild, a private channel, or a user) and takes
that stream's next ``seq`` under the stream row's lock, so readers see a gap-free,
commit-ordered sequence per stream. Timeline changes in a channel (messages, reactions,
pins) also take the channel's next ``seq``.
"""

from __future__ import annotations

from typing import Any

from spectrus_domain.bus import BusEvent
from spectrus_domain.storage.db import Connection, committed


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
    The event is published on the bus once the transaction commits.
    """
    row = await conn.fetchrow(
        """WITH stream AS (
               INSERT INTO event_streams (id, seq) VALUES ($1, 1)
               ON CONFLICT (id) DO UPDATE SET seq = event_streams.seq + 1
               RETURNING seq, epoch)
           INSERT INTO outbox (stream_id, seq, event, data, guild_id, channel_id, channel_seq,
                               user_ids)
           SELECT $1, stream.seq, $2, $3, $4, $5, $6, $7 FROM stream
           RETURNING seq, (SELECT epoch FROM stream)""",
        stream_id,
        event,
        data,
        guild_id,
        channel_id,
        channel_seq,
        user_ids,
    )
    assert row is not None
    seq = int(row["seq"])
    committed(
        BusEvent(
            stream_id,
            seq,
            int(row["epoch"]),
            event,
            data,
            guild_id,
            channel_id,
            tuple(user_ids) if user_ids is not None else None,
        )
    )
    return seq


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


async def stream_head(conn: Connection, stream_id: int) -> int:
    """The last seq given out on ``stream_id`` (0 before its first event)."""
    seq = await conn.fetchval("SELECT seq FROM event_streams WHERE id = $1", stream_id)
    return int(seq or 0)


async def grant_stream(
    conn: Connection, user_id: int, event: str, data: dict[str, Any], stream_id: int
) -> int:
    """Tell ``user_id``'s sessions (on their own stream, which they already follow) that
    they now see ``stream_id``, from the events after its current head onward. The
    gateway reads ``_follow`` and strips it before the client sees ``data``."""
    follow = {"stream": str(stream_id), "after": await stream_head(conn, stream_id)}
    return await emit_user(conn, user_id, event, {**data, "_follow": follow})


async def revoke_stream(
    conn: Connection, user_id: int, event: str, data: dict[str, Any], stream_id: int
) -> int:
    """Tell ``user_id``'s sessions to stop following ``stream_id``."""
    return await emit_user(conn, user_id, event, {**data, "_unfollow": str(stream_id)})
