"""Many small guilds: groups of eight friends, each in its own guild with two channels,
everyone online, some chatting. Fan-out per message is small; the number of guilds (and
so of Redis shard channels and gateway subscriptions) is large. ``users`` is the number of
members online (rounded up to whole guilds)."""

from __future__ import annotations

from spectrus_load.plan import Plan, Shape
from spectrus_load.users import GatewayMember, RestMember

GUILD_SIZE = 8


class Online(GatewayMember):
    pass


class Chatter(RestMember):
    pass


def plan(users: int) -> Plan:
    guilds = max(1, -(-users // GUILD_SIZE))
    members = guilds * GUILD_SIZE
    return Plan(
        scenario="many_small_guilds",
        shape=Shape(guilds=guilds, members_per_guild=GUILD_SIZE, text_channels=2),
        counts={"Online": members, "Chatter": max(1, members // 4)},
        rest_rate=1.0,
    )
