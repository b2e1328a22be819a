"""Who may do what: loads a member's roles and a channel's overwrites, computes bits.

Actions call these before writing; they raise ``DomainError`` with Discord's codes:
unknown objects are 404s, objects the actor may not see are 403 Missing Access, and
visible objects the actor may not change are 403 Missing Permissions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from spectrus_domain import permissions as perms
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.permissions import MemberContext, Overwrite, Permission
from spectrus_domain.shapes import CHANNEL_VOICE, PRIVATE_CHANNEL_TYPES
from spectrus_domain.storage.db import Connection

RoleRank = tuple[int, int]
"""Role order: higher position wins; on equal positions the older (smaller id) role wins."""

OWNER_RANK: RoleRank = (1 << 31, 0)


def role_rank(position: int, role_id: int) -> RoleRank:
    return (position, -role_id)


@dataclass(frozen=True)
class Actor:
    """An authenticated user (a person or a bot) acting through some transport."""

    user_id: int
    bot: bool = False


@dataclass(frozen=True)
class GuildAccess:
    guild: asyncpg.Record
    member: MemberContext
    permissions: int
    top_rank: RoleRank

    @property
    def guild_id(self) -> int:
        return int(self.guild["id"])

    @property
    def is_owner(self) -> bool:
        return self.member.user_id == self.member.owner_id

    def require(self, *needed: Permission) -> None:
        for p in needed:
            if not perms.has(self.permissions, p):
                raise DomainError(Error.MISSING_PERMISSIONS)

    def require_owner(self) -> None:
        if not self.is_owner:
            raise DomainError(Error.MISSING_PERMISSIONS)

    def outranks(self, rank: RoleRank) -> bool:
        return self.is_owner or self.top_rank > rank

    def require_outranks(self, rank: RoleRank) -> None:
        if not self.outranks(rank):
            raise DomainError(Error.MISSING_PERMISSIONS)

    def require_grantable(self, bits: int) -> None:
        """Non-administrators may only hand out bits they hold themselves."""
        if bits & ~self.permissions:
            raise DomainError(Error.MISSING_PERMISSIONS)


@dataclass(frozen=True)
class ChannelAccess:
    channel: asyncpg.Record
    guild: GuildAccess | None  # None for DMs and group DMs
    permissions: int

    @property
    def channel_id(self) -> int:
        return int(self.channel["id"])

    @property
    def guild_id(self) -> int | None:
        return None if self.guild is None else self.guild.guild_id

    @property
    def is_private(self) -> bool:
        return self.guild is None

    def require(self, *needed: Permission) -> None:
        for p in needed:
            if not perms.has(self.permissions, p):
                raise DomainError(Error.MISSING_PERMISSIONS)


# Permissions a DM participant has: what a text channel member normally needs.
DM_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.SEND_TTS_MESSAGES
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.USE_VAD
    | Permission.PIN_MESSAGES
)

_GUILD_ACCESS = """
SELECT g.*, m.user_id AS member_id, m.communication_disabled_until,
       ev.permissions AS everyone_permissions,
       coalesce(mr.role_ids, '{}') AS role_ids,
       coalesce(mr.role_bits, '{}') AS role_bits,
       coalesce(mr.role_positions, '{}') AS role_positions
FROM guilds g
LEFT JOIN members m ON m.guild_id = g.id AND m.user_id = $2
LEFT JOIN roles ev ON ev.id = g.id
LEFT JOIN LATERAL (
    SELECT array_agg(r.id) AS role_ids, array_agg(r.permissions) AS role_bits,
           array_agg(r.position) AS role_positions
    FROM member_roles x JOIN roles r ON r.id = x.role_id
    WHERE x.guild_id = g.id AND x.user_id = $2
) mr ON m.user_id IS NOT NULL
WHERE g.id = $1
"""


def _guild_access_from(row: Any, user_id: int, now: datetime) -> GuildAccess:
    timeout = row["communication_disabled_until"]
    role_ids: list[int] = list(row["role_ids"])
    member = MemberContext(
        user_id=user_id,
        guild_id=int(row["id"]),
        owner_id=int(row["owner_id"]),
        everyone_permissions=int(row["everyone_permissions"] or 0),
        role_permissions=dict(zip(role_ids, row["role_bits"], strict=True)),
        timed_out=timeout is not None and timeout > now,
    )
    if member.user_id == member.owner_id:
        top = OWNER_RANK
    else:
        ranks = [role_rank(p, r) for p, r in zip(row["role_positions"], role_ids, strict=True)]
        top = max(ranks, default=role_rank(0, int(row["id"])))
    return GuildAccess(row, member, perms.base_permissions(member), top)


async def guild_access(conn: Connection, guild_id: int, user_id: int, now: datetime) -> GuildAccess:
    """The actor as a member of ``guild_id``: 404 if no such guild, 403 if not a member."""
    row = await conn.fetchrow(_GUILD_ACCESS, guild_id, user_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_GUILD)
    if row["member_id"] is None:
        raise DomainError(Error.MISSING_ACCESS)
    return _guild_access_from(row, user_id, now)


async def overwrites_of(conn: Connection, channel_id: int) -> list[Overwrite]:
    rows = await conn.fetch(
        "SELECT target_id, type, allow, deny FROM overwrites WHERE channel_id = $1", channel_id
    )
    return [Overwrite(r["target_id"], r["type"], r["allow"], r["deny"]) for r in rows]


def permissions_in(access: GuildAccess, channel: Any, overwrites: list[Overwrite]) -> int:
    return perms.channel_permissions(
        access.member, overwrites, is_voice=channel["type"] == CHANNEL_VOICE
    )


async def channel_access(
    conn: Connection,
    channel_id: int,
    user_id: int,
    now: datetime,
    *,
    lock: bool = False,
) -> ChannelAccess:
    """The actor in ``channel_id``: 404 if unknown, 403 Missing Access if not visible."""
    row = await conn.fetchrow(
        "SELECT * FROM channels WHERE id = $1" + (" FOR UPDATE" if lock else ""), channel_id
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_CHANNEL)
    if row["type"] in PRIVATE_CHANNEL_TYPES:
        is_recipient = await conn.fetchval(
            "SELECT true FROM channel_recipients WHERE channel_id = $1 AND user_id = $2",
            channel_id,
            user_id,
        )
        if not is_recipient:
            raise DomainError(Error.MISSING_ACCESS)
        return ChannelAccess(row, None, DM_PERMISSIONS)
    access = await guild_access(conn, row["guild_id"], user_id, now)
    bits = permissions_in(access, row, await overwrites_of(conn, channel_id))
    if not perms.has(bits, Permission.VIEW_CHANNEL):
        raise DomainError(Error.MISSING_ACCESS)
    return ChannelAccess(row, access, bits)


async def member_rank(conn: Connection, guild: GuildAccess, user_id: int) -> RoleRank:
    """Top role rank of another member (the owner outranks everyone)."""
    if user_id == guild.member.owner_id:
        return OWNER_RANK
    row = await conn.fetchrow(
        """SELECT r.position, r.id FROM member_roles x JOIN roles r ON r.id = x.role_id
           WHERE x.guild_id = $1 AND x.user_id = $2
           ORDER BY r.position DESC, r.id ASC LIMIT 1""",
        guild.guild_id,
        user_id,
    )
    if row is None:
        return role_rank(0, guild.guild_id)
    return role_rank(row["position"], row["id"])


async def require_member_manageable(
    conn: Connection, guild: GuildAccess, target_user_id: int
) -> None:
    """Moderating another member needs a higher top role; nobody moderates the owner."""
    if target_user_id == guild.member.owner_id:
        raise DomainError(Error.MISSING_PERMISSIONS)
    if target_user_id == guild.member.user_id:
        return
    guild.require_outranks(await member_rank(conn, guild, target_user_id))
