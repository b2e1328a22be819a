"""The Redis bus against real servers: a three-node Redis 7 cluster (sharded pub/sub)
and two standalone servers (client-side sharding)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from prometheus_client import REGISTRY

from spectrus_domain.bus import BusEvent, BusReset
from spectrus_domain.bus.redis import RedisBus, RedisTopology


@pytest.fixture(params=["cluster", "shards"])
async def bus(request):
    servers = request.getfixturevalue(
        "redis_cluster" if request.param == "cluster" else "redis_shards"
    )
    topology = await RedisTopology.connect(
        [s.url for s in servers], cluster=request.param == "cluster"
    )
    bus = RedisBus(topology)
    yield bus, servers
    await bus.close()


async def _collect(subscription, count: int, timeout: float = 15.0) -> list:
    got = []
    async with asyncio.timeout(timeout):
        async for message in subscription.messages():
            got.append(message)
            if len([m for m in got if isinstance(m, BusEvent)]) >= count:
                return got
    return got


async def test_followed_streams_arrive_in_order_and_others_do_not(bus) -> None:
    bus, _servers = bus
    sub = await bus.subscribe()
    followed = list(range(1000, 1100))
    await sub.follow(followed)
    events = [
        BusEvent(s, n, 7, "MESSAGE_CREATE", {"n": n}, guild_id=s)
        for n in range(1, 21)
        for s in range(1000, 1200)
    ]
    for i in range(0, len(events), 500):
        await bus.publish(events[i : i + 500])
    got = [m for m in await _collect(sub, 100 * 20) if isinstance(m, BusEvent)]
    per_stream = defaultdict(list)
    for e in got:
        per_stream[e.stream_id].append(e.seq)
    assert set(per_stream) == set(followed)
    assert all(seqs == list(range(1, 21)) for seqs in per_stream.values())
    assert got[0] == BusEvent(
        got[0].stream_id,
        got[0].seq,
        7,
        "MESSAGE_CREATE",
        {"n": got[0].seq},
        guild_id=got[0].stream_id,
    )
    # The pools are read when scraped: the publisher's and the subscriber's connections.
    assert _sample("spectrus_redis_pool_max_connections") >= 200
    assert _sample("spectrus_redis_pool_connections", state="idle") >= 1
    await sub.unfollow(followed[:50])
    await bus.publish([BusEvent(s, 99, 7, "X", {}) for s in followed])
    late = [m for m in await _collect(sub, 50) if isinstance(m, BusEvent)]
    assert {e.stream_id for e in late} == set(followed[50:])
    await sub.close()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_restarted_server_is_noticed_and_subscriptions_come_back(bus) -> None:
    bus, servers = bus
    sub = await bus.subscribe()
    await sub.follow(range(1, 200))
    errors = _sample("spectrus_redis_errors_total", operation="subscribe")
    down = _sample("spectrus_bus_subscribers_down")
    victim = servers[0]
    victim.process.kill()
    victim.process.wait()
    victim.start()  # same port; the cluster node keeps its config file
    if victim.cluster:
        deadline = asyncio.get_running_loop().time() + 30
        while "cluster_state:ok" not in victim.cli("CLUSTER", "INFO"):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)  # gossip; nothing to wait on but the state
    async with asyncio.timeout(20):
        async for message in sub.messages():
            if isinstance(message, BusReset):
                break
    # The loss was counted, and the reader that reported it is counted as up again.
    assert _sample("spectrus_redis_errors_total", operation="subscribe") > errors
    assert _sample("spectrus_bus_subscribers_down") == down
    # Subscriptions are back: what is published now arrives.
    received: set[int] = set()
    async with asyncio.timeout(20):
        while len(received) < 199:
            await bus.publish(
                [BusEvent(s, 1, 1, "X", {}) for s in range(1, 200) if s not in received]
            )
            try:
                async with asyncio.timeout(0.5):
                    async for message in sub.messages():
                        if isinstance(message, BusEvent):
                            received.add(message.stream_id)
                            if len(received) == 199:
                                break
            except TimeoutError:
                pass
    await sub.close()


@pytest.mark.parametrize("kind", ["cluster", "shards"])
async def test_a_password_outside_the_urls(request, kind: str) -> None:
    """Kubernetes passes the password as its own setting: any character works, and the
    cluster client (which takes nodes, not URLs) uses it too."""
    import redis.exceptions

    servers = request.getfixturevalue("redis_cluster" if kind == "cluster" else "redis_shards")
    password = "p@ss/w:rd#?%&"
    for server in servers:
        server.cli("CONFIG", "SET", "requirepass", password)
    urls = [s.url for s in servers]
    refused = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
    with pytest.raises(refused, match=r"(?i)auth"):
        await RedisTopology.connect(urls, cluster=kind == "cluster")
    topology = await RedisTopology.connect(urls, cluster=kind == "cluster", password=password)
    try:
        client = topology.cluster if topology.cluster is not None else topology.shard_for("k")
        await client.set("k", "v")
        assert await client.get("k") == b"v"
    finally:
        await topology.close()
        for server in servers:
            server.cli("-a", password, "--no-auth-warning", "CONFIG", "SET", "requirepass", "")
