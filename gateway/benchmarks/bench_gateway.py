"""One gateway process with N clients: events delivered per second, commit-to-delivery
latency (p50/p99), memory per connection, and the same workload through a plain
``websockets`` broadcast loop in the same run as the ratio to beat.

Spectrus runs as in production: ``spectrus api`` and one ``spectrus gateway`` process over
PostgreSQL (the embedded wheel) and one Redis server. A sender posts messages into one
guild whose members hold all N connections, so each message is N deliveries. Latency is
from the message id's timestamp (taken inside the committing transaction) to the moment
a client decoded the event. The peer gets the same number of events of the same size and
broadcasts each to its N clients with ``websockets.broadcast``; no database, no routing,
no session log: what a gateway could do if it did nothing but fan out.

    uv run python gateway/benchmarks/bench_gateway.py --clients 100,500 --messages 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import websockets

from spectrus_cli.embedded_pg import EmbeddedPostgres
from spectrus_gateway.client import GatewayClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from conftest import RedisServer, free_port  # noqa: E402 - the test suite's Redis launcher

DISCORD_EPOCH_MS = 1_420_070_400_000
USERS = 10


def pct(values: list[float], p: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[p - 1]
        if len(values) > 1
        else values[0]
    )


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


async def wait_http(url: str) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(600):
            try:
                if (await c.get(url, timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)  # the process is still starting
    raise RuntimeError(f"{url} never became ready")


async def spectrus_run(
    n: int, messages: int, api: str, gateway_ws: str, gateway_pid: int
) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"{api}/api/v10", timeout=60) as http:
        suffix = f"{n}_{time.monotonic_ns() % 10**6}"
        tokens = []
        for i in range(USERS):
            r = await http.post(
                "/auth/register",
                json={"username": f"b{i}_{suffix}", "password": "correct horse battery"},
            )
            tokens.append(r.json()["token"])
        guild = (
            await http.post("/guilds", headers={"Authorization": tokens[0]}, json={"name": "Bench"})
        ).json()
        channels = (
            await http.get(f"/guilds/{guild['id']}/channels", headers={"Authorization": tokens[0]})
        ).json()
        channel = next(c["id"] for c in channels if c["type"] == 0)
        code = (
            await http.post(
                f"/channels/{channel}/invites", headers={"Authorization": tokens[0]}, json={}
            )
        ).json()["code"]
        for t in tokens[1:]:
            await http.post(f"/invites/{code}", headers={"Authorization": t})

        before = rss_mb(gateway_pid)
        clients = []
        for i in range(n):
            c = GatewayClient(gateway_ws, tokens[i % USERS])
            await c.identify()
            clients.append(c)
        await asyncio.sleep(1.0)  # let the process settle before reading its memory
        per_conn_kb = (rss_mb(gateway_pid) - before) * 1024 / n

        latencies: list[float] = []
        done = asyncio.Event()
        expected = n * messages

        async def drain(c: GatewayClient) -> None:
            while True:
                d = await c.dispatches.get()
                if d.event == "MESSAGE_CREATE":
                    latencies.append(
                        time.time() * 1000 - ((int(d.data["id"]) >> 22) + DISCORD_EPOCH_MS)
                    )
                    if len(latencies) >= expected:
                        done.set()

        drains = [asyncio.create_task(drain(c)) for c in clients]
        started = time.perf_counter()

        async def sender(k: int) -> None:
            for i in range(k, messages, 8):
                await http.post(
                    f"/channels/{channel}/messages",
                    headers={"Authorization": tokens[0]},
                    json={"content": f"benchmark message {i:06d} " + "x" * 40},
                )

        await asyncio.gather(*(sender(k) for k in range(8)))
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - started
        for t in drains:
            t.cancel()
        for c in clients:
            await c.close()
    return {
        "rate": expected / elapsed,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "kb": per_conn_kb,
    }


PEER = textwrap.dedent(
    """
    import asyncio, sys, time, orjson, websockets
    from websockets.asyncio.server import serve, broadcast
    clients = set()
    async def handler(ws):
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)
    async def control(reader, writer):
        n, size = map(int, (await reader.readline()).split())
        body = "x" * size
        for i in range(n):
            payload = orjson.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": i, "d": {"sent": time.time() * 1000, "body": body}}).decode()
            broadcast(clients, payload)
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the event loop write
        writer.write(b"ok\\n"); await writer.drain()
    async def main():
        async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None, max_size=None):
            server = await asyncio.start_server(control, "127.0.0.1", int(sys.argv[2]))
            async with server:
                await server.serve_forever()
    asyncio.run(main())
    """
)


async def peer_run(
    n: int, messages: int, size: int, ws_port: int, control_port: int, pid: int
) -> dict[str, float]:
    before = rss_mb(pid)
    conns = [
        await websockets.connect(f"ws://127.0.0.1:{ws_port}", compression=None, max_size=None)
        for _ in range(n)
    ]
    await asyncio.sleep(1.0)  # let the process settle before reading its memory
    per_conn_kb = (rss_mb(pid) - before) * 1024 / n
    latencies: list[float] = []
    done = asyncio.Event()
    expected = n * messages

    async def drain(ws: Any) -> None:
        async for raw in ws:
            msg = orjson.loads(raw)
            latencies.append(time.time() * 1000 - msg["d"]["sent"])
            if len(latencies) >= expected:
                done.set()

    drains = [asyncio.create_task(drain(ws)) for ws in conns]
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", control_port)
    writer.write(f"{messages} {size}\n".encode())
    await writer.drain()
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    await reader.readline()
    writer.close()
    for t in drains:
        t.cancel()
    for ws in conns:
        await ws.close()
    return {
        "rate": expected / elapsed,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "kb": per_conn_kb,
    }


async def main(counts: list[int], messages: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="spectrus-gw-bench-"))
    pg = EmbeddedPostgres(work / "postgres")
    dsn = pg.start()
    redis = RedisServer(work / "redis")
    redis.start()
    spectrus = str(ROOT / ".venv/bin/spectrus")
    api_port, gw_port, peer_port, control_port = free_port(), free_port(), free_port(), free_port()
    common = [
        "--database-url",
        dsn,
        "--redis-urls",
        redis.url,
        "--rate-limit-scale",
        "0",
        "--log-level",
        "warning",
    ]
    api = start(
        [spectrus, "api", "--port", str(api_port), "--node-id", "1", *common], work / "api.log"
    )
    gateway = start(
        [spectrus, "gateway", "--port", str(gw_port), "--node-id", "2", *common],
        work / "gateway.log",
    )
    peer = start([sys.executable, "-c", PEER, str(peer_port), str(control_port)], work / "peer.log")
    try:
        await wait_http(f"http://127.0.0.1:{api_port}/readyz")
        await wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        rows = []
        for n in counts:
            ours = await spectrus_run(
                n,
                messages,
                f"http://127.0.0.1:{api_port}",
                f"ws://127.0.0.1:{gw_port}/gateway",
                gateway.pid,
            )
            # The peer's payload is as large as our MESSAGE_CREATE frame.
            theirs = await peer_run(n, messages, 900, peer_port, control_port, peer.pid)
            rows.append((n, ours, theirs))
    finally:
        for p in (api, gateway, peer):
            p.terminate()
            p.wait()
        redis.stop()
        pg.stop()
    print(
        f"\nOne gateway process vs a plain websockets broadcast loop, {messages} events per run; "
        f"{psutil.cpu_count()} cores shared by load generator, services, PostgreSQL and Redis"
    )
    print(
        f"{'clients':>8} | {'spectrus ev/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'KB/conn':>8} | "
        f"{'plain ev/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'KB/conn':>8} | {'ratio':>5}"
    )
    for n, ours, theirs in rows:
        print(
            f"{n:>8} | {ours['rate']:>13.0f} {ours['p50']:>7.1f} {ours['p99']:>7.1f} {ours['kb']:>8.1f} | "
            f"{theirs['rate']:>10.0f} {theirs['p50']:>7.1f} {theirs['p99']:>7.1f} {theirs['kb']:>8.1f} | "
            f"{ours['rate'] / theirs['rate']:>5.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="100,500")
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.clients.split(",")], args.messages))
