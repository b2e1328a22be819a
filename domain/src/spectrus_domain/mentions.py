"""Mentions in message content: ``<@id>``, ``<@!id>``, ``<@&role>``, ``@everyone``,
``@here``. Parsing is pure; which mentions count is decided by the message action (who
exists, who may be pinged, what ``allowed_mentions`` permits)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_USER = re.compile(r"<@!?(\d{1,20})>")
_ROLE = re.compile(r"<@&(\d{1,20})>")
_EVERYONE = re.compile(r"@(everyone|here)\b")
MAX_MENTIONS = 100


@dataclass(frozen=True)
class Parsed:
    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    everyone: bool = False  # @everyone or @here


def _unique(ids: list[str]) -> list[int]:
    seen: dict[int, None] = {}
    for raw in ids:
        value = int(raw)
        if value < 1 << 63:
            seen.setdefault(value, None)
    return list(seen)[:MAX_MENTIONS]


def parse(content: str) -> Parsed:
    return Parsed(
        users=_unique(_USER.findall(content)),
        roles=_unique(_ROLE.findall(content)),
        everyone=_EVERYONE.search(content) is not None,
    )


@dataclass(frozen=True)
class Allowed:
    """Discord's ``allowed_mentions``; ``None`` for the field absent (everything parsed)."""

    parse: frozenset[str] = frozenset({"users", "roles", "everyone"})
    users: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    replied_user: bool = True

    def user(self, user_id: int) -> bool:
        return "users" in self.parse or user_id in self.users

    def role(self, role_id: int) -> bool:
        return "roles" in self.parse or role_id in self.roles

    @property
    def everyone(self) -> bool:
        return "everyone" in self.parse


EVERYTHING = Allowed()
