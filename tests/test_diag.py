"""``/diag`` of a running instance: ``spectrus api``, two ``gateway`` processes and a
media node over Redis, as Kubernetes runs them; and ``spectrus up``'s single process.
Only the instance's admin (its first account) reads it; what it shows is live: the
connections, sessions, presence and voice rooms the test made."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from spectrus_gateway.client import GatewayClient

pytestmark = pytest.mark.slow


async def _until(
    read: Callable[[], Awaitable[dict[str, Any]]],
    ready: Callable[[dict[str, Any]], bool],
    within: float = 30.0,
) -> dict[str, Any]:
    """The report once ``ready`` holds: processes post theirs every few seconds."""
    deadline = time.monotonic() + within
    while True:
        report = await read()
        if ready(report):
            return report
        assert time.monotonic() < deadline, report["totals"]
        await asyncio.sleep(0.5)  # the next post is what changes it; nothing to wait on


async def _account(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    body = {"username": name, "password": "correct horse battery"}
    return {"Authorization": (await http.post("/auth/register", json=body)).json()["token"]}


async def test_admins_see_every_process_live_and_others_are_refused(instance: Any) -> None:
    started = instance(gateways=2)
    api, gateways, media = started.api, started.gateways, started.media

    async with httpx.AsyncClient(base_url=f"{api.base}/api/v10", timeout=30) as http:
        admin = await _account(http, "operator")
        member = await _account(http, "member")
        guild = (await http.post("/guilds", headers=admin, json={"name": "Ops"})).json()
        voice = (
            await http.post(
                f"/guilds/{guild['id']}/channels", headers=admin, json={"name": "Talk", "type": 2}
            )
        ).json()

        # Not an admin, or nobody at all: refused, with Discord's error bodies.
        refused = await http.get("/diag", headers=member)
        assert (refused.status_code, refused.json()["code"]) == (403, 50013)
        assert (await http.get("/diag")).status_code == 401
        assert (
            await httpx.AsyncClient().get(f"{api.base}/diag", headers=member)
        ).status_code == 403

        clients = [GatewayClient(g.ws, admin["Authorization"]) for g in gateways]
        for client in clients:
            await client.identify()
        await clients[0].join_voice(guild["id"], voice["id"])

        async def read() -> dict[str, Any]:
            r = await http.get("/diag", headers=admin)
            assert r.status_code == 200, r.text
            return dict(r.json())

        report = await _until(
            read,
            lambda r: (
                r["totals"]["sessions"] == 2
                and r["totals"]["processes"].get("gateway") == 2
                and r["totals"]["voice"]["nodes"] == 1
            ),
        )
    totals = report["totals"]
    assert totals["processes"] == {"api": 1, "gateway": 2}
    assert totals["connections"] == 2
    assert totals["presence"] == {"online": 2}
    assert set(totals["queues"]) >= {"hub", "connection_frames_max", "publish"}
    gateway_reports = [p for p in report["processes"] if p["component"] == "gateway"]
    assert sorted(p["gateway"]["sessions"] for p in gateway_reports) == [1, 1]
    assert {p["pid"] for p in report["processes"]} == {
        p.proc.pid for p in (api, *gateways) if p.proc is not None
    }
    (node,) = {
        n["address"]: n for p in gateway_reports for n in p["gateway"]["media_nodes"]
    }.values()
    assert (node["address"], node["reachable"], node["guilds"]) == (media.control, True, 1)
    assert all(p["rss_bytes"] > 10 * 2**20 and p["cpu_seconds"] > 0 for p in report["processes"])

    # The HTML view of the same report.
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
        page = await http.get("/diag", headers=admin)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h2>Processes</h2>" in page.text and media.control in page.text
    for client in clients:
        await client.close()


async def test_spectrus_up_reports_its_one_process(spectrus: Any) -> None:
    server = spectrus()
    server.start()
    async with httpx.AsyncClient(base_url=f"{server.base}/api/v10", timeout=30) as http:
        admin = await _account(http, "owner")
        client = GatewayClient(f"ws://127.0.0.1:{server.port}/gateway", admin["Authorization"])
        await client.identify()
        report = (await http.get("/diag", headers=admin)).json()
        await client.close()
    assert report["totals"]["processes"] == {"api": 1, "gateway": 1}
    assert report["totals"]["sessions"] == 1  # read live: no posting interval in one process
    assert len({p["pid"] for p in report["processes"]}) == 1
