"""Session and presence stores: one contract, checked against memory and real Redis
(cluster and standalone shards)."""

from __future__ import annotations

import pytest

from spectrus_domain.bus.redis import RedisTopology
from spectrus_gateway.presence import MemoryPresenceStore, Presence
from spectrus_gateway.redis_stores import RedisPresenceStore, RedisSessionStore
from spectrus_gateway.sessions import LOG_LIMIT, MISSING, Append, MemorySessionStore, SessionRecord


@pytest.fixture(params=["memory", "cluster", "shards"])
async def backend(request):
    if request.param == "memory":
        yield None
        return
    servers = request.getfixturevalue(
        "redis_cluster" if request.param == "cluster" else "redis_shards"
    )
    topology = await RedisTopology.connect(
        [s.url for s in servers], cluster=request.param == "cluster"
    )
    yield topology
    await topology.close()


def _record(session_id: str = "abc", owner: str = "gw1:1") -> SessionRecord:
    return SessionRecord(
        session_id,
        user_id=42,
        bot=True,
        intents=513,
        large_threshold=100,
        owner=owner,
        cursors={1: 5, 2: 0},
        properties={"os": "linux"},
    )


async def test_session_lifecycle(backend) -> None:
    store = MemorySessionStore() if backend is None else RedisSessionStore(backend)
    await store.create(_record())
    assert await store.append([Append("abc", "gw1:1", ["r", "g:1"], {})]) == [2]
    assert await store.append(
        [Append("abc", "gw1:1", ["e:1:6", "e:2:1", "e:1:7"], {1: 7, 2: 1, 3: 0}, dropped=[])]
    ) == [5]
    assert await store.append([Append("abc", "gw1:1", [], {}, dropped=[3])]) == [5]
    assert await store.append([Append("abc", "intruder", ["e:1:8"], {})]) == [None]
    assert await store.append([Append("nope", "gw1:1", ["x"], {})]) == [MISSING]
    claimed = await store.claim("abc", "gw2:9")
    assert claimed is not None
    record, log = claimed
    assert (record.user_id, record.bot, record.intents, record.large_threshold) == (
        42,
        True,
        513,
        100,
    )
    assert (record.seq, record.log_start, record.cursors, record.owner) == (
        5,
        1,
        {1: 7, 2: 1},
        "gw2:9",
    )
    assert record.properties == {"os": "linux"}
    assert log == ["r", "g:1", "e:1:6", "e:2:1", "e:1:7"]
    # The old owner lost it; the new one appends.
    assert await store.append([Append("abc", "gw1:1", ["e:1:8"], {})]) == [None]
    assert await store.append([Append("abc", "gw2:9", ["e:1:8"], {1: 8})]) == [6]
    await store.release("abc", "gw2:9")
    assert await store.claim("missing", "x") is None


async def test_the_log_keeps_only_its_limit(backend) -> None:
    store = MemorySessionStore() if backend is None else RedisSessionStore(backend)
    await store.create(_record("long"))
    for start in range(0, LOG_LIMIT + 300, 100):
        await store.append(
            [Append("long", "gw1:1", [f"e:1:{i}" for i in range(start, start + 100)], {})]
        )
    record, log = await store.claim("long", "gw1:2")
    assert record.seq == LOG_LIMIT + 300 and record.log_start == 301 and len(log) == LOG_LIMIT
    assert log[0] == "e:1:300" and log[-1] == f"e:1:{LOG_LIMIT + 299}"


async def test_many_sessions_in_one_batch(backend) -> None:
    store = MemorySessionStore() if backend is None else RedisSessionStore(backend)
    for i in range(300):
        await store.create(_record(f"s{i}", owner=f"gw:{i}"))
    results = await store.append(
        [Append(f"s{i}", f"gw:{i}", [f"e:1:{i}"], {1: i}) for i in range(300)]
    )
    assert results == [1] * 300


async def test_presence_combines_connections_and_expires_dead_ones(backend) -> None:
    store = MemoryPresenceStore() if backend is None else RedisPresenceStore(backend)
    assert (await store.set(7, "a", Presence("online", updated=1.0))).status == "online"
    assert (await store.set(7, "b", Presence("idle", updated=2.0))).status == "idle"
    assert (await store.get([7, 8]))[7].status == "idle"
    assert await store.remove(7, "b") == 1
    assert (await store.get([7]))[7].status == "online"
    assert await store.remove(7, "a") == 0
    assert await store.get([7]) == {}
