"""Messages and what hangs off them: create, edit, delete, bulk delete, reactions, pins,
typing. Every change to a channel's timeline takes the channel's next ``seq``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import emoji as emoji_lib

from spectrus_domain import attachments as attachment_files
from spectrus_domain import audit, events, limits, links, mentions, queries, shapes
from spectrus_domain.access import Actor, ChannelAccess, channel_access, guild_access
from spectrus_domain.actions.dms import (
    SHARES_A_GUILD,
    emit_private,
    private_channel_view,
    recipients_of,
)
from spectrus_domain.attachments import SignedUrls
from spectrus_domain.audit import AuditAction
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error, invalid_form
from spectrus_domain.ids import SnowflakeGenerator, snowflake_floor, snowflake_time_ms
from spectrus_domain.permissions import Permission
from spectrus_domain.storage import files
from spectrus_domain.storage.db import Connection, one, update

MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
SETTABLE_FLAGS = shapes.FLAG_SUPPRESS_EMBEDS | shapes.FLAG_SUPPRESS_NOTIFICATIONS


async def _emit_channel_event(
    conn: Connection,
    access: ChannelAccess,
    event: str,
    data: dict[str, Any],
    *,
    channel_seq: int | None = None,
) -> None:
    if access.guild_id is None:
        await emit_private(conn, access.channel_id, event, data, channel_seq=channel_seq)
    else:
        await events.emit_guild(
            conn,
            access.guild_id,
            event,
            data,
            channel_id=access.channel_id,
            channel_seq=channel_seq,
        )


async def _claim_message_slot(
    conn: Connection, ids: SnowflakeGenerator, channel_id: int
) -> tuple[int, int]:
    """The channel's next seq and a message id above every earlier one in the channel,
    so id order (what clients paginate by) equals seq order (commit order)."""
    candidate = ids.next()
    seq = await conn.fetchval(
        """UPDATE channels SET seq = seq + 1, last_message_id = $2
           WHERE id = $1 AND coalesce(last_message_id, 0) < $2 RETURNING seq""",
        channel_id,
        candidate,
    )
    if seq is not None:
        return int(seq), candidate
    # A message committed meanwhile (or another node's clock runs ahead): under the
    # row lock, take an id above the channel's last one.
    seq, last = await events.next_channel_seq(conn, channel_id)
    message_id = ids.next_after(last)
    await conn.execute(
        "UPDATE channels SET last_message_id = $2 WHERE id = $1", channel_id, message_id
    )
    return seq, message_id


async def _writable_channel(
    ctx: Context, conn: Connection, actor: Actor, channel_id: int
) -> ChannelAccess:
    access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
    if access.channel["type"] not in shapes.TEXT_CHANNEL_TYPES:
        raise DomainError(Error.NOT_TEXT_CHANNEL)
    access.require(Permission.SEND_MESSAGES)
    if access.channel["type"] == shapes.CHANNEL_DM:
        others = [u for u in await recipients_of(conn, channel_id) if u != actor.user_id]
        if not others or not await conn.fetchval(SHARES_A_GUILD, actor.user_id, others[0]):
            raise DomainError(Error.CANNOT_MESSAGE_USER)
    return access


async def _check_slowmode(
    ctx: Context, conn: Connection, access: ChannelAccess, actor: Actor
) -> None:
    interval = access.channel["rate_limit_per_user"] or 0
    if not interval or access.permissions & (
        Permission.MANAGE_MESSAGES | Permission.MANAGE_CHANNELS
    ):
        return
    last = await conn.fetchval(
        "SELECT max(id) FROM messages WHERE channel_id = $1 AND author_id = $2",
        access.channel_id,
        actor.user_id,
    )
    if last is None:
        return
    wait_ms = snowflake_time_ms(last) + interval * 1000 - int(ctx.now().timestamp() * 1000)
    if wait_ms > 0:
        raise DomainError(Error.SLOWMODE, retry_after=round(wait_ms / 1000, 3))


async def _member_partial(
    conn: Connection, access: ChannelAccess, user_id: int
) -> dict[str, Any] | None:
    """The member object (without ``user``) events about ``user_id``'s message carry."""
    if access.guild is None:
        return None
    if user_id == access.guild.member.user_id:
        return access.guild.member_object()  # already loaded with the access check
    data = await queries.member(conn, access.guild.guild_id, user_id)
    data.pop("user")
    return data


def _with_context(
    data: dict[str, Any], access: ChannelAccess, member: dict[str, Any] | None
) -> dict[str, Any]:
    """The gateway form of a message: the REST object plus ``guild_id`` and ``member``,
    without ``reactions``, whose ``me`` depends on the viewer (clients keep reactions
    from the MESSAGE_REACTION_* events instead)."""
    event = {k: v for k, v in data.items() if k != "reactions"}
    if access.guild_id is not None:
        event["guild_id"] = str(access.guild_id)
        if member is not None:
            event["member"] = member
    return event


async def create_message(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    *,
    content: str = "",
    tts: bool = False,
    embeds: list[dict[str, Any]] | None = None,
    nonce: str | None = None,
    enforce_nonce: bool = False,
    reference: dict[str, Any] | None = None,
    flags: int = 0,
    allowed_mentions: mentions.Allowed | None = None,
    attachments: Sequence[NewAttachment] = (),
) -> dict[str, Any]:
    """Post a message. ``attachments`` are files already in the store (see
    ``storage.files.expect_uploads``); the message claims them when it commits."""
    embeds = embeds or []
    if not content and not embeds and not attachments:
        raise DomainError(Error.EMPTY_MESSAGE)

    async def body(conn: Connection) -> dict[str, Any]:
        access = await _writable_channel(ctx, conn, actor, channel_id)
        if embeds:
            access.require(Permission.EMBED_LINKS)
        if attachments:
            access.require(Permission.ATTACH_FILES)
        if nonce is not None and enforce_nonce:
            existing = await conn.fetchrow(
                queries.MESSAGE_SELECT
                + " WHERE m.channel_id = $1 AND m.author_id = $2 AND m.nonce = $3 AND m.id >= $4",
                channel_id,
                actor.user_id,
                nonce,
                _id_floor(ctx.now() - timedelta(seconds=limits.NONCE_DEDUP_SECONDS)),
            )
            if existing is not None:
                return (
                    await queries.messages_from_rows(conn, [existing], actor.user_id, ctx.urls())
                )[0]
        await _check_slowmode(ctx, conn, access, actor)
        stored_reference, referenced = await _resolve_reference(
            conn, access, actor, reference, ctx.urls()
        )
        replied_author = int(referenced["author"]["id"]) if referenced else None
        users, roles, everyone = await _resolve_mentions(
            conn, access, content, allowed_mentions, replied_author
        )
        seq, message_id = await _claim_message_slot(conn, ctx.ids, channel_id)
        row = await one(
            conn,
            """WITH m AS (
                   INSERT INTO messages (id, channel_id, guild_id, seq, author_id, type, content,
                                         tts, embeds, nonce, flags, reference, mention_ids,
                                         mention_role_ids, mention_everyone)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                   RETURNING *)
               SELECT """
            + queries.MESSAGE_COLUMNS
            + " FROM m JOIN users u ON u.id = m.author_id",
            message_id,
            channel_id,
            access.guild_id,
            seq,
            actor.user_id,
            MESSAGE_REPLY if stored_reference else MESSAGE_DEFAULT,
            content,
            tts and bool(access.permissions & Permission.SEND_TTS_MESSAGES),
            embeds,
            nonce,
            flags & SETTABLE_FLAGS,
            stored_reference,
            [u["id"] for u in users],
            roles,
            everyone,
        )
        stored = await _store_attachments(ctx, conn, message_id, channel_id, attachments, 0)
        data = shapes.message(row, attachments=stored, mentions=users, referenced=referenced)
        member = await _member_partial(conn, access, actor.user_id)
        if access.channel["type"] == shapes.CHANNEL_DM and seq == 1:
            # The other side may never have opened this DM; its first message opens it.
            for other in await recipients_of(conn, channel_id):
                if other != actor.user_id:
                    view = await private_channel_view(conn, channel_id, other)
                    await events.grant_stream(conn, other, "CHANNEL_CREATE", view, channel_id)
        await _emit_channel_event(
            conn, access, "MESSAGE_CREATE", _with_context(data, access, member), channel_seq=seq
        )
        return data

    return await ctx.db.write(body)


async def _edit_attachments(
    ctx: Context,
    conn: Connection,
    access: ChannelAccess,
    row: asyncpg.Record,
    keep: list[int] | None,
    added: Sequence[NewAttachment],
) -> None:
    """Drop the attachments not in ``keep`` (None: keep all), append ``added``."""
    existing = await conn.fetch(
        "SELECT id, position FROM attachments WHERE message_id = $1 ORDER BY position",
        row["id"],
    )
    kept = set(keep) if keep is not None else {r["id"] for r in existing}
    dropped = [r["id"] for r in existing if r["id"] not in kept]
    if dropped:
        await conn.execute("DELETE FROM attachments WHERE id = ANY($1)", dropped)
    if added:
        access.require(Permission.ATTACH_FILES)
        if len(existing) - len(dropped) + len(added) > limits.ATTACHMENTS_PER_MESSAGE:
            raise invalid_form(
                "attachments", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        last = max((r["position"] for r in existing), default=-1)
        await _store_attachments(ctx, conn, row["id"], row["channel_id"], added, last + 1)


@dataclass(frozen=True)
class NewAttachment:
    """A file uploaded for a message, with what the upload learned about it."""

    id: int
    filename: str
    content_type: str
    size: int
    description: str | None = None
    width: int | None = None
    height: int | None = None
    has_preview: bool = False

    @property
    def keys(self) -> list[str]:
        keys = [attachment_files.file_key(self.id)]
        if self.has_preview:
            keys.append(attachment_files.preview_key(self.id))
        return keys


async def _store_attachments(
    ctx: Context,
    conn: Connection,
    message_id: int,
    channel_id: int,
    attachments: Sequence[NewAttachment],
    first_position: int,
) -> list[dict[str, Any]]:
    if not attachments:
        return []
    if not await files.claim(conn, [k for a in attachments for k in a.keys]):
        raise DomainError(Error.UPLOAD_EXPIRED)
    rows = await conn.fetch(
        """INSERT INTO attachments (id, message_id, channel_id, position, filename, description,
                                    content_type, size, width, height, file_key, preview_key)
           SELECT a.id, $1, $2, $3 + a.position - 1, a.filename, a.description, a.content_type,
                  a.size, a.width, a.height, a.file_key, a.preview_key
           FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                       $9::int[], $10::int[], $11::text[], $12::text[])
                WITH ORDINALITY AS a (id, filename, description, content_type, size, width,
                                      height, file_key, preview_key, position)
           RETURNING *""",
        message_id,
        channel_id,
        first_position,
        [a.id for a in attachments],
        [a.filename for a in attachments],
        [a.description for a in attachments],
        [a.content_type for a in attachments],
        [a.size for a in attachments],
        [a.width for a in attachments],
        [a.height for a in attachments],
        [attachment_files.file_key(a.id) for a in attachments],
        [attachment_files.preview_key(a.id) if a.has_preview else None for a in attachments],
    )
    rows = sorted(rows, key=lambda r: r["position"])
    urls = ctx.urls()
    return [urls.attachment(r) for r in rows]


async def _resolve_mentions(
    conn: Connection,
    access: ChannelAccess,
    content: str,
    allowed: mentions.Allowed | None,
    replied_author: int | None,
) -> tuple[list[asyncpg.Record], list[int], bool]:
    """Who the message mentions: users of the conversation, roles that may be mentioned
    (mentionable, or by someone with MENTION_EVERYONE), @everyone/@here only with
    MENTION_EVERYONE; all as ``allowed_mentions`` permits (absent: everything)."""
    parsed = mentions.parse(content)
    rules = allowed or mentions.EVERYTHING
    user_ids = [u for u in parsed.users if rules.user(u)]
    if (
        replied_author is not None
        and (allowed is None or allowed.replied_user)
        and replied_author not in user_ids
    ):
        user_ids.append(replied_author)
    may_mention_all = (
        bool(access.permissions & Permission.MENTION_EVERYONE) and access.guild is not None
    )
    if access.guild_id is None:
        present = set(await recipients_of(conn, access.channel_id))
        users = [
            u for u in (await queries.users_by_id(conn, user_ids)).values() if u["id"] in present
        ]
        roles: list[int] = []
    else:
        members = await conn.fetch(
            f"""SELECT {shapes.USER_COLUMNS} FROM members m JOIN users u ON u.id = m.user_id
                WHERE m.guild_id = $1 AND m.user_id = ANY($2)""",
            access.guild_id,
            user_ids,
        )
        users = list(members)
        wanted = [r for r in parsed.roles if rules.role(r)]
        roles = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id, mentionable FROM roles WHERE guild_id = $1 AND id = ANY($2) AND id <> $1",
                access.guild_id,
                wanted,
            )
            if r["mentionable"] or may_mention_all
        ]
    order = {u: i for i, u in enumerate(user_ids)}
    users.sort(key=lambda u: order[u["id"]])
    everyone = parsed.everyone and rules.everyone and may_mention_all
    return users, roles, everyone


def _id_floor(since: datetime) -> int:
    return snowflake_floor(int(since.timestamp() * 1000))


async def _resolve_reference(
    conn: Connection,
    access: ChannelAccess,
    actor: Actor,
    reference: dict[str, Any] | None,
    urls: SignedUrls,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A reply must point at a message in the same channel; Discord drops an unknown
    target instead of failing when ``fail_if_not_exists`` is false."""
    if not reference or reference.get("message_id") is None:
        return None, None
    target_channel = reference.get("channel_id")
    if target_channel is not None and int(target_channel) != access.channel_id:
        raise invalid_form(
            "message_reference",
            "REPLIES_CANNOT_REFERENCE_OTHER_CHANNEL",
            "Cannot reply to a message in another channel",
        )
    try:
        referenced = await queries.message(
            conn, access.channel_id, int(reference["message_id"]), actor.user_id, urls
        )
    except DomainError:
        if reference.get("fail_if_not_exists", True):
            raise invalid_form(
                "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
            ) from None
        return None, None
    referenced.pop("reactions", None)  # viewer-relative; the reply is seen by everyone
    stored = {
        "type": 0,
        "message_id": referenced["id"],
        "channel_id": str(access.channel_id),
    }
    if access.guild_id is not None:
        stored["guild_id"] = str(access.guild_id)
    return stored, referenced


async def _message_row(conn: Connection, channel_id: int, message_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM messages WHERE id = $1 AND channel_id = $2 FOR UPDATE",
        message_id,
        channel_id,
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_MESSAGE)
    return row


async def edit_message(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    message_id: int,
    changes: dict[str, Any],
    allowed_mentions: mentions.Allowed | None = None,
    new_attachments: Sequence[NewAttachment] = (),
) -> dict[str, Any]:
    """Edit content, embeds, flags; ``changes["attachments"]`` (ids) lists the
    attachments to keep, and ``new_attachments`` are added after them."""

    async def body(conn: Connection) -> dict[str, Any]:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        row = await _message_row(conn, channel_id, message_id)
        is_author = row["author_id"] == actor.user_id
        updates: dict[str, Any] = {}
        touches_files = changes.get("attachments") is not None or bool(new_attachments)
        if "content" in changes or "embeds" in changes or touches_files:
            if not is_author:
                raise DomainError(Error.NOT_AUTHOR)
            await _edit_attachments(
                ctx, conn, access, row, changes.get("attachments"), new_attachments
            )
            if "content" in changes:
                updates["content"] = changes["content"] or ""
                replied = None
                if row["reference"] is not None:
                    replied = await conn.fetchval(
                        "SELECT author_id FROM messages WHERE id = $1",
                        int(row["reference"]["message_id"]),
                    )
                users, roles, everyone = await _resolve_mentions(
                    conn, access, updates["content"], allowed_mentions, replied
                )
                updates["mention_ids"] = [u["id"] for u in users]
                updates["mention_role_ids"] = roles
                updates["mention_everyone"] = everyone
                if links.preview_urls(updates["content"]) != links.preview_urls(row["content"]):
                    updates["link_embeds"] = []  # the previewer fetches the new links
            if "embeds" in changes:
                if changes["embeds"]:
                    access.require(Permission.EMBED_LINKS)
                updates["embeds"] = changes["embeds"] or []
            if (
                not updates.get("content", row["content"])
                and not updates.get("embeds", row["embeds"])
                and not await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM attachments WHERE message_id = $1)", message_id
                )
            ):
                raise DomainError(Error.EMPTY_MESSAGE)
            updates["edited_at"] = ctx.now()
        if changes.get("flags") is not None:
            if not is_author:
                access.require(Permission.MANAGE_MESSAGES)
            updates["flags"] = (row["flags"] & ~SETTABLE_FLAGS) | (
                changes["flags"] & SETTABLE_FLAGS
            )
        if updates:
            seq, _ = await events.next_channel_seq(conn, channel_id)
            await update(conn, "messages", {"id": message_id}, updates)
            data = await queries.message(conn, channel_id, message_id, actor.user_id, ctx.urls())
            member = await _member_partial(conn, access, row["author_id"])
            await _emit_channel_event(
                conn, access, "MESSAGE_UPDATE", _with_context(data, access, member), channel_seq=seq
            )
            return data
        return await queries.message(conn, channel_id, message_id, actor.user_id, ctx.urls())

    return await ctx.db.write(body)


async def set_link_embeds(
    ctx: Context, channel_id: int, message_id: int, urls: list[str], embeds: list[dict[str, Any]]
) -> bool:
    """Attach the previews fetched for ``urls`` and tell everyone (MESSAGE_UPDATE), unless
    the message changed its links meanwhile, suppresses embeds, is gone, or its author
    may no longer embed links there. Returns whether they were attached."""

    async def body(conn: Connection) -> bool:
        row = await conn.fetchrow(
            "SELECT * FROM messages WHERE id = $1 AND channel_id = $2 FOR UPDATE",
            message_id,
            channel_id,
        )
        if (
            row is None
            or row["flags"] & shapes.FLAG_SUPPRESS_EMBEDS
            or links.preview_urls(row["content"]) != urls
            or row["link_embeds"] == embeds
        ):
            return False
        try:
            access = await channel_access(conn, channel_id, row["author_id"], ctx.now())
        except DomainError:
            return False  # the author left or lost sight of the channel
        if not access.permissions & Permission.EMBED_LINKS:
            return False
        seq, _ = await events.next_channel_seq(conn, channel_id)
        await update(conn, "messages", {"id": message_id}, {"link_embeds": embeds})
        data = await queries.message(conn, channel_id, message_id, None, ctx.urls())
        member = await _member_partial(conn, access, row["author_id"])
        await _emit_channel_event(
            conn, access, "MESSAGE_UPDATE", _with_context(data, access, member), channel_seq=seq
        )
        return True

    return await ctx.db.write(body)


async def delete_rows(
    conn: Connection, guild_id: int | None, channel_id: int, message_ids: list[int]
) -> list[int]:
    """Delete messages of one channel as one timeline change; returns those that existed."""
    deleted = [
        r["id"]
        for r in await conn.fetch(
            "DELETE FROM messages WHERE channel_id = $1 AND id = ANY($2) RETURNING id",
            channel_id,
            message_ids,
        )
    ]
    if not deleted:
        return deleted
    seq, _ = await events.next_channel_seq(conn, channel_id)
    base: dict[str, Any] = {"channel_id": str(channel_id)}
    if guild_id is not None:
        base["guild_id"] = str(guild_id)
    if len(deleted) == 1:
        event, data = "MESSAGE_DELETE", {"id": str(deleted[0]), **base}
    else:
        event, data = "MESSAGE_DELETE_BULK", {"ids": [str(i) for i in sorted(deleted)], **base}
    if guild_id is None:
        await emit_private(conn, channel_id, event, data, channel_seq=seq)
    else:
        await events.emit_guild(conn, guild_id, event, data, channel_id=channel_id, channel_seq=seq)
    return deleted


async def delete_message(
    ctx: Context, actor: Actor, channel_id: int, message_id: int, reason: str | None
) -> None:
    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        row = await _message_row(conn, channel_id, message_id)
        own = row["author_id"] == actor.user_id
        if not own:
            if access.guild is None:
                raise DomainError(Error.NOT_AUTHOR)
            access.require(Permission.MANAGE_MESSAGES)
        await delete_rows(conn, access.guild_id, channel_id, [message_id])
        if not own and access.guild_id is not None:
            await audit.record(
                conn,
                ctx.ids,
                access.guild_id,
                actor.user_id,
                AuditAction.MESSAGE_DELETE,
                target_id=row["author_id"],
                options={"channel_id": str(channel_id), "count": "1"},
                reason=reason,
            )

    await ctx.db.write(body)


async def bulk_delete(
    ctx: Context, actor: Actor, channel_id: int, message_ids: list[int], reason: str | None
) -> None:
    unique = sorted(set(message_ids))
    if not limits.BULK_DELETE_MIN <= len(unique) <= limits.BULK_DELETE_MAX:
        raise DomainError(Error.BULK_DELETE_COUNT)
    oldest_allowed = _id_floor(ctx.now() - timedelta(seconds=limits.BULK_DELETE_MAX_AGE_SECONDS))
    if unique[0] < oldest_allowed:
        raise DomainError(Error.BULK_DELETE_TOO_OLD)

    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        if access.guild is None:
            raise DomainError(Error.DM_CHANNEL)
        access.require(Permission.MANAGE_MESSAGES)
        deleted = await delete_rows(conn, access.guild_id, channel_id, unique)
        if deleted:
            assert access.guild_id is not None
            await audit.record(
                conn,
                ctx.ids,
                access.guild_id,
                actor.user_id,
                AuditAction.MESSAGE_BULK_DELETE,
                target_id=channel_id,
                options={"count": str(len(deleted))},
                reason=reason,
            )

    await ctx.db.write(body)


# --- reactions -------------------------------------------------------------------------


_CUSTOM_EMOJI = re.compile(r"^(?:a:)?[A-Za-z0-9_]{1,32}:(\d{1,20})$")


def parse_emoji(raw: str) -> str:
    """A reaction's emoji from the URL: Unicode as itself, a custom emoji (``name:id``,
    as Discord's clients send it) as its id, which is how reactions store it."""
    custom = _CUSTOM_EMOJI.match(raw)
    if custom is not None:
        return custom.group(1)
    if raw.isdigit() or not emoji_lib.is_emoji(raw):
        raise DomainError(Error.UNKNOWN_EMOJI)
    return raw


async def _require_usable_emoji(
    conn: Connection, access: ChannelAccess, actor: Actor, stored: str, now: datetime
) -> None:
    """A custom emoji must exist, be one the actor's roles allow, and come from this
    guild or (with USE_EXTERNAL_EMOJIS here) another guild the actor is in."""
    if not stored.isdigit():
        return
    row = await conn.fetchrow("SELECT guild_id, role_ids FROM emojis WHERE id = $1", int(stored))
    if row is None:
        raise DomainError(Error.UNKNOWN_EMOJI)
    if row["guild_id"] != access.guild_id:
        access.require(Permission.USE_EXTERNAL_EMOJIS)
    home = access.guild if row["guild_id"] == access.guild_id else None
    if home is None:
        try:
            home = await guild_access(conn, row["guild_id"], actor.user_id, now)
        except DomainError:
            raise DomainError(Error.UNKNOWN_EMOJI) from None
    if row["role_ids"] and not (
        home.is_owner or set(row["role_ids"]) & set(home.member.role_permissions)
    ):
        raise DomainError(Error.UNKNOWN_EMOJI)


def _reaction_event(
    access: ChannelAccess,
    message_id: int,
    user_id: int,
    stored_emoji: str,
    custom: dict[int, asyncpg.Record],
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user_id": str(user_id),
        "channel_id": str(access.channel_id),
        "message_id": str(message_id),
        "emoji": shapes.emoji(stored_emoji, custom),
        "burst": False,
        "type": 0,
    }
    if access.guild_id is not None:
        data["guild_id"] = str(access.guild_id)
    return data


async def add_reaction(
    ctx: Context, actor: Actor, channel_id: int, message_id: int, raw_emoji: str
) -> None:
    stored = parse_emoji(raw_emoji)

    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        access.require(Permission.READ_MESSAGE_HISTORY)
        row = await _message_row(conn, channel_id, message_id)
        await _require_usable_emoji(conn, access, actor, stored, ctx.now())
        present = await conn.fetch(
            "SELECT DISTINCT emoji FROM reactions WHERE message_id = $1", message_id
        )
        if stored not in {r["emoji"] for r in present}:
            # Starting a new reaction needs ADD_REACTIONS; joining one does not.
            access.require(Permission.ADD_REACTIONS)
            if len(present) >= limits.REACTIONS_PER_MESSAGE:
                raise DomainError(Error.MAX_REACTIONS)
        inserted = await conn.fetchval(
            """INSERT INTO reactions (message_id, emoji, user_id) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            message_id,
            stored,
            actor.user_id,
        )
        if not inserted:
            return
        seq, _ = await events.next_channel_seq(conn, channel_id)
        custom = await queries.custom_emojis(conn, [stored])
        data = _reaction_event(access, message_id, actor.user_id, stored, custom)
        data["message_author_id"] = str(row["author_id"])
        member = await _member_partial(conn, access, actor.user_id)
        if member is not None:
            member["user"] = await queries.user(conn, actor.user_id)
            data["member"] = member
        await _emit_channel_event(conn, access, "MESSAGE_REACTION_ADD", data, channel_seq=seq)

    await ctx.db.write(body)


async def remove_reaction(
    ctx: Context, actor: Actor, channel_id: int, message_id: int, raw_emoji: str, user_id: int
) -> None:
    """Remove one user's reaction: your own, or anyone's with MANAGE_MESSAGES."""
    stored = parse_emoji(raw_emoji)

    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        if user_id != actor.user_id:
            if access.guild is None:
                raise DomainError(Error.DM_CHANNEL)
            access.require(Permission.MANAGE_MESSAGES)
        await _message_row(conn, channel_id, message_id)
        deleted = await conn.fetchval(
            "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3 RETURNING true",
            message_id,
            stored,
            user_id,
        )
        if deleted:
            seq, _ = await events.next_channel_seq(conn, channel_id)
            custom = await queries.custom_emojis(conn, [stored])
            data = _reaction_event(access, message_id, user_id, stored, custom)
            await _emit_channel_event(
                conn, access, "MESSAGE_REACTION_REMOVE", data, channel_seq=seq
            )

    await ctx.db.write(body)


async def clear_reactions(
    ctx: Context, actor: Actor, channel_id: int, message_id: int, raw_emoji: str | None
) -> None:
    """Remove all reactions, or all of one emoji (MANAGE_MESSAGES)."""
    stored = parse_emoji(raw_emoji) if raw_emoji is not None else None

    async def body(conn: Connection) -> None:
        access = await channel_access(conn, channel_id, actor.user_id, ctx.now())
        if access.guild is None:
            raise DomainError(Error.DM_CHANNEL)
        access.require(Permission.MANAGE_MESSAGES)
        await _message_row(conn, channel_id, message_id)
        deleted = await conn.fetchval(
            """WITH d AS (DELETE FROM reactions WHERE message_id = $1 AND ($2::text IS NULL OR emoji = $2)
                          RETURNING 1) SELECT count(*) FROM d""",
            message_id,
            stored,
        )
        if not deleted:
            return
        seq, _ = await events.next_channel_seq(conn, channel_id)
        data: dict[str, Any] = {"channel_id": str(channel_id), "message_id": str(message_id)}
        if access.guild_id is not None:
            data["guild_id"] = str(access.guild_id)
        if stored is None:
            await _emit_channel_event(
                conn, access, "MESSAGE_REACTION_REMOVE_ALL", data, channel_seq=seq
            )
        else:
            data["emoji"] = shapes.emoji(stored, await queries.custom_emojis(conn, [stored]))
            await _emit_channel_event(
                conn, access, "MESSAGE_REACTION_REMOVE_EMOJI", data, channel_seq=seq
            )

    await ctx.db.write(body)


# --- pins ------------------------------------------------------------------------------


async def set_pinned(
    ctx: Context,
    actor: Actor,
    channel_id: int,
    message_id: int,
    *,
    pinned: bool,
    reason: str | None,
) -> None:
    async def body(conn: Connection) -> None:
        now = ctx.now()
        access = await channel_access(conn, channel_id, actor.user_id, now, lock=True)
        if not access.permissions & (Permission.PIN_MESSAGES | Permission.MANAGE_MESSAGES):
            raise DomainError(Error.MISSING_PERMISSIONS)
        row = await _message_row(conn, channel_id, message_id)
        if (row["pinned_at"] is not None) == pinned:
            return
        if pinned:
            count = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE channel_id = $1 AND pinned_at IS NOT NULL",
                channel_id,
            )
            if count >= limits.PINS_PER_CHANNEL:
                raise DomainError(Error.MAX_PINS)
        seq, _ = await events.next_channel_seq(conn, channel_id)
        await conn.execute(
            "UPDATE messages SET pinned_at = $2 WHERE id = $1", message_id, now if pinned else None
        )
        last_pin = await conn.fetchval(
            """UPDATE channels SET last_pin_timestamp =
                   (SELECT max(pinned_at) FROM messages WHERE channel_id = $1 AND pinned_at IS NOT NULL)
               WHERE id = $1 RETURNING last_pin_timestamp""",
            channel_id,
        )
        data = await queries.message(conn, channel_id, message_id, actor.user_id, ctx.urls())
        member = await _member_partial(conn, access, row["author_id"])
        await _emit_channel_event(
            conn, access, "MESSAGE_UPDATE", _with_context(data, access, member), channel_seq=seq
        )
        pins: dict[str, Any] = {
            "channel_id": str(channel_id),
            "last_pin_timestamp": shapes.ts(last_pin),
        }
        if access.guild_id is not None:
            pins["guild_id"] = str(access.guild_id)
            await audit.record(
                conn,
                ctx.ids,
                access.guild_id,
                actor.user_id,
                AuditAction.MESSAGE_PIN if pinned else AuditAction.MESSAGE_UNPIN,
                target_id=row["author_id"],
                options={"channel_id": str(channel_id), "message_id": str(message_id)},
                reason=reason,
            )
        await _emit_channel_event(conn, access, "CHANNEL_PINS_UPDATE", pins)

    await ctx.db.write(body)


async def typing(ctx: Context, actor: Actor, channel_id: int) -> None:
    async def body(conn: Connection) -> None:
        access = await _writable_channel(ctx, conn, actor, channel_id)
        data: dict[str, Any] = {
            "channel_id": str(channel_id),
            "user_id": str(actor.user_id),
            "timestamp": int(ctx.now().timestamp()),
        }
        if access.guild_id is not None:
            data["guild_id"] = str(access.guild_id)
            member = await queries.member(conn, access.guild_id, actor.user_id)
            data["member"] = member
        await _emit_channel_event(conn, access, "TYPING_START", data)

    await ctx.db.write(body)
