"""Consistent reads for sessions: READY, GUILD_CREATE, guild views and stream heads.

Each snapshot runs in one REPEATABLE READ transaction, so what a client is shown and the
stream positions it continues from describe the same instant: every event after those
positions changes something the snapshot did not contain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from spectrus_domain import queries, shapes
from spectrus_domain.actions import read_states
from spectrus_domain.actions.dms import private_channel_view
from spectrus_domain.storage.db import Connection, Database
from spectrus_gateway.visibility import GuildView, MemberState, overwrites_from


@dataclass
class Heads:
    seqs: dict[int, int]
    epochs: dict[int, int]


async def heads(conn: Connection | Database, stream_ids: Iterable[int]) -> Heads:
    ids = list(stream_ids)
    rows = await conn.fetch("SELECT id, seq, epoch FROM event_streams WHERE id = ANY($1)", ids)
    seqs = {i: 0 for i in ids}
    epochs: dict[int, int] = {}
    for r in rows:
        seqs[r["id"]] = r["seq"]
        epochs[r["id"]] = r["epoch"]
    return Heads(seqs, epochs)


async def guild_view(conn: Connection, guild_id: int) -> GuildView | None:
    guild = await conn.fetchrow("SELECT owner_id FROM guilds WHERE id = $1", guild_id)
    if guild is None:
        return None
    roles = await conn.fetch("SELECT id, permissions FROM roles WHERE guild_id = $1", guild_id)
    channels = await queries.guild_channels(conn, guild_id)
    members = await conn.fetch(
        """SELECT m.user_id, m.communication_disabled_until,
                  coalesce(array_agg(x.role_id) FILTER (WHERE x.role_id IS NOT NULL), '{}') AS roles
           FROM members m LEFT JOIN member_roles x ON x.guild_id = m.guild_id AND x.user_id = m.user_id
           WHERE m.guild_id = $1 GROUP BY m.user_id, m.communication_disabled_until""",
        guild_id,
    )
    return GuildView(
        guild_id=guild_id,
        owner_id=int(guild["owner_id"]),
        role_bits={int(r["id"]): int(r["permissions"]) for r in roles},
        channels={int(c["id"]): (int(c["type"]), overwrites_from(c)) for c in channels},
        members={
            int(m["user_id"]): MemberState(set(m["roles"]), m["communication_disabled_until"])
            for m in members
        },
    )


async def guild_create(
    conn: Connection,
    guild_id: int,
    viewer: int,
    view: GuildView,
    *,
    large_threshold: int,
    with_members: bool,
) -> dict[str, Any] | None:
    """The GUILD_CREATE ``viewer`` receives: channels they can see, and members (all of
    them below ``large_threshold``, else only themselves; Discord's "large" rule)."""
    try:
        data = await queries.guild(conn, guild_id)
    except Exception:
        return None
    count = int(await conn.fetchval("SELECT count(*) FROM members WHERE guild_id = $1", guild_id))
    large = count > large_threshold
    if with_members and not large:
        members = await queries.members(conn, guild_id, limit=large_threshold)
    else:
        members = [await queries.member(conn, guild_id, viewer)]
    me = next(m for m in members if m["user"]["id"] == str(viewer))
    channels = [
        c
        for c in await queries.guild_channels(conn, guild_id)
        if view.can_view(viewer, int(c["id"]))
    ]
    data.update(
        {
            "joined_at": me["joined_at"],
            "large": large,
            "unavailable": False,
            "member_count": count,
            "members": members,
            "channels": channels,
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
    )
    return data


@dataclass
class ReadySnapshot:
    read_state: list[dict[str, Any]]
    user: dict[str, Any]
    application: dict[str, Any] | None
    guild_ids: list[int]
    private_channels: list[dict[str, Any]]
    heads: Heads


async def ready(conn: Connection, user_id: int, bot: bool) -> ReadySnapshot:
    user_row = await queries.user_row(conn, user_id)
    user = shapes.current_user(user_row)
    if bot:
        user["bot"] = True
    application = None
    if bot:
        app = await conn.fetchrow(
            "SELECT id, flags FROM applications WHERE bot_user_id = $1", user_id
        )
        if app is not None:
            application = {"id": str(app["id"]), "flags": app["flags"]}
    guild_ids = [
        r["guild_id"]
        for r in await conn.fetch(
            "SELECT guild_id FROM members WHERE user_id = $1 ORDER BY guild_id", user_id
        )
    ]
    channel_ids = [
        r["channel_id"]
        for r in await conn.fetch(
            "SELECT channel_id FROM channel_recipients WHERE user_id = $1 ORDER BY channel_id",
            user_id,
        )
    ]
    private = [await private_channel_view(conn, c, user_id) for c in channel_ids]
    return ReadySnapshot(
        read_state=[] if bot else await read_states.read_state(conn, user_id),
        user=user,
        application=application,
        guild_ids=guild_ids,
        private_channels=private,
        heads=await heads(conn, [user_id, *guild_ids, *channel_ids]),
    )


async def outbox_range(
    conn: Connection | Database, ranges: dict[int, tuple[int, int]]
) -> list[Any]:
    """Events with ``lo < seq <= hi`` for each stream, in stream then seq order."""
    if not ranges:
        return []
    ids = list(ranges)
    return list(
        await conn.fetch(
            """SELECT o.stream_id, o.seq, o.event, o.data, o.guild_id, o.channel_id, o.user_ids,
                      s.epoch, extract(epoch FROM o.created_at)::float8 AS committed_at
               FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(stream_id, lo, hi)
               JOIN outbox o ON o.stream_id = r.stream_id AND o.seq > r.lo AND o.seq <= r.hi
               JOIN event_streams s ON s.id = o.stream_id
               ORDER BY o.stream_id, o.seq""",
            ids,
            [ranges[i][0] for i in ids],
            [ranges[i][1] for i in ids],
        )
    )
