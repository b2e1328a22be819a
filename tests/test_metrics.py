"""``GET /metrics`` of every process, scraped after real work: ``spectrus api``,
``gateway`` and ``media`` as Kubernetes runs them (the chart's ServiceMonitors and
PodMonitor scrape exactly these paths), and ``spectrus up``'s one endpoint for all three."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spectrus_gateway.client import GatewayClient
from spectrus_media.peer import DISCOVERY, discovery_request

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
MESSAGES = "/api/v10/channels/{channel_id}/messages"
SNOWFLAKE = re.compile(r"\d{5,}")


def scrape(url: str, **kwargs: Any) -> Samples:
    r = httpx.get(url, timeout=10, **kwargs)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def assert_no_id_labels(samples: Samples, ids: list[str]) -> None:
    """Every label value comes from a small fixed set: none is an id."""
    for (name, labels), _ in samples.items():
        for label, text in labels:
            assert not SNOWFLAKE.search(text), (name, label, text)
            assert not any(i in text for i in ids), (name, label, text)


async def _setup(http: httpx.AsyncClient) -> tuple[str, dict[str, str], dict[str, Any], str]:
    register = {"username": "scraped", "password": "correct horse battery"}
    token = (await http.post("/auth/register", json=register)).json()["token"]
    auth = {"Authorization": token}
    guild = (await http.post("/guilds", headers=auth, json={"name": "Den"})).json()
    path = f"/guilds/{guild['id']}/channels"
    text = (await http.post(path, headers=auth, json={"name": "chat"})).json()
    return token, auth, guild, text["id"]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, _addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)


async def test_api_gateway_and_media_processes_serve_their_metrics(
    instance: Any, voice_login: Any
) -> None:
    started = instance()
    api, gateway, media = started.api, started.gateway, started.media

    async with httpx.AsyncClient(base_url=f"{api.base}/api/v10", timeout=30) as http:
        token, auth, guild, channel = await _setup(http)
        voice = (
            await http.post(
                f"/guilds/{guild['id']}/channels", headers=auth, json={"name": "Talk", "type": 2}
            )
        ).json()
        client = GatewayClient(gateway.ws, token)
        ready = await client.identify()
        sent = await http.post(
            f"/channels/{channel}/messages", headers=auth, json={"content": "hi"}
        )
        assert sent.status_code == 200
        got = await client.next_dispatch("MESSAGE_CREATE")
        assert got.data["id"] == sent.json()["id"]
        await http.get(f"/channels/{channel}/messages", headers=auth)
        await http.get(f"/channels/{channel}/nothing-here/{channel}", headers=auth)
    ids = [guild["id"], channel, voice["id"], ready.data["user"]["id"], sent.json()["id"]]

    # The API: requests by route template; the bus got the message; the pool is read.
    a = scrape(f"{api.base}/metrics")
    requests = "spectrus_http_requests_total"
    assert value(a, requests, method="POST", route=MESSAGES, status="200") == 1
    assert value(a, requests, method="GET", route=MESSAGES, status="200") == 1
    assert value(a, requests, method="GET", route="unmatched", status="404") == 1
    assert (
        value(a, "spectrus_http_request_duration_seconds_count", method="POST", route=MESSAGES) == 1
    )
    assert value(a, "spectrus_bus_published_total") >= 1
    assert value(a, "spectrus_db_pool_size") >= 1
    assert value(a, "spectrus_db_pool_connections", state="idle") >= 1
    assert value(a, "process_cpu_seconds_total") > 0
    assert_no_id_labels(a, ids)

    # The gateway: one connection, its IDENTIFY, READY + GUILD_CREATE + MESSAGE_CREATE.
    g = scrape(f"{gateway.base}/metrics")
    assert value(g, "spectrus_gateway_connections") == 1
    assert value(g, "spectrus_gateway_identifies_total") == 1
    assert value(g, "spectrus_gateway_dispatches_total") >= 3
    assert value(g, "spectrus_gateway_resumes_total", result="ok") == 0
    assert value(g, "spectrus_gateway_slow_consumers_dropped_total") == 0
    # The message's commit time travelled with it: its delivery was timed from there.
    assert value(g, "spectrus_gateway_commit_to_delivery_seconds_count") >= 1
    assert value(g, "spectrus_gateway_commit_to_delivery_seconds_bucket", le="10.0") >= 1

    # A resume elsewhere-or-here is counted by how it ended.
    client.abandon()
    await client.resume(gateway.ws)
    await client.next_dispatch("RESUMED")
    g = scrape(f"{gateway.base}/metrics")
    assert value(g, "spectrus_gateway_resumes_total", result="ok") == 1
    assert_no_id_labels(g, ids)

    # The media node: a live voice session and the router's packet counters.
    server = await client.join_voice(guild["id"], voice["id"])
    ca = media.data_dir / "voice" / "ca.crt"
    async with voice_login(client, server, ca) as (_ws, d):
        # A datagram that is no voice packet, then an IP discovery from the same socket:
        # the router counts each batch before it sends that batch's answers, so once the
        # answer is here both datagrams are counted.
        loop = asyncio.get_running_loop()
        transport, udp = await loop.create_datagram_endpoint(_Udp, remote_addr=(d["ip"], d["port"]))
        try:
            transport.sendto(b"\x00")
            transport.sendto(discovery_request(d["ssrc"]))
            answer = await asyncio.wait_for(udp.received.get(), 10)
            assert len(answer) == DISCOVERY.size
        finally:
            transport.close()
        m = scrape(
            f"https://127.0.0.1:{media.voice_port}/metrics",
            verify=ssl.create_default_context(cafile=str(ca)),
        )
    assert value(m, "spectrus_voice_sessions") == 1
    assert value(m, "spectrus_voice_packets_received_total") == 2
    assert total(m, "spectrus_voice_packets_dropped_total") == 1
    assert value(m, "spectrus_voice_packets_forwarded_total") == 0
    reasons = {
        dict(labels)["reason"]
        for (n, labels), _ in m.items()
        if n == "spectrus_voice_packets_dropped_total"
    }
    assert {"truncated", "not_rtp", "unknown_ssrc", "auth_failed"} <= reasons
    assert_no_id_labels(m, ids)
    await client.close()


def test_spectrus_up_serves_one_metrics_endpoint_for_all_three(spectrus: Any) -> None:
    server = spectrus()
    server.start()

    async def work() -> list[str]:
        async with httpx.AsyncClient(base_url=f"{server.base}/api/v10", timeout=30) as http:
            token, auth, guild, channel = await _setup(http)
            client = GatewayClient(f"ws://127.0.0.1:{server.port}/gateway", token)
            await client.identify()
            sent = await http.post(
                f"/channels/{channel}/messages", headers=auth, json={"content": "hi"}
            )
            await client.next_dispatch("MESSAGE_CREATE")
            await client.close()
            return [guild["id"], channel, sent.json()["id"]]

    ids = asyncio.run(work())
    s = scrape(f"{server.base}/metrics")
    requests = "spectrus_http_requests_total"
    assert value(s, requests, method="POST", route=MESSAGES, status="200") == 1
    assert value(s, requests, method="POST", route="/api/v10/auth/register", status="201") == 1
    assert value(s, "spectrus_gateway_identifies_total") == 1
    assert value(s, "spectrus_gateway_dispatches_total") >= 3
    assert value(s, "spectrus_bus_published_total") >= 1
    assert value(s, "spectrus_db_pool_size") >= 1
    assert ("spectrus_voice_sessions", frozenset()) in s  # the media node shares the registry
    assert_no_id_labels(s, ids)
