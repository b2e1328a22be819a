"""Three gateway processes and an API process over a three-node Redis cluster and
PostgreSQL. Clients spread over the gateways; senders post messages into three guilds,
each with a channel only half its members may see. Every client must receive every
message it may see, exactly once and in order, also when a gateway is SIGKILLed
mid-stream (its clients resume on the others) and when the Redis cluster is flushed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from spectrus_gateway.client import GatewayClient

pytestmark = pytest.mark.slow

USERS = 30
SESSIONS_PER_USER = 5
MESSAGES = 1200
SENDERS = 8
VIEW_CHANNEL = 1 << 10


@dataclass
class Watcher:
    """One client and the messages it received, checked as they arrive."""

    user: int
    client: GatewayClient
    expected: int = 0
    received: list[tuple[str, int]] = field(default_factory=list)
    last_seq: int = 0
    last_in_channel: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    resumes: int = 0

    def take(self, seq: int, event: str, data: dict[str, Any]) -> None:
        if seq <= self.last_seq:
            self.problems.append(f"s went from {self.last_seq} to {seq}")
        self.last_seq = seq
        if event != "MESSAGE_CREATE":
            return
        channel, message = data["channel_id"], int(data["id"])
        if message <= self.last_in_channel.get(channel, 0):
            self.problems.append(f"message {message} out of order or twice in {channel}")
        self.last_in_channel[channel] = message
        self.received.append((channel, message))
        if len(self.received) >= self.expected:
            self.complete.set()


async def _consume(w: Watcher, gateways: list[Any], start: int) -> None:
    """Read dispatches; when the connection drops, resume on the next gateway."""
    for attempt in itertools.count():
        pump = asyncio.create_task(_pump(w))
        assert w.client.closed is not None
        await w.client.closed
        pump.cancel()
        if w.complete.is_set() and not w.client.dispatches.qsize():
            return
        w.resumes += 1
        target = gateways[(start + attempt + 1) % len(gateways)]
        if target.proc is None or target.proc.poll() is not None:
            target = gateways[(start + attempt + 2) % len(gateways)]
        await w.client.resume(target.ws)
        if w.client.invalid_session.is_set():
            w.problems.append("resume refused")
            return


async def _pump(w: Watcher) -> None:
    while True:
        d = await w.client.dispatches.get()
        w.take(d.seq, d.event, d.data)


async def _world(api: httpx.AsyncClient) -> tuple[list[str], list[dict[str, Any]]]:
    """Users, three overlapping guilds, and in each a channel half its members see."""

    async def call(method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = await api.request(method, path, headers={"Authorization": token} if token else {}, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    tokens = [
        (
            await call(
                "POST",
                "/auth/register",
                json={"username": f"mp{i}", "password": "correct horse battery"},
            )
        )["token"]
        for i in range(USERS)
    ]
    ids = [(await call("GET", "/users/@me", t))["id"] for t in tokens]
    memberships = [range(USERS), range(0, 20), range(10, 30)]
    channels = []
    for g, members in enumerate(memberships):
        owner = tokens[members[0]]
        guild = await call("POST", "/guilds", owner, json={"name": f"G{g}"})
        open_channel = await call(
            "POST", f"/guilds/{guild['id']}/channels", owner, json={"name": "open"}
        )
        insiders = await call(
            "POST", f"/guilds/{guild['id']}/roles", owner, json={"name": "insiders"}
        )
        secret = await call(
            "POST",
            f"/guilds/{guild['id']}/channels",
            owner,
            json={
                "name": "secret",
                "permission_overwrites": [
                    {"id": guild["id"], "type": 0, "deny": str(VIEW_CHANNEL)},
                    {"id": insiders["id"], "type": 0, "allow": str(VIEW_CHANNEL)},
                ],
            },
        )
        invite = await call("POST", f"/channels/{open_channel['id']}/invites", owner, json={})
        for u in members[1:]:
            await call("POST", f"/invites/{invite['code']}", tokens[u])
        for u in members:
            if u % 2 == 0 and u != members[0]:
                await call(
                    "PUT", f"/guilds/{guild['id']}/members/{ids[u]}/roles/{insiders['id']}", owner
                )
        viewers_open = set(members)
        viewers_secret = {u for u in members if u % 2 == 0 or u == members[0]}
        channels.append({"id": open_channel["id"], "viewers": viewers_open, "poster": owner})
        channels.append({"id": secret["id"], "viewers": viewers_secret, "poster": owner})
    return tokens, channels


@pytest.mark.parametrize("trouble", ["none", "kill a gateway", "flush redis"])
async def test_every_client_gets_every_visible_message_once_in_order(
    trouble: str, dsn: str, redis_cluster: list, services: Any
) -> None:
    redis_urls = [n.url for n in redis_cluster]
    api = services("api", dsn, redis_urls, cluster=True, node_id=1)
    gateways = [
        services("gateway", dsn, redis_urls, cluster=True, node_id=10 + i) for i in range(3)
    ]
    for p in [api, *gateways]:
        p.start()
    async with httpx.AsyncClient(base_url=f"{api.base}/api/v10", timeout=60) as http:
        tokens, channels = await _world(http)
        watchers = []
        for i, (user, _) in enumerate(itertools.product(range(USERS), range(SESSIONS_PER_USER))):
            client = GatewayClient(gateways[i % 3].ws, tokens[user])
            await client.identify()
            watchers.append(Watcher(user, client))
        consumers = [
            asyncio.create_task(_consume(w, gateways, i % 3)) for i, w in enumerate(watchers)
        ]
        plan = [channels[i % len(channels)] for i in range(MESSAGES)]
        for w in watchers:
            w.expected = sum(1 for c in plan if w.user in c["viewers"])

        sent = 0
        trouble_at = MESSAGES // 3

        async def sender(k: int) -> None:
            nonlocal sent
            for i in range(k, MESSAGES, SENDERS):
                channel = plan[i]
                r = await http.post(
                    f"/channels/{channel['id']}/messages",
                    headers={"Authorization": channel["poster"]},
                    json={"content": f"m{i}"},
                )
                assert r.status_code == 200, r.text
                sent += 1
                if sent == trouble_at:
                    if trouble == "kill a gateway":
                        gateways[0].kill()
                    elif trouble == "flush redis":
                        for node in redis_cluster:
                            node.cli("FLUSHALL")

        await asyncio.gather(*(sender(k) for k in range(SENDERS)))
        async with asyncio.timeout(180):
            await asyncio.gather(*(w.complete.wait() for w in watchers))
        # Anything extra would be a duplicate; give in-flight frames a last look.
        for w in watchers:
            while not w.client.dispatches.empty():
                d = w.client.dispatches.get_nowait()
                w.take(d.seq, d.event, d.data)

        problems = {i: w.problems for i, w in enumerate(watchers) if w.problems}
        assert not problems, dict(list(problems.items())[:5])
        for w in watchers:
            by_channel = defaultdict(int)
            for channel, _ in w.received:
                by_channel[channel] += 1
            visible = {c["id"] for c in channels if w.user in c["viewers"]}
            assert set(by_channel) <= visible, "a message from a channel the user may not see"
            assert len(w.received) == w.expected, (w.user, len(w.received), w.expected)
            assert len(set(w.received)) == len(w.received)
        total = sum(len(w.received) for w in watchers)
        resumed = sum(1 for w in watchers if w.resumes)
        print(
            f"\n[{trouble}] {len(watchers)} clients, {MESSAGES} messages, {total} deliveries, "
            f"{resumed} clients resumed"
        )
        if trouble == "kill a gateway":
            assert resumed >= len(watchers) // 3 - 1
        for task in consumers:
            task.cancel()
        for w in watchers:
            await w.client.close()
