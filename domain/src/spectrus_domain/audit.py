"""The guild audit log: Discord's action types and the writer actions call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from typing import Any

from spectrus_domain import events, shapes
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage.db import Connection


class AuditAction(IntEnum):
    GUILD_UPDATE = 1
    CHANNEL_CREATE = 10
    CHANNEL_UPDATE = 11
    CHANNEL_DELETE = 12
    CHANNEL_OVERWRITE_CREATE = 13
    CHANNEL_OVERWRITE_UPDATE = 14
    CHANNEL_OVERWRITE_DELETE = 15
    MEMBER_KICK = 20
    MEMBER_BAN_ADD = 22
    MEMBER_BAN_REMOVE = 23
    MEMBER_UPDATE = 24
    MEMBER_ROLE_UPDATE = 25
    MEMBER_MOVE = 26
    MEMBER_DISCONNECT = 27
    BOT_ADD = 28
    ROLE_CREATE = 30
    ROLE_UPDATE = 31
    ROLE_DELETE = 32
    INVITE_CREATE = 40
    INVITE_UPDATE = 41
    INVITE_DELETE = 42
    EMOJI_CREATE = 60
    EMOJI_UPDATE = 61
    EMOJI_DELETE = 62
    MESSAGE_DELETE = 72
    MESSAGE_BULK_DELETE = 73
    MESSAGE_PIN = 74
    MESSAGE_UNPIN = 75


def _json_value(value: Any) -> Any:
    """Audit values as Discord writes them: ids as strings, times in ISO 8601."""
    if isinstance(value, datetime):
        return shapes.ts(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**53:
        return str(value)  # a snowflake; JavaScript clients would lose its low bits
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Discord's ``changes``: one ``{key, old_value?, new_value?}`` per changed key."""
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = _json_value(before.get(key)), _json_value(after.get(key))
        if old == new:
            continue
        change: dict[str, Any] = {"key": key}
        if old is not None:
            change["old_value"] = old
        if new is not None:
            change["new_value"] = new
        changes.append(change)
    return changes


async def record(
    conn: Connection,
    ids: SnowflakeGenerator,
    guild_id: int,
    user_id: int | None,
    action: AuditAction,
    *,
    target_id: int | None = None,
    changes: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Write one entry and announce it (GUILD_AUDIT_LOG_ENTRY_CREATE) in the same
    transaction as the change it describes."""
    entry_id = ids.next()
    row = await conn.fetchrow(
        """INSERT INTO audit_log (id, guild_id, user_id, target_id, action_type, changes,
                                  options, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        entry_id,
        guild_id,
        user_id,
        target_id,
        int(action),
        changes or [],
        options,
        reason,
    )
    assert row is not None
    data = shapes.audit_entry(row)
    data["guild_id"] = str(guild_id)
    # Only members with VIEW_AUDIT_LOG receive it; the gateway filters on that.
    await events.emit_guild(conn, guild_id, "GUILD_AUDIT_LOG_ENTRY_CREATE", data)
