"""Discord API v10 object shapes, built from database rows.

One place renders users, guilds, channels, roles, members, messages, invites, bans and
audit entries, so the REST API and the gateway send byte-identical objects. Ids are
strings and permission bitfields are strings, as in Discord's JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from spectrus_domain.ids import snowflake_datetime


class Row(Protocol):
    """A database record or a dict: anything read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_VOICE = 2
CHANNEL_GROUP_DM = 3
CHANNEL_CATEGORY = 4
GUILD_CHANNEL_TYPES = (CHANNEL_TEXT, CHANNEL_VOICE, CHANNEL_CATEGORY)
PRIVATE_CHANNEL_TYPES = (CHANNEL_DM, CHANNEL_GROUP_DM)
TEXT_CHANNEL_TYPES = (CHANNEL_TEXT, CHANNEL_DM, CHANNEL_GROUP_DM, CHANNEL_VOICE)
FLAG_SUPPRESS_EMBEDS = 1 << 2  # message flags
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12


def ts(value: datetime | None) -> str | None:
    """Discord's timestamp form: ISO 8601 with microseconds and ``+00:00``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def sid(value: int | None) -> str | None:
    return None if value is None else str(value)


USER_COLUMNS = "u.id, u.username, u.global_name, u.avatar, u.bot, u.system, u.flags"


def user(row: Row, prefix: str = "") -> dict[str, Any]:
    """A public user object; ``prefix`` reads columns aliased as ``<prefix>id`` etc."""
    data: dict[str, Any] = {
        "id": str(row[prefix + "id"]),
        "username": row[prefix + "username"],
        "discriminator": "0",
        "global_name": row[prefix + "global_name"],
        "avatar": row[prefix + "avatar"],
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": row[prefix + "flags"],
        "flags": row[prefix + "flags"],
        "primary_guild": None,
        "collectibles": None,
    }
    if row[prefix + "bot"]:
        data["bot"] = True
    if row[prefix + "system"]:
        data["system"] = True
    return data


def current_user(row: Row) -> dict[str, Any]:
    """``GET /users/@me``: the public object plus what only its owner sees."""
    data = user(row)
    data.update(
        {
            "mfa_enabled": False,
            "locale": row["locale"],
            "verified": row["email"] is not None,
            "email": row["email"],
            "premium_type": 0,
            "bio": "",
        }
    )
    return data


def role(row: Row) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "description": None,
        "color": row["color"],
        "colors": {"primary_color": row["color"], "secondary_color": None, "tertiary_color": None},
        "hoist": row["hoist"],
        "icon": row["icon"],
        "unicode_emoji": row["unicode_emoji"],
        "position": row["position"],
        "permissions": str(row["permissions"]),
        "managed": row["managed"],
        "mentionable": row["mentionable"],
        "flags": row["flags"],
    }
    if row["bot_id"] is not None:
        data["tags"] = {"bot_id": str(row["bot_id"])}
    return data


def overwrite(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["target_id"]),
        "type": row["type"],
        "allow": str(row["allow"]),
        "deny": str(row["deny"]),
    }


def channel(
    row: Row,
    overwrites: Iterable[Row] = (),
    recipients: Iterable[Row] = (),
) -> dict[str, Any]:
    kind = row["type"]
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "type": kind,
        "flags": 0,
        "last_message_id": sid(row["last_message_id"]),
    }
    if kind in PRIVATE_CHANNEL_TYPES:
        data["recipients"] = [user(r) for r in recipients]
        if kind == CHANNEL_GROUP_DM:
            data.update(
                {"name": row["name"], "icon": row["icon"], "owner_id": sid(row["owner_id"])}
            )
        data["last_pin_timestamp"] = ts(row["last_pin_timestamp"])
        return data
    data.update(
        {
            "guild_id": str(row["guild_id"]),
            "name": row["name"],
            "position": row["position"],
            "permission_overwrites": [overwrite(o) for o in overwrites],
            "parent_id": sid(row["parent_id"]),
            "nsfw": row["nsfw"],
        }
    )
    if kind == CHANNEL_TEXT:
        data["topic"] = row["topic"]
        data["rate_limit_per_user"] = row["rate_limit_per_user"]
        data["last_pin_timestamp"] = ts(row["last_pin_timestamp"])
    elif kind == CHANNEL_VOICE:
        data["bitrate"] = row["bitrate"]
        data["user_limit"] = row["user_limit"]
        data["rtc_region"] = row["rtc_region"]
        data["rate_limit_per_user"] = row["rate_limit_per_user"]
    if kind == CHANNEL_CATEGORY:
        data.pop("last_message_id")
    return data


def member(
    row: Row, role_ids: Iterable[int], *, with_user: bool = True, prefix: str = ""
) -> dict[str, Any]:
    """A guild member; ``row`` has member columns (under ``prefix``) and, with
    ``with_user``, user columns prefixed ``u_``."""
    data: dict[str, Any] = {
        "nick": row[prefix + "nick"],
        "avatar": row[prefix + "avatar"],
        "banner": None,
        "roles": [str(r) for r in sorted(role_ids)],
        "joined_at": ts(row[prefix + "joined_at"]),
        "premium_since": None,
        "deaf": row[prefix + "deaf"],
        "mute": row[prefix + "mute"],
        "flags": row[prefix + "flags"],
        "pending": row[prefix + "pending"],
        "communication_disabled_until": ts(row[prefix + "communication_disabled_until"]),
        "avatar_decoration_data": None,
    }
    if with_user:
        data["user"] = user(row, "u_")
    return data


def guild(
    row: Row,
    roles: Iterable[Row],
    emojis: Iterable[Row] = (),
    *,
    member_count: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "icon": row["icon"],
        "icon_hash": row["icon"],
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(row["owner_id"]),
        "region": "deprecated",
        "afk_channel_id": sid(row["afk_channel_id"]),
        "afk_timeout": row["afk_timeout"],
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": row["verification_level"],
        "default_message_notifications": row["default_message_notifications"],
        "explicit_content_filter": row["explicit_content_filter"],
        "roles": [role(r) for r in roles],
        "emojis": [custom_emoji(e) for e in emojis],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": sid(row["system_channel_id"]),
        "system_channel_flags": row["system_channel_flags"],
        "rules_channel_id": None,
        "max_presences": None,
        "max_members": 250_000,
        "vanity_url_code": None,
        "description": row["description"],
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": row["preferred_locale"],
        "public_updates_channel_id": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": False,
        "safety_alerts_channel_id": None,
        "incidents_data": None,
        "message_retention_days": row["message_retention_days"],  # Spectrus
    }
    if member_count is not None:
        data["approximate_member_count"] = member_count
    return data


def partial_guild(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "icon": row["icon"],
        "splash": None,
        "banner": None,
        "description": row["description"],
        "features": [],
        "verification_level": row["verification_level"],
        "vanity_url_code": None,
        "nsfw_level": 0,
        "premium_subscription_count": 0,
    }


def message_timestamp(message_id: int) -> str:
    stamp = ts(snowflake_datetime(message_id))
    assert stamp is not None
    return stamp


def reaction_list(
    rows: Iterable[Row], me: int | None, custom: Mapping[int, Row] | None = None
) -> list[dict[str, Any]]:
    """``rows`` are ``(emoji, count, user_ids-or-me)`` aggregates in first-added order."""
    out = []
    for r in rows:
        out.append(
            {
                "count": r["count"],
                "count_details": {"burst": 0, "normal": r["count"]},
                "me": bool(r["me"]) if me is not None else False,
                "me_burst": False,
                "burst_colors": [],
                "emoji": emoji(r["emoji"], custom),
            }
        )
    return out


def emoji(stored: str, custom: Mapping[int, Row] | None = None) -> dict[str, Any]:
    """A stored reaction emoji: a Unicode string, or a custom emoji's id (its name and
    animation from ``custom``; a deleted emoji keeps its id and loses its name)."""
    if not stored.isdigit():
        return {"id": None, "name": stored}
    row = (custom or {}).get(int(stored))
    if row is None:
        return {"id": stored, "name": None}
    data: dict[str, Any] = {"id": stored, "name": row["name"]}
    if row["animated"]:
        data["animated"] = True
    return data


def custom_emoji(row: Row, creator: Row | None = None) -> dict[str, Any]:
    """A guild emoji; ``creator`` only for those allowed to see who uploaded it."""
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "roles": [str(r) for r in row["role_ids"]],
        "require_colons": True,
        "managed": False,
        "animated": row["animated"],
        "available": True,
    }
    if creator is not None:
        data["user"] = user(creator)
    return data


def message(
    row: Row,
    *,
    attachments: list[dict[str, Any]] | None = None,
    mentions: Iterable[Row] = (),
    reactions: list[dict[str, Any]] | None = None,
    referenced: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message; ``row`` has message columns and author columns prefixed ``a_``."""
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "type": row["type"],
        "channel_id": str(row["channel_id"]),
        "author": user(row, "a_"),
        "content": row["content"],
        "timestamp": message_timestamp(row["id"]),
        "edited_timestamp": ts(row["edited_at"]),
        "tts": row["tts"],
        "mention_everyone": row["mention_everyone"],
        "mentions": [user(m) for m in mentions],
        "mention_roles": [str(r) for r in row["mention_role_ids"]],
        "attachments": attachments or [],
        "embeds": [] if row["flags"] & FLAG_SUPPRESS_EMBEDS else row["embeds"] + row["link_embeds"],
        "pinned": row["pinned_at"] is not None,
        "flags": row["flags"],
        "components": [],
    }
    if reactions:
        data["reactions"] = reactions
    if row["nonce"] is not None:
        data["nonce"] = row["nonce"]
    if row["reference"] is not None:
        data["message_reference"] = row["reference"]
        data["referenced_message"] = referenced
    return data


def invite(
    row: Row,
    *,
    guild_row: Row | None,
    channel_row: Row,
    inviter: Row | None,
    with_metadata: bool,
    counts: tuple[int, int] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": 0,
        "code": row["code"],
        "guild_id": sid(row["guild_id"]),
        "guild": partial_guild(guild_row) if guild_row is not None else None,
        "channel": {
            "id": str(channel_row["id"]),
            "name": channel_row["name"],
            "type": channel_row["type"],
        },
        "expires_at": ts(row["expires_at"]),
        "flags": 0,
    }
    if inviter is not None:
        data["inviter"] = user(inviter)
    if counts is not None:
        data["approximate_member_count"], data["approximate_presence_count"] = counts
    if with_metadata:
        data.update(
            {
                "uses": row["uses"],
                "max_uses": row["max_uses"],
                "max_age": row["max_age"],
                "temporary": row["temporary"],
                "created_at": ts(row["created_at"]),
            }
        )
    return data


def ban(row: Row) -> dict[str, Any]:
    return {"reason": row["reason"], "user": user(row, "u_")}


def audit_entry(row: Row) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "user_id": sid(row["user_id"]),
        "target_id": sid(row["target_id"]),
        "action_type": row["action_type"],
        "changes": row["changes"],
        "reason": row["reason"],
    }
    if row["options"] is not None:
        data["options"] = row["options"]
    return data


def application(row: Row, owner: Row, bot: Row | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "icon": row["icon"],
        "description": row["description"],
        "summary": "",
        "type": None,
        "bot_public": row["bot_public"],
        "bot_require_code_grant": row["bot_require_code_grant"],
        "verify_key": row["verify_key"],
        "flags": row["flags"],
        "owner": user(owner),
        "team": None,
        "hook": True,
        "is_monetized": False,
        "is_verified": False,
        "is_discoverable": False,
        "integration_types_config": {"0": {}},
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "rpc_origins": [],
        "approximate_guild_count": 0,
    }
    if bot is not None:
        data["bot"] = user(bot)
    return data
