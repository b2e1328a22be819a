"""Discord gateway v10 opcodes, close codes, intents."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class Op(IntEnum):
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


# Ops only the server sends; a client sending one gets 4001.
SERVER_ONLY_OPS = {Op.DISPATCH, Op.RECONNECT, Op.INVALID_SESSION, Op.HELLO, Op.HEARTBEAT_ACK}


class Close(IntEnum):
    """Close codes and whether a client may resume after them (Discord's table)."""

    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    SHARDING_REQUIRED = 4011
    INVALID_API_VERSION = 4012
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014


CLOSE_REASONS = {
    Close.UNKNOWN_ERROR: "Unknown error",
    Close.UNKNOWN_OPCODE: "Unknown opcode",
    Close.DECODE_ERROR: "Decode error",
    Close.NOT_AUTHENTICATED: "Not authenticated",
    Close.AUTHENTICATION_FAILED: "Authentication failed",
    Close.ALREADY_AUTHENTICATED: "Already authenticated",
    Close.INVALID_SEQ: "Invalid seq",
    Close.RATE_LIMITED: "Rate limited",
    Close.SESSION_TIMED_OUT: "Session timed out",
    Close.INVALID_SHARD: "Invalid shard",
    Close.SHARDING_REQUIRED: "Sharding required",
    Close.INVALID_API_VERSION: "Invalid API version",
    Close.INVALID_INTENTS: "Invalid intent(s)",
    Close.DISALLOWED_INTENTS: "Disallowed intent(s)",
}


class Intent(IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


ALL_INTENTS = 0
for _i in Intent:
    ALL_INTENTS |= int(_i)

PRIVILEGED_INTENTS = int(Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT)

# Application flags that grant a bot a privileged intent (Discord's GATEWAY_* flags; the
# "_LIMITED" variants count too).
APPLICATION_INTENT_FLAGS = {
    Intent.GUILD_PRESENCES: (1 << 12) | (1 << 13),
    Intent.GUILD_MEMBERS: (1 << 14) | (1 << 15),
    Intent.MESSAGE_CONTENT: (1 << 18) | (1 << 19),
}


def disallowed_intents(requested: int, application_flags: int) -> int:
    """Privileged intents a bot asked for without its application allowing them."""
    missing = 0
    for intent, flags in APPLICATION_INTENT_FLAGS.items():
        if requested & intent and not application_flags & flags:
            missing |= int(intent)
    return missing
