"""Reads that assemble whole Discord objects (channels with overwrites, members with
roles, messages with authors and reactions). Used by actions for their results and
events, and by services for GETs. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import asyncpg

from spectrus_domain import shapes
from spectrus_domain.attachments import SignedUrls
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.shapes import USER_COLUMNS
from spectrus_domain.storage.db import Executor

MEMBER_SELECT = """
SELECT m.*, u.id AS u_id, u.username AS u_username, u.global_name AS u_global_name,
       u.avatar AS u_avatar, u.bot AS u_bot, u.system AS u_system, u.flags AS u_flags,
       coalesce((SELECT array_agg(x.role_id ORDER BY x.role_id) FROM member_roles x
                 WHERE x.guild_id = m.guild_id AND x.user_id = m.user_id), '{}') AS role_ids
FROM members m JOIN users u ON u.id = m.user_id
"""

# Every column a message object needs (not ``search``, the stored tsvector), and its author.
MESSAGE_COLUMNS = """
m.id, m.channel_id, m.guild_id, m.seq, m.author_id, m.type, m.content, m.tts,
m.mention_everyone, m.mention_ids, m.mention_role_ids, m.embeds, m.link_embeds, m.nonce,
m.flags, m.reference, m.pinned_at, m.edited_at,
u.id AS a_id, u.username AS a_username, u.global_name AS a_global_name,
u.avatar AS a_avatar, u.bot AS a_bot, u.system AS a_system, u.flags AS a_flags
"""
MESSAGE_SELECT = f"SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.author_id "


async def user_row(conn: Executor, user_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_USER)
    return row


async def user(conn: Executor, user_id: int) -> dict[str, Any]:
    return shapes.user(await user_row(conn, user_id))


async def users_by_id(conn: Executor, ids: list[int]) -> dict[int, asyncpg.Record]:
    if not ids:
        return {}
    rows = await conn.fetch(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = ANY($1)", ids)
    return {r["id"]: r for r in rows}


async def roles(conn: Executor, guild_id: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT * FROM roles WHERE guild_id = $1 ORDER BY position, id DESC", guild_id
        )
    )


async def role_row(conn: Executor, guild_id: int, role_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM roles WHERE id = $1 AND guild_id = $2", role_id, guild_id
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_ROLE)
    return row


async def guild(conn: Executor, guild_id: int, *, with_counts: bool = False) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM guilds WHERE id = $1", guild_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_GUILD)
    count = None
    if with_counts:
        count = await conn.fetchval("SELECT count(*) FROM members WHERE guild_id = $1", guild_id)
    return shapes.guild(
        row, await roles(conn, guild_id), await emojis(conn, guild_id), member_count=count
    )


async def emojis(conn: Executor, guild_id: int) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM emojis WHERE guild_id = $1 ORDER BY id", guild_id))


async def emoji_with_creator(conn: Executor, row: asyncpg.Record) -> dict[str, Any]:
    creator = await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1", row["user_id"]
    )
    return shapes.custom_emoji(row, creator)


async def custom_emojis(conn: Executor, stored: Iterable[str]) -> dict[int, asyncpg.Record]:
    """The custom emoji among stored reaction emoji (ids), by id."""
    ids = sorted({int(s) for s in stored if s.isdigit()})
    if not ids:
        return {}
    rows = await conn.fetch("SELECT id, name, animated FROM emojis WHERE id = ANY($1)", ids)
    return {r["id"]: r for r in rows}


async def channel(conn: Executor, channel_id: int) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM channels WHERE id = $1", channel_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_CHANNEL)
    return await channel_from_row(conn, row)


async def channel_from_row(conn: Executor, row: asyncpg.Record) -> dict[str, Any]:
    if row["type"] in shapes.PRIVATE_CHANNEL_TYPES:
        recipients = await conn.fetch(
            f"""SELECT {USER_COLUMNS} FROM channel_recipients r JOIN users u ON u.id = r.user_id
                WHERE r.channel_id = $1 ORDER BY u.id""",
            row["id"],
        )
        return shapes.channel(row, recipients=recipients)
    overwrites = await conn.fetch(
        "SELECT * FROM overwrites WHERE channel_id = $1 ORDER BY type, target_id", row["id"]
    )
    return shapes.channel(row, overwrites=overwrites)


async def guild_channels(conn: Executor, guild_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM channels WHERE guild_id = $1 ORDER BY position, id", guild_id
    )
    overwrite_rows = await conn.fetch(
        """SELECT o.* FROM overwrites o JOIN channels c ON c.id = o.channel_id
           WHERE c.guild_id = $1 ORDER BY o.type, o.target_id""",
        guild_id,
    )
    by_channel: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for o in overwrite_rows:
        by_channel[o["channel_id"]].append(o)
    return [shapes.channel(r, overwrites=by_channel[r["id"]]) for r in rows]


async def member(conn: Executor, guild_id: int, user_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        MEMBER_SELECT + " WHERE m.guild_id = $1 AND m.user_id = $2", guild_id, user_id
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_MEMBER)
    return shapes.member(row, row["role_ids"])


async def members(
    conn: Executor, guild_id: int, *, after: int = 0, limit: int = 1
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        MEMBER_SELECT + " WHERE m.guild_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3",
        guild_id,
        after,
        limit,
    )
    return [shapes.member(r, r["role_ids"]) for r in rows]


async def search_members(
    conn: Executor, guild_id: int, query: str, limit: int
) -> list[dict[str, Any]]:
    # Prefix match on username, display name or nickname, as Discord's member search does.
    pattern = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await conn.fetch(
        MEMBER_SELECT
        + """ WHERE m.guild_id = $1 AND (lower(u.username) LIKE $2 OR lower(m.nick) LIKE $2
                                         OR lower(u.global_name) LIKE $2)
              ORDER BY m.user_id LIMIT $3""",
        guild_id,
        pattern,
        limit,
    )
    return [shapes.member(r, r["role_ids"]) for r in rows]


async def messages_from_rows(
    conn: Executor,
    rows: list[asyncpg.Record],
    me: int | None,
    urls: SignedUrls,
    *,
    resolve_references: bool = True,
) -> list[dict[str, Any]]:
    """Render message rows with their attachments, reactions (``me`` from the viewer's
    point of view), mentioned users and, one level deep, the messages they reply to."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    attachments = await attachments_of(conn, ids, urls)
    reaction_rows = await conn.fetch(
        """SELECT message_id, emoji, count(*)::int AS count, bool_or(user_id = $2) AS me,
                  min(created_at) AS first
           FROM reactions WHERE message_id = ANY($1)
           GROUP BY message_id, emoji ORDER BY first""",
        ids,
        me or 0,
    )
    reactions: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for r in reaction_rows:
        reactions[r["message_id"]].append(r)
    custom = await custom_emojis(conn, (r["emoji"] for r in reaction_rows))
    mention_ids = sorted({u for r in rows for u in r["mention_ids"]})
    mentioned = await users_by_id(conn, mention_ids)
    referenced: dict[int, dict[str, Any]] = {}
    if resolve_references:
        ref_ids = [
            int(r["reference"]["message_id"])
            for r in rows
            if r["reference"] is not None and r["reference"].get("message_id")
        ]
        if ref_ids:
            ref_rows = await conn.fetch(MESSAGE_SELECT + " WHERE m.id = ANY($1)", ref_ids)
            rendered = await messages_from_rows(
                conn, list(ref_rows), me, urls, resolve_references=False
            )
            referenced = {int(m["id"]): m for m in rendered}
    out = []
    for r in rows:
        ref = r["reference"]
        out.append(
            shapes.message(
                r,
                attachments=attachments.get(r["id"], []),
                mentions=[mentioned[u] for u in r["mention_ids"] if u in mentioned],
                reactions=shapes.reaction_list(reactions.get(r["id"], []), me, custom),
                referenced=referenced.get(int(ref["message_id"])) if ref else None,
            )
        )
    return out


async def attachments_of(
    conn: Executor, message_ids: list[int], urls: SignedUrls
) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in await conn.fetch(
        "SELECT * FROM attachments WHERE message_id = ANY($1) ORDER BY message_id, position",
        message_ids,
    ):
        found[row["message_id"]].append(urls.attachment(row))
    return found


async def message(
    conn: Executor, channel_id: int, message_id: int, me: int | None, urls: SignedUrls
) -> dict[str, Any]:
    row = await conn.fetchrow(
        MESSAGE_SELECT + " WHERE m.id = $1 AND m.channel_id = $2", message_id, channel_id
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_MESSAGE)
    return (await messages_from_rows(conn, [row], me, urls))[0]


async def message_page(
    conn: Executor,
    channel_id: int,
    me: int,
    urls: SignedUrls,
    *,
    before: int | None = None,
    after: int | None = None,
    around: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Discord's history page: newest first, at most ``limit``, exclusive bounds;
    ``around`` takes half before and half after, the message itself included."""
    base = MESSAGE_SELECT + " WHERE m.channel_id = $1"
    if around is not None:
        half = limit // 2
        older = await conn.fetch(
            base + " AND m.id <= $2 ORDER BY m.id DESC LIMIT $3",
            channel_id,
            around,
            max(limit - half, 1),
        )
        newer = await conn.fetch(
            base + " AND m.id > $2 ORDER BY m.id ASC LIMIT $3", channel_id, around, half
        )
        rows = list(reversed(newer)) + list(older)
    elif after is not None:
        # The first ``limit`` messages after the cursor, returned newest first.
        rows = list(
            reversed(
                await conn.fetch(
                    base + " AND m.id > $2 ORDER BY m.id ASC LIMIT $3", channel_id, after, limit
                )
            )
        )
    else:
        rows = list(
            await conn.fetch(
                base + " AND m.id < $2 ORDER BY m.id DESC LIMIT $3",
                channel_id,
                before if before is not None else (1 << 63) - 1,
                limit,
            )
        )
    return await messages_from_rows(conn, rows, me, urls)
