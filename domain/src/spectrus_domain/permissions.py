"""Discord API v10 permission bits and the documented computation.

The computation follows Discord's "Permissions" topic exactly: the guild owner and
ADMINISTRATOR get everything; otherwise @everyone's bits OR the member's roles' bits, then,
for a channel, the @everyone overwrite, then all role overwrites together (deny before
allow), then the member's own overwrite. Implicit rules (timeouts, a hidden channel hides
everything in it, no SEND_MESSAGES means no mentions/attachments/embeds) are applied after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntFlag


class Permission(IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51


ALL = 0
for _p in Permission:
    ALL |= int(_p)
ALL_PERMISSIONS = ALL
"""Every bit Discord defines; the owner and administrators hold exactly these."""

# Discord's defaults for @everyone in a new guild (the client's "default permissions").
DEFAULT_EVERYONE = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.CHANGE_NICKNAME
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.SEND_TTS_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.ADD_REACTIONS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.STREAM
    | Permission.USE_VAD
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.REQUEST_TO_SPEAK
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.CREATE_PRIVATE_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.USE_EXTERNAL_STICKERS
    | Permission.USE_EMBEDDED_ACTIVITIES
    | Permission.SEND_VOICE_MESSAGES
    | Permission.SEND_POLLS
    | Permission.USE_EXTERNAL_APPS
    | Permission.CREATE_GUILD_EXPRESSIONS
    | Permission.CREATE_EVENTS
    | Permission.USE_SOUNDBOARD
    | Permission.USE_EXTERNAL_SOUNDS
)

# What a timed-out member keeps (Discord: only viewing and reading history).
TIMEOUT_ALLOWED = int(Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)

# Bits that only mean something together with SEND_MESSAGES.
_NEEDS_SEND = int(
    Permission.MENTION_EVERYONE
    | Permission.SEND_TTS_MESSAGES
    | Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
    | Permission.SEND_POLLS
    | Permission.SEND_VOICE_MESSAGES
)
# Bits that only mean something together with CONNECT in a voice channel.
_NEEDS_CONNECT = int(
    Permission.SPEAK
    | Permission.STREAM
    | Permission.USE_VAD
    | Permission.PRIORITY_SPEAKER
    | Permission.MUTE_MEMBERS
    | Permission.DEAFEN_MEMBERS
    | Permission.MOVE_MEMBERS
    | Permission.USE_SOUNDBOARD
)

OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


@dataclass(frozen=True, slots=True)
class Overwrite:
    target_id: int
    type: int  # OVERWRITE_ROLE or OVERWRITE_MEMBER
    allow: int
    deny: int


@dataclass(frozen=True, slots=True)
class MemberContext:
    """What permission computation needs to know about one member of one guild."""

    user_id: int
    guild_id: int
    owner_id: int
    everyone_permissions: int
    role_permissions: Mapping[int, int]  # the member's roles (not @everyone) -> bits
    timed_out: bool = False


def base_permissions(m: MemberContext) -> int:
    if m.user_id == m.owner_id:
        return ALL_PERMISSIONS
    permissions = m.everyone_permissions
    for bits in m.role_permissions.values():
        permissions |= bits
    if permissions & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    if m.timed_out:
        permissions &= TIMEOUT_ALLOWED
    return permissions


def apply_overwrites(base: int, m: MemberContext, overwrites: Iterable[Overwrite]) -> int:
    if base & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    everyone: Overwrite | None = None
    member: Overwrite | None = None
    role_allow = 0
    role_deny = 0
    for ow in overwrites:
        if ow.type == OVERWRITE_ROLE and ow.target_id == m.guild_id:
            everyone = ow
        elif ow.type == OVERWRITE_ROLE and ow.target_id in m.role_permissions:
            role_allow |= ow.allow
            role_deny |= ow.deny
        elif ow.type == OVERWRITE_MEMBER and ow.target_id == m.user_id:
            member = ow
    permissions = base
    if everyone is not None:
        permissions = (permissions & ~everyone.deny) | everyone.allow
    permissions = (permissions & ~role_deny) | role_allow
    if member is not None:
        permissions = (permissions & ~member.deny) | member.allow
    return permissions


def channel_permissions(
    m: MemberContext, overwrites: Iterable[Overwrite], *, is_voice: bool = False
) -> int:
    """Effective bits of member ``m`` in a guild channel with ``overwrites``."""
    base = base_permissions(m)
    if base == ALL_PERMISSIONS:
        return ALL_PERMISSIONS
    permissions = apply_overwrites(base, m, overwrites)
    if m.timed_out:
        permissions &= TIMEOUT_ALLOWED
    if not permissions & Permission.VIEW_CHANNEL:
        return 0
    if not permissions & Permission.SEND_MESSAGES:
        permissions &= ~_NEEDS_SEND
    if is_voice and not permissions & Permission.CONNECT:
        permissions &= ~_NEEDS_CONNECT
    return permissions


def has(permissions: int, required: int) -> bool:
    return permissions & required == required
