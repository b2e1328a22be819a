"""Steady fan-out: one guild whose members are all online, and a fixed 24 messages per
second whatever its size, so the deliveries grow with the members alone. With members
growing in step with gateway processes (150 on one, 450 on three) every gateway carries
the same load per event, which is how adding gateway pods is meant to add capacity: the
CPU per delivered event should then stay the same. ``users`` is the number of members."""

from __future__ import annotations

from spectrus_load.plan import Plan, Shape
from spectrus_load.users import GatewayMember, RestMember

POSTERS = 24  # each posts once a second: 2 requests/s, half of them posts


class Online(GatewayMember):
    pass


class Poster(RestMember):
    pass


def plan(users: int) -> Plan:
    members = max(users, POSTERS)
    return Plan(
        scenario="steady_fanout",
        shape=Shape(guilds=1, members_per_guild=members, text_channels=3),
        counts={"Online": members, "Poster": POSTERS},
        rest_rate=2.0,
    )
