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
from spectrus_domain import shapes
from spectrus_domain.errors import DomainError, Error
from spectrus_domain.permissions import MemberContext, Overwrite, Permission
from spectrus_domain.shapes import CHANNEL_VOICE
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
    row: asyncpg.Record
    """What it was loaded from: the guild's own columns (from ``guild_access``) or the
    channel's (from ``channel_access``), plus the actor's membership as ``m_*``."""
    guild_id: int
    member: MemberContext
    permissions: int
    top_rank: RoleRank

    def member_object(self) -> dict[str, Any]:
        """The actor's own member object (without ``user``), as events carry it."""
        return shapes.member(self.row, self.member.role_permissions, with_user=False, prefix="m_")

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

# Membership, roles and @everyone for user $2 in the guild the outer query names as
# ``gid``. Member columns carry an ``m_`` prefix; ``m_user_id`` is null for non-members.
_MEMBERSHIP_COLUMNS = """
       m.user_id AS m_user_id, m.nick AS m_nick, m.avatar AS m_avatar,
       m.joined_at AS m_joined_at, m.deaf AS m_deaf, m.mute AS m_mute,
       m.pending AS m_pending, m.flags AS m_flags,
       m.communication_disabled_until AS m_communication_disabled_until,
       owner.owner_id AS g_owner_id, ev.permissions AS everyone_permissions,
       coalesce(mr.role_ids, '{}') AS role_ids,
       coalesce(mr.role_bits, '{}') AS role_bits,
       coalesce(mr.role_positions, '{}') AS role_positions
"""
_MEMBERSHIP_JOINS = """
LEFT JOIN guilds owner ON owner.id = {gid}
LEFT JOIN members m ON m.guild_id = {gid} AND m.user_id = $2
LEFT JOIN roles ev ON ev.id = {gid}
LEFT JOIN LATERAL (
    SELECT array_agg(r.id ORDER BY r.id) AS role_ids, array_agg(r.permissions ORDER BY r.id) AS role_bits,
           array_agg(r.position ORDER BY r.id) AS role_positions
    FROM member_roles x JOIN roles r ON r.id = x.role_id
    WHERE x.guild_id = {gid} AND x.user_id = $2
) mr ON m.user_id IS NOT NULL
"""
_GUILD_ACCESS = (
    "SELECT g.*, "
    + _MEMBERSHIP_COLUMNS
    + " FROM guilds g "
    + _MEMBERSHIP_JOINS.format(gid="g.id")
    + " WHERE g.id = $1"
)
# One round trip for everything a channel check needs: the channel, the actor's
# membership of its guild (or of the private channel) and the channel's overwrites.
_CHANNEL_ACCESS = (
    "SELECT c.*, "
    + _MEMBERSHIP_COLUMNS
    + """,
       coalesce(ow.targets, '{}') AS ow_targets, coalesce(ow.kinds, '{}') AS ow_kinds,
       coalesce(ow.allows, '{}') AS ow_allows, coalesce(ow.denies, '{}') AS ow_denies,
       (c.guild_id IS NULL AND EXISTS (
            SELECT 1 FROM channel_recipients cr WHERE cr.channel_id = c.id AND cr.user_id = $2
       )) AS is_recipient
    FROM channels c """
    + _MEMBERSHIP_JOINS.format(gid="c.guild_id")
    + """
    LEFT JOIN LATERAL (
        SELECT array_agg(o.target_id) AS targets, array_agg(o.type) AS kinds,
               array_agg(o.allow) AS allows, array_agg(o.deny) AS denies
        FROM overwrites o WHERE o.channel_id = c.id
    ) ow ON c.guild_id IS NOT NULL
    WHERE c.id = $1"""
)


def _access_from(row: Any, guild_id: int, user_id: int, now: datetime) -> GuildAccess:
    timeout = row["m_communication_disabled_until"]
    role_ids: list[int] = list(row["role_ids"])
    member = MemberContext(
        user_id=user_id,
        guild_id=guild_id,
        owner_id=int(row["g_owner_id"]),
        everyone_permissions=int(row["everyone_permissions"] or 0),
        role_permissions=dict(zip(role_ids, row["role_bits"], strict=True)),
        timed_out=timeout is not None and timeout > now,
    )
    if member.user_id == member.owner_id:
        top = OWNER_RANK
    else:
        ranks = [role_rank(p, r) for p, r in zip(row["role_positions"], role_ids, strict=True)]
        top = max(ranks, default=role_rank(0, guild_id))
    return GuildAccess(row, guild_id, member, perms.base_permissions(member), top)


async def guild_access(conn: Connection, guild_id: int, user_id: int, now: datetime) -> GuildAccess:
    """The actor as a member of ``guild_id``: 404 if no such guild, 403 if not a member."""
    row = await conn.fetchrow(_GUILD_ACCESS, guild_id, user_id)
    if row is None:
        raise DomainError(Error.UNKNOWN_GUILD)
    if row["m_user_id"] is None:
        raise DomainError(Error.MISSING_ACCESS)
    return _access_from(row, guild_id, user_id, now)


def channel_overwrites(channel: dict[str, Any]) -> list[Overwrite]:
    """A channel object's ``permission_overwrites`` as permission inputs."""
    return [
        Overwrite(int(o["id"]), o["type"], int(o["allow"]), int(o["deny"]))
        for o in channel["permission_overwrites"]
    ]


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
        _CHANNEL_ACCESS + (" FOR UPDATE OF c" if lock else ""), channel_id, user_id
    )
    if row is None:
        raise DomainError(Error.UNKNOWN_CHANNEL)
    if row["guild_id"] is None:
        if not row["is_recipient"]:
            raise DomainError(Error.MISSING_ACCESS)
        return ChannelAccess(row, None, DM_PERMISSIONS)
    if row["m_user_id"] is None:
        raise DomainError(Error.MISSING_ACCESS)
    guild = _access_from(row, int(row["guild_id"]), user_id, now)
    overwrites = [
        Overwrite(*fields)
        for fields in zip(
            row["ow_targets"], row["ow_kinds"], row["ow_allows"], row["ow_denies"], strict=True
        )
    ]
    bits = permissions_in(guild, row, overwrites)
    if not perms.has(bits, Permission.VIEW_CHANNEL):
        raise DomainError(Error.MISSING_ACCESS)
    return ChannelAccess(row, guild, bits)


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
