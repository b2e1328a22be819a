"""Voice states: who is in which voice channel, and the only code that changes it.

A user joins, moves and leaves through the gateway (op 4); a moderator moves or
disconnects them through ``PATCH /guilds/{g}/members/{u}``; leaving the guild or losing
the channel ends it. Each change is one transaction announcing VOICE_STATE_UPDATE in the
guild's stream, so every gateway applies them in order, and the gateway holding the
user's session carries them to the media node. The audio itself never passes here.
"""

from __future__ import annotations

from typing import Any

from spectrus_domain import audit, events, queries
from spectrus_domain.access import Actor, ChannelAccess, channel_access, guild_access
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.permissions import Permission
from spectrus_domain.shapes import CHANNEL_VOICE
from spectrus_domain.storage.db import Connection, Executor

_STATE = """SELECT v.*, m.mute, m.deaf FROM voice_states v
            JOIN members m ON m.guild_id = v.guild_id AND m.user_id = v.user_id"""


def _shape(row: Any, member: dict[str, Any] | None) -> dict[str, Any]:
    state = {
        "guild_id": str(row["guild_id"]),
        "channel_id": str(row["channel_id"]),
        "user_id": str(row["user_id"]),
        "session_id": row["session_id"],
        "deaf": row["deaf"],
        "mute": row["mute"],
        "self_deaf": row["self_deaf"],
        "self_mute": row["self_mute"],
        "self_video": False,
        "self_stream": False,
        "suppress": row["suppress"],
        "request_to_speak_timestamp": None,
    }
    if member is not None:
        state["member"] = member
    return state


def left(guild_id: int, user_id: int, session_id: str = "") -> dict[str, Any]:
    """The state Discord sends for someone who left voice."""
    return {
        "guild_id": str(guild_id),
        "channel_id": None,
        "user_id": str(user_id),
        "session_id": session_id,
        "deaf": False,
        "mute": False,
        "self_deaf": False,
        "self_mute": False,
        "self_video": False,
        "self_stream": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }


async def states(conn: Executor, guild_id: int) -> list[dict[str, Any]]:
    """The guild's voice states, as GUILD_CREATE carries them (without ``member``)."""
    rows = await conn.fetch(_STATE + " WHERE v.guild_id = $1 ORDER BY v.user_id", guild_id)
    return [_shape(r, None) for r in rows]


async def guilds_of(conn: Executor, user_id: int) -> list[int]:
    return [
        r["guild_id"]
        for r in await conn.fetch("SELECT guild_id FROM voice_states WHERE user_id = $1", user_id)
    ]


async def _emit(conn: Connection, guild_id: int, user_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        _STATE + " WHERE v.guild_id = $1 AND v.user_id = $2", guild_id, user_id
    )
    if row is None:
        return None
    state = _shape(row, await queries.member(conn, guild_id, user_id))
    await events.emit_guild(conn, guild_id, "VOICE_STATE_UPDATE", state)
    return state


async def _voice_access(
    conn: Connection,
    ctx: Context,
    user_id: int,
    channel_id: int,
    guild_id: int,
    *,
    lock: bool = False,
) -> ChannelAccess:
    """The user in a voice channel of ``guild_id`` they can see (``lock``: the channel row
    locked for the transaction)."""
    access = await channel_access(conn, channel_id, user_id, ctx.now(), lock=lock)
    if access.guild_id != guild_id or access.channel["type"] != CHANNEL_VOICE:
        raise DomainError(Error.UNKNOWN_CHANNEL)
    return access


async def _may_join(
    conn: Connection,
    ctx: Context,
    user_id: int,
    channel_id: int,
    guild_id: int,
    *,
    lock: bool = False,
) -> ChannelAccess:
    access = await _voice_access(conn, ctx, user_id, channel_id, guild_id, lock=lock)
    access.require(Permission.CONNECT)
    return access


async def join(
    ctx: Context,
    actor: Actor,
    guild_id: int,
    channel_id: int,
    session_id: str,
    *,
    self_mute: bool,
    self_deaf: bool,
) -> dict[str, Any]:
    """Op 4 with a channel: join it or move there (also changes self mute and deafen).
    A full channel (``user_limit``) refuses unless one has MOVE_MEMBERS, as on Discord."""

    async def body(conn: Connection) -> dict[str, Any]:
        # The channel row lock serialises joins, so a limit of N lets exactly N in.
        access = await _may_join(conn, ctx, actor.user_id, channel_id, guild_id, lock=True)
        bits, limit = access.permissions, access.channel["user_limit"]
        if limit and not bits & Permission.MOVE_MEMBERS:
            present = await conn.fetchval(
                "SELECT count(*) FROM voice_states WHERE channel_id = $1 AND user_id <> $2",
                channel_id,
                actor.user_id,
            )
            if present >= limit:
                raise DomainError(Error.MISSING_PERMISSIONS)
        await conn.execute(
            """INSERT INTO voice_states (guild_id, user_id, channel_id, session_id, self_mute,
                                         self_deaf, suppress)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET
                   channel_id = excluded.channel_id, session_id = excluded.session_id,
                   self_mute = excluded.self_mute, self_deaf = excluded.self_deaf,
                   suppress = excluded.suppress""",
            guild_id,
            actor.user_id,
            channel_id,
            session_id,
            self_mute,
            self_deaf,
            not bits & Permission.SPEAK,
        )
        state = await _emit(conn, guild_id, actor.user_id)
        assert state is not None
        return state

    return await ctx.db.write(body)


async def disconnect(
    ctx: Context, guild_id: int, user_id: int, *, session_id: str | None = None
) -> bool:
    """Leave voice in a guild (op 4 without a channel, going offline). With ``session_id``,
    only if that session still holds the state (a newer client's join stands)."""

    async def body(conn: Connection) -> bool:
        return await drop(conn, guild_id, user_id, session_id=session_id)

    return await ctx.db.write(body)


async def drop(
    conn: Connection, guild_id: int, user_id: int, *, session_id: str | None = None
) -> bool:
    """In a caller's transaction: remove a voice state and announce it."""
    removed = await conn.fetchval(
        """DELETE FROM voice_states WHERE guild_id = $1 AND user_id = $2
               AND ($3::text IS NULL OR session_id = $3) RETURNING session_id""",
        guild_id,
        user_id,
        session_id,
    )
    if removed is None:
        return False
    await events.emit_guild(conn, guild_id, "VOICE_STATE_UPDATE", left(guild_id, user_id, removed))
    return True


async def drop_channel(conn: Connection, guild_id: int, channel_id: int) -> None:
    """In a caller's transaction: everyone in a channel about to go leaves voice."""
    for row in await conn.fetch(
        "SELECT user_id FROM voice_states WHERE channel_id = $1", channel_id
    ):
        await drop(conn, guild_id, row["user_id"])


async def refresh(ctx: Context, guild_id: int, user_id: int) -> dict[str, Any] | None:
    """Re-derive a state after a permission change: without VIEW_CHANNEL or CONNECT one
    leaves; without SPEAK one is suppressed. Announces only a change; returns the state
    (None if not, or no longer, in voice)."""

    async def body(conn: Connection) -> dict[str, Any] | None:
        row = await conn.fetchrow(
            "SELECT channel_id, suppress FROM voice_states WHERE guild_id = $1 AND user_id = $2 FOR UPDATE",
            guild_id,
            user_id,
        )
        if row is None:
            return None
        try:
            bits = (await _may_join(conn, ctx, user_id, row["channel_id"], guild_id)).permissions
        except DomainError:
            await drop(conn, guild_id, user_id)
            return None
        suppress = not bits & Permission.SPEAK
        if suppress == row["suppress"]:
            return None
        await conn.execute(
            "UPDATE voice_states SET suppress = $3 WHERE guild_id = $1 AND user_id = $2",
            guild_id,
            user_id,
            suppress,
        )
        return await _emit(conn, guild_id, user_id)

    return await ctx.db.write(body)


async def moderate(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    guild_id: int,
    user_id: int,
    channel_id: int | None,
    reason: str | None,
) -> None:
    """``PATCH /guilds/{g}/members/{u}`` with ``channel_id``, in its transaction: move a
    member who is in voice (MOVE_MEMBERS, and CONNECT to the destination), or disconnect
    them (``null``)."""
    guild = await guild_access(conn, guild_id, actor.user_id, ctx.now())
    guild.require(Permission.MOVE_MEMBERS)
    current = await conn.fetchval(
        "SELECT channel_id FROM voice_states WHERE guild_id = $1 AND user_id = $2 FOR UPDATE",
        guild_id,
        user_id,
    )
    if current is None:
        raise DomainError(Error.NOT_IN_VOICE)
    if channel_id is None:
        await drop(conn, guild_id, user_id)
        await audit.record(
            conn,
            ctx.ids,
            guild_id,
            actor.user_id,
            AuditAction.MEMBER_DISCONNECT,
            options={"count": "1"},
            reason=reason,
        )
        return
    await _may_join(conn, ctx, actor.user_id, channel_id, guild_id)
    try:  # a moderator may move someone where they could not connect themselves
        bits = (await _voice_access(conn, ctx, user_id, channel_id, guild_id)).permissions
    except DomainError:
        bits = 0
    await conn.execute(
        "UPDATE voice_states SET channel_id = $3, suppress = $4 WHERE guild_id = $1 AND user_id = $2",
        guild_id,
        user_id,
        channel_id,
        not bits & Permission.SPEAK,
    )
    await _emit(conn, guild_id, user_id)
    await audit.record(
        conn,
        ctx.ids,
        guild_id,
        actor.user_id,
        AuditAction.MEMBER_MOVE,
        options={"channel_id": str(channel_id), "count": "1"},
        reason=reason,
    )


async def announce(conn: Connection, guild_id: int, user_id: int) -> None:
    """In a caller's transaction: re-announce a state whose member changed (server mute
    or deafen); nothing if they are not in voice."""
    await _emit(conn, guild_id, user_id)
