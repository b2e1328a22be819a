"""A busy guild: one guild whose members are all online, a few channels, and a high
message rate, so every message fans out to every member (the gateway's hardest case per
message). ``users`` is the number of members online; a quarter of them also post."""

from __future__ import annotations

from spectrus_load.plan import Plan, Shape
from spectrus_load.users import GatewayMember, RestMember


class Online(GatewayMember):
    pass


class Poster(RestMember):
    pass


def plan(users: int) -> Plan:
    members = max(users, 2)
    posters = max(1, members // 4)
    return Plan(
        scenario="busy_guild",
        shape=Shape(guilds=1, members_per_guild=members, text_channels=3),
        counts={"Online": members, "Poster": posters},
        # 2 requests/s per poster, half of them posts: members/4 messages per second.
        rest_rate=2.0,
    )
