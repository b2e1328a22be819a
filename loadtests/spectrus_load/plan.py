"""What a scenario asks for at a given scale, and the seeded world the users run in.

A scenario file's ``plan(users)`` returns a ``Plan``: the shape of the world to seed
(guilds, members, channels), how many locust users of each class to run, and the knobs its
user classes read (message rate, reconnect period, voice rooms). The locust process seeds
the world through the REST API and shares it with every user as a ``World``. Both are
plain data, JSON-serialisable, so the runner and the accounting never import locust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """Guild ``g`` has members ``g * members_per_guild ...`` (each account in one guild),
    ``text_channels`` text channels and ``voice_channels`` voice channels."""

    guilds: int
    members_per_guild: int
    text_channels: int = 1
    voice_channels: int = 0

    @property
    def accounts(self) -> int:
        return self.guilds * self.members_per_guild


@dataclass(frozen=True)
class Plan:
    scenario: str
    shape: Shape
    # Locust user class name -> how many of them run (their ``fixed_count``).
    counts: dict[str, int]
    spawn_rate: float = 50.0
    # Per REST user: tasks per second (locust's constant_throughput).
    rest_rate: float = 0.5
    # Reconnect storm: every ``storm_every`` s every gateway user drops its connection at
    # once and comes back, resuming, or re-identifying with probability ``reidentify``.
    storm_every: float = 0.0
    reidentify: float = 0.0
    # Kill gateway process 0 (SIGKILL) at this fraction of the measured window; its clients
    # resume on the others. Needs two gateways or more.
    kill_gateway_at: float | None = None
    # Voice: rooms are the guilds' voice channels in order.
    # False for a scenario that posts nothing (then no required delivery is no failure).
    expects_deliveries: bool = True
    voice_rooms: int = 0
    speakers_per_room: int = 0
    listeners_per_room: int = 0

    @property
    def users(self) -> int:
        return sum(self.counts.values())

    @property
    def voice_sessions(self) -> int:
        return self.voice_rooms * (self.speakers_per_room + self.listeners_per_room)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Account:
    index: int
    user_id: str
    token: str
    guild: int  # index into World.guilds


@dataclass(frozen=True)
class Guild:
    id: str
    text_channels: list[str]
    voice_channels: list[str]
    members: list[int]  # account indices


@dataclass
class World:
    api_urls: list[str]
    gateway_urls: list[str]
    media_ca: str
    accounts: list[Account]
    guilds: list[Guild]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> World:
        return cls(
            api_urls=list(raw["api_urls"]),
            gateway_urls=list(raw["gateway_urls"]),
            media_ca=str(raw["media_ca"]),
            accounts=[Account(**a) for a in raw["accounts"]],
            guilds=[Guild(**g) for g in raw["guilds"]],
        )


def spread(i: int, n_users: int, n_accounts: int) -> int:
    """Account for user ``i`` of ``n_users``: evenly over the accounts (and so over the
    guilds, which hold consecutive accounts), not bunched in the first ones."""
    if n_users >= n_accounts:
        return i % n_accounts
    return (i * n_accounts) // n_users
