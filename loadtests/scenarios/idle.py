"""Idle: everyone online in guilds of eight, nobody talks. What connected clients cost
the deployment by themselves (heartbeats, the gateways' periodic work), which is the
part of CPU per event that does not shrink as events grow. ``users`` is the number of
members online. No message is posted, so the accounting has nothing to require."""

from __future__ import annotations

from spectrus_load.plan import Plan, Shape
from spectrus_load.users import GatewayMember

GUILD_SIZE = 8


class Online(GatewayMember):
    pass


def plan(users: int) -> Plan:
    guilds = max(1, -(-users // GUILD_SIZE))
    return Plan(
        scenario="idle",
        shape=Shape(guilds=guilds, members_per_guild=GUILD_SIZE, text_channels=2),
        counts={"Online": guilds * GUILD_SIZE},
        expects_deliveries=False,
    )
