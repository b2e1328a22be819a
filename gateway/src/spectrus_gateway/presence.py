"""Presence: shared, ephemeral state of who is online, kept per connection so that several
connections (and processes) of one user combine correctly. (Voice states are domain
state, in PostgreSQL: ``spectrus_domain.actions.voice``.)

A user's presence is the one set most recently by any of their live connections
(``invisible`` looks ``offline`` to others). Connections that vanish without a goodbye
(a killed process) expire: every process refreshes its own, and expired ones are swept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

CONNECTION_TTL = 60.0
"""Seconds a connection's presence lives without being refreshed."""


@dataclass
class Presence:
    status: str
    activities: list[dict[str, Any]] = field(default_factory=list)
    client_status: dict[str, str] = field(default_factory=dict)
    updated: float = 0.0

    def public(self) -> str:
        return "offline" if self.status == "invisible" else self.status


OFFLINE = Presence("offline")


def combine(presences: Iterable[Presence]) -> Presence:
    latest = max(presences, key=lambda p: p.updated, default=None)
    return latest if latest is not None else OFFLINE


def presence_payload(user_id: int, guild_id: int, presence: Presence) -> dict[str, Any]:
    status = presence.public()
    return {
        "user": {"id": str(user_id)},
        "guild_id": str(guild_id),
        "status": status,
        "activities": presence.activities if status != "offline" else [],
        "client_status": presence.client_status if status != "offline" else {},
    }


class PresenceStore(Protocol):
    async def set(self, user_id: int, conn_id: str, presence: Presence) -> Presence:
        """Record one connection's presence; return the user's combined presence."""
        ...

    async def remove(self, user_id: int, conn_id: str) -> int:
        """Forget a connection; return how many the user still has."""
        ...

    async def get(self, user_ids: list[int]) -> dict[int, Presence]:
        """Combined presences of those users who have a live connection."""
        ...

    async def refresh(self, entries: list[tuple[int, str, Presence]]) -> None:
        """Keep this process's connections alive (writing back any the store lost)."""
        ...

    async def sweep(self) -> list[int]:
        """Drop expired connections; return users left with none."""
        ...


class MemoryPresenceStore:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._connections: dict[int, dict[str, tuple[Presence, float]]] = {}

    async def set(self, user_id: int, conn_id: str, presence: Presence) -> Presence:
        self._connections.setdefault(user_id, {})[conn_id] = (
            presence,
            self._clock() + CONNECTION_TTL,
        )
        return combine(p for p, _ in self._connections[user_id].values())

    async def remove(self, user_id: int, conn_id: str) -> int:
        connections = self._connections.get(user_id, {})
        connections.pop(conn_id, None)
        if not connections:
            self._connections.pop(user_id, None)
        return len(connections)

    async def get(self, user_ids: list[int]) -> dict[int, Presence]:
        return {
            u: combine(p for p, _ in self._connections[u].values())
            for u in user_ids
            if self._connections.get(u)
        }

    async def refresh(self, entries: list[tuple[int, str, Presence]]) -> None:
        expires = self._clock() + CONNECTION_TTL
        for user_id, conn_id, presence in entries:
            self._connections.setdefault(user_id, {})[conn_id] = (presence, expires)

    async def sweep(self) -> list[int]:
        now = self._clock()
        emptied = []
        for user_id, connections in list(self._connections.items()):
            for conn_id, (_presence, expires) in list(connections.items()):
                if expires < now:
                    del connections[conn_id]
            if not connections:
                del self._connections[user_id]
                emptied.append(user_id)
        return emptied
