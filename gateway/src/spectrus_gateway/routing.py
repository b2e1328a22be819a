"""Which session receives which event, and in what form. Pure functions of the event,
the session's user and intents, and the guild's permission view.

Rules, as Discord applies them:
- an event naming its recipients (private channels, a user's own stream) goes to them;
- a guild event about a channel goes to members who can VIEW_CHANNEL it (invites also
  need MANAGE_CHANNELS; audit log entries VIEW_AUDIT_LOG), other guild events to members;
- bots receive an event only with the intent it belongs to; people get everything;
- nobody receives guild presence updates about themselves;
- bots without MESSAGE_CONTENT get messages without content, embeds, attachments and
  components, except their own, those mentioning them, and direct messages.
"""

from __future__ import annotations

from typing import Any

from spectrus_domain.bus import BusEvent
from spectrus_domain.permissions import Permission
from spectrus_gateway.protocol.codes import Intent
from spectrus_gateway.visibility import GuildView

_GUILD_INTENTS: dict[str, int] = {
    "GUILD_CREATE": Intent.GUILDS,
    "GUILD_UPDATE": Intent.GUILDS,
    "GUILD_DELETE": Intent.GUILDS,
    "GUILD_ROLE_CREATE": Intent.GUILDS,
    "GUILD_ROLE_UPDATE": Intent.GUILDS,
    "GUILD_ROLE_DELETE": Intent.GUILDS,
    "CHANNEL_CREATE": Intent.GUILDS,
    "CHANNEL_UPDATE": Intent.GUILDS,
    "CHANNEL_DELETE": Intent.GUILDS,
    "CHANNEL_PINS_UPDATE": Intent.GUILDS,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": Intent.GUILD_MEMBERS,
    "GUILD_EMOJIS_UPDATE": Intent.GUILD_EXPRESSIONS,
    "GUILD_BAN_ADD": Intent.GUILD_MODERATION,
    "GUILD_BAN_REMOVE": Intent.GUILD_MODERATION,
    "GUILD_AUDIT_LOG_ENTRY_CREATE": Intent.GUILD_MODERATION,
    "INVITE_CREATE": Intent.GUILD_INVITES,
    "INVITE_DELETE": Intent.GUILD_INVITES,
    "VOICE_STATE_UPDATE": Intent.GUILD_VOICE_STATES,
    "PRESENCE_UPDATE": Intent.GUILD_PRESENCES,
    "MESSAGE_CREATE": Intent.GUILD_MESSAGES,
    "MESSAGE_UPDATE": Intent.GUILD_MESSAGES,
    "MESSAGE_DELETE": Intent.GUILD_MESSAGES,
    "MESSAGE_DELETE_BULK": Intent.GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": Intent.GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": Intent.GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE_ALL": Intent.GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE_EMOJI": Intent.GUILD_MESSAGE_REACTIONS,
    "TYPING_START": Intent.GUILD_MESSAGE_TYPING,
}
_DIRECT_INTENTS: dict[str, int] = {
    "MESSAGE_CREATE": Intent.DIRECT_MESSAGES,
    "MESSAGE_UPDATE": Intent.DIRECT_MESSAGES,
    "MESSAGE_DELETE": Intent.DIRECT_MESSAGES,
    "MESSAGE_DELETE_BULK": Intent.DIRECT_MESSAGES,
    "CHANNEL_PINS_UPDATE": Intent.DIRECT_MESSAGES,
    "MESSAGE_REACTION_ADD": Intent.DIRECT_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": Intent.DIRECT_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE_ALL": Intent.DIRECT_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE_EMOJI": Intent.DIRECT_MESSAGE_REACTIONS,
    "TYPING_START": Intent.DIRECT_MESSAGE_TYPING,
}
# Extra permission some guild events need on top of seeing their channel.
_NEEDS = {
    "INVITE_CREATE": Permission.MANAGE_CHANNELS,
    "INVITE_DELETE": Permission.MANAGE_CHANNELS,
}
_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE"}


def required_intent(event: str, in_guild: bool) -> int:
    """The intent a bot needs for ``event``; 0 if none (READY, USER_UPDATE, ...)."""
    table = _GUILD_INTENTS if in_guild else _DIRECT_INTENTS
    return int(table.get(event, 0))


def may_see(ev: BusEvent, user_id: int, view: GuildView | None) -> bool:
    if ev.user_ids is not None:
        return user_id in ev.user_ids
    if ev.guild_id is None:
        return True
    if view is None or not view.is_member(user_id):
        return False
    if ev.event == "GUILD_AUDIT_LOG_ENTRY_CREATE":
        return bool(view.guild_permissions(user_id) & Permission.VIEW_AUDIT_LOG)
    if ev.channel_id is None:
        return True
    bits = view.channel_permissions(user_id, ev.channel_id)
    if not bits & Permission.VIEW_CHANNEL:
        return False
    needed = _NEEDS.get(ev.event)
    return needed is None or bool(bits & needed)


def for_session(
    ev: BusEvent, user_id: int, bot: bool, intents: int, view: GuildView | None
) -> dict[str, Any] | None:
    """The payload ``user_id`` receives for ``ev``, or None if they receive nothing."""
    if bot:
        needed = required_intent(ev.event, ev.guild_id is not None)
        if needed and not intents & needed:
            return None
    if not may_see(ev, user_id, view):
        return None
    if ev.event == "PRESENCE_UPDATE" and ev.data["user"]["id"] == str(user_id):
        return None  # one's own status comes from one's own client, not the guild
    data = ev.data
    if "_follow" in data or "_unfollow" in data:
        data = {k: v for k, v in data.items() if k not in ("_follow", "_unfollow")}
    if bot and ev.event in _MESSAGE_EVENTS and not intents & Intent.MESSAGE_CONTENT:
        data = redact_content(data, user_id)
    return data


def redact_content(message: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """A message as a bot without MESSAGE_CONTENT sees it."""
    author = message.get("author") or {}
    mentioned = any(u.get("id") == str(bot_id) for u in message.get("mentions") or [])
    if "guild_id" not in message or author.get("id") == str(bot_id) or mentioned:
        return message
    return {**message, "content": "", "embeds": [], "attachments": [], "components": []}
