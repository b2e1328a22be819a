"""A reconnect storm: every few seconds every gateway client drops its connection at the
same moment (a network blip, a load balancer restart) and comes back at once: most
RESUME, on whichever gateway they land on, and a quarter IDENTIFY again. Halfway through
the window the runner SIGKILLs gateway process 0 (with two or more gateways) and its clients
resume on the others. Messages keep flowing meanwhile; resumes replay what was missed, so
every message must still arrive exactly once in every unbroken session. ``users`` is the
number of gateway clients."""

from __future__ import annotations

from spectrus_load.plan import Plan, Shape
from spectrus_load.users import GatewayMember, RestMember

GUILD_SIZE = 20


class Flaky(GatewayMember):
    pass


class Poster(RestMember):
    pass


def plan(users: int) -> Plan:
    guilds = max(1, -(-users // GUILD_SIZE))
    members = guilds * GUILD_SIZE
    return Plan(
        scenario="reconnect_storm",
        shape=Shape(guilds=guilds, members_per_guild=GUILD_SIZE, text_channels=2),
        counts={"Flaky": members, "Poster": max(2, members // 10)},
        rest_rate=2.0,
        storm_every=4.0,
        reidentify=0.25,
        kill_gateway_at=0.5,
    )
