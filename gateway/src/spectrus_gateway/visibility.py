"""Who may see what, per guild, kept current by the guild's own events.

A ``GuildView`` holds what permission computation needs: the owner, every role's bits and
position, every channel's type and overwrites, and the roles and timeouts of its members. The hub applies each guild event to the view *before* routing it,
in stream order, so a permission change takes effect exactly at its place in the stream:
the events after an overwrite hides a channel are not delivered to those it hides it from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spectrus_domain import permissions as perms
from spectrus_domain.permissions import MemberContext, Overwrite, Permission
from spectrus_domain.shapes import CHANNEL_VOICE


@dataclass
class MemberState:
    roles: set[int]
    timeout_until: datetime | None = None


@dataclass
class GuildView:
    guild_id: int
    owner_id: int
    role_bits: dict[int, int]
    channels: dict[int, tuple[int, list[Overwrite]]]
    """Channel id -> (type, overwrites)."""
    members: dict[int, MemberState] = field(default_factory=dict)
    _cache: dict[tuple[int, int], int] = field(default_factory=dict)

    # --- questions ---------------------------------------------------------------------

    def is_member(self, user_id: int) -> bool:
        return user_id in self.members

    def _member(self, user_id: int, now: datetime) -> MemberContext | None:
        state = self.members.get(user_id)
        if state is None:
            return None
        return MemberContext(
            user_id=user_id,
            guild_id=self.guild_id,
            owner_id=self.owner_id,
            everyone_permissions=self.role_bits.get(self.guild_id, 0),
            role_permissions={r: self.role_bits[r] for r in state.roles if r in self.role_bits},
            timed_out=state.timeout_until is not None and state.timeout_until > now,
        )

    def guild_permissions(self, user_id: int, now: datetime | None = None) -> int:
        member = self._member(user_id, now or datetime.now(UTC))
        return 0 if member is None else perms.base_permissions(member)

    def channel_permissions(
        self, user_id: int, channel_id: int, now: datetime | None = None
    ) -> int:
        key = (user_id, channel_id)
        cached = self._cache.get(key)
        if cached is not None and not self._timed_out_soon(user_id):
            return cached
        channel = self.channels.get(channel_id)
        member = self._member(user_id, now or datetime.now(UTC))
        if channel is None or member is None:
            return 0
        bits = perms.channel_permissions(member, channel[1], is_voice=channel[0] == CHANNEL_VOICE)
        self._cache[key] = bits
        return bits

    def can_view(self, user_id: int, channel_id: int) -> bool:
        return bool(self.channel_permissions(user_id, channel_id) & Permission.VIEW_CHANNEL)

    def visible_channels(self, user_id: int) -> set[int]:
        return {c for c in self.channels if self.can_view(user_id, c)}

    def _timed_out_soon(self, user_id: int) -> bool:
        state = self.members.get(user_id)
        return state is not None and state.timeout_until is not None

    # --- changes -----------------------------------------------------------------------

    def apply(self, event: str, data: dict[str, Any]) -> None:
        """Fold one guild event into the view (idempotent: events carry whole objects)."""
        handler = _APPLY.get(event)
        if handler is not None:
            handler(self, data)
            self._cache.clear()

    def _guild_update(self, data: dict[str, Any]) -> None:
        self.owner_id = int(data["owner_id"])

    def _role(self, data: dict[str, Any]) -> None:
        role = data["role"]
        self.role_bits[int(role["id"])] = int(role["permissions"])

    def _role_delete(self, data: dict[str, Any]) -> None:
        role_id = int(data["role_id"])
        self.role_bits.pop(role_id, None)
        for member in self.members.values():
            member.roles.discard(role_id)

    def _channel(self, data: dict[str, Any]) -> None:
        if "guild_id" not in data:
            return
        self.channels[int(data["id"])] = (int(data["type"]), overwrites_from(data))

    def _channel_delete(self, data: dict[str, Any]) -> None:
        self.channels.pop(int(data["id"]), None)

    def _member_update(self, data: dict[str, Any]) -> None:
        self.members[int(data["user"]["id"])] = member_state(data)

    def _member_remove(self, data: dict[str, Any]) -> None:
        self.members.pop(int(data["user"]["id"]), None)


_APPLY = {
    "GUILD_UPDATE": GuildView._guild_update,
    "GUILD_ROLE_CREATE": GuildView._role,
    "GUILD_ROLE_UPDATE": GuildView._role,
    "GUILD_ROLE_DELETE": GuildView._role_delete,
    "CHANNEL_CREATE": GuildView._channel,
    "CHANNEL_UPDATE": GuildView._channel,
    "CHANNEL_DELETE": GuildView._channel_delete,
    "GUILD_MEMBER_ADD": GuildView._member_update,
    "GUILD_MEMBER_UPDATE": GuildView._member_update,
    "GUILD_MEMBER_REMOVE": GuildView._member_remove,
}


def overwrites_from(channel: dict[str, Any]) -> list[Overwrite]:
    return [
        Overwrite(int(o["id"]), int(o["type"]), int(o["allow"]), int(o["deny"]))
        for o in channel.get("permission_overwrites") or []
    ]


def member_state(member: dict[str, Any]) -> MemberState:
    until = member.get("communication_disabled_until")
    return MemberState(
        roles={int(r) for r in member.get("roles") or []},
        timeout_until=datetime.fromisoformat(until) if until else None,
    )
