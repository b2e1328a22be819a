"""Message-create and message-list throughput and latency against ``spectrus up``.

Starts Spectrus exactly as the README does (embedded PostgreSQL, one API process, rate
limits off), then for each N drives it with N concurrent HTTP clients (aiohttp, the
cheapest load generator at hand: client and server share this machine's cores) for a
fixed time. Besides throughput and latency it reports the API process's own CPU time per
operation, the figure that stays put on a noisy machine. In the same run it measures the
floor underneath: bare asyncpg doing the durable part of the same work (a one-row
INSERT + COMMIT; a 50-row index range read), so the ratio says what the API costs on top
of PostgreSQL here.

    uv run python api/benchmarks/bench_messages.py --clients 1,8,32 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Server  # noqa: E402 - the same launcher the end-to-end tests use


async def drive(
    clients: int, seconds: float, one: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``one(i)`` in ``clients`` loops for ``seconds``; return (ops/s, latencies ms)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(i: int) -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await one(i)
            latencies.append((time.perf_counter() - t) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    return len(latencies) / (time.perf_counter() - started), latencies


def pct(values: list[float], p: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]
        if len(values) > 1
        else values[0]
    )


async def main(counts: list[int], seconds: float) -> None:
    data = Path(tempfile.mkdtemp(prefix="spectrus-bench-"))
    server = Server(data / "data")
    server.start()
    try:
        await run(server, counts, seconds)
    finally:
        server.stop()


def api_process(server: Server) -> psutil.Process:
    """The Python process serving the API (``./spectrus`` execs into it)."""
    assert server.proc is not None
    return psutil.Process(server.proc.pid)


async def run(server: Server, counts: list[int], seconds: float) -> None:
    base = f"{server.base}/api/v10/"
    # Idle connections expire before uvicorn closes them (5 s), or a POST could go out on
    # a connection the server just dropped while a PostgreSQL cell ran.
    connector = aiohttp.TCPConnector(limit=max(counts) + 4, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(base, connector=connector) as api:

        async def call(
            method: str, path: str, headers: dict[str, str] | None = None, body: object = None
        ) -> object:
            async with api.request(method, path.lstrip("/"), headers=headers, json=body) as r:
                assert r.status < 300, await r.text()
                return await r.json() if r.status != 204 else None

        tokens = []
        for i in range(max(counts)):
            body = {"username": f"bench{i}", "password": "correct horse battery"}
            tokens.append(
                {"Authorization": (await call("POST", "/auth/register", body=body))["token"]}
            )  # type: ignore[index]
        guild = await call("POST", "/guilds", tokens[0], {"name": "Bench"})
        gid = guild["id"]  # type: ignore[index]
        channels = [
            (await call("POST", f"/guilds/{gid}/channels", tokens[0], {"name": f"c{i}"}))["id"]  # type: ignore[index]
            for i in range(max(counts))
        ]
        code = (await call("POST", f"/channels/{channels[0]}/invites", tokens[0], {}))["code"]  # type: ignore[index]
        for t in tokens[1:]:
            await call("POST", f"/invites/{code}", t)
        for i in range(1000):  # history to page through
            await call(
                "POST",
                f"/channels/{channels[0]}/messages",
                tokens[i % len(tokens)],
                {"content": f"h{i}"},
            )

        db = await asyncpg.create_pool(
            f"postgresql://postgres@/spectrus?host={server.data_dir / 'run'}",
            min_size=1,
            max_size=max(counts),
        )
        await db.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, content text)"
        )
        proc = api_process(server)

        async def create_one(i: int) -> None:
            await call("POST", f"/channels/{channels[0]}/messages", tokens[i], {"content": "bench"})

        async def create_spread(i: int) -> None:
            await call("POST", f"/channels/{channels[i]}/messages", tokens[i], {"content": "bench"})

        async def list_page(i: int) -> None:
            page = await call("GET", f"/channels/{channels[0]}/messages?limit=50", tokens[i])
            assert isinstance(page, list)
            assert len(page) == 50

        async def floor_insert(i: int) -> None:
            await db.execute("INSERT INTO bench_floor (content) VALUES ('bench')")

        async def floor_read(i: int) -> None:
            await db.fetch(
                "SELECT * FROM messages WHERE channel_id = $1 ORDER BY id DESC LIMIT 50",
                int(channels[0]),
            )

        rows = []
        for n in counts:
            for name, op, floor in (
                ("create, one channel", create_one, floor_insert),
                ("create, own channel", create_spread, floor_insert),
                ("list 50", list_page, floor_read),
            ):
                cpu_before = sum(proc.cpu_times()[:2])
                rate, lat = await drive(n, seconds, op)
                cpu_ms = (sum(proc.cpu_times()[:2]) - cpu_before) * 1000 / len(lat)
                floor_rate, _ = await drive(n, seconds, floor)
                rows.append(
                    (
                        name,
                        n,
                        rate,
                        pct(lat, 50),
                        pct(lat, 99),
                        cpu_ms,
                        floor_rate,
                        rate / floor_rate,
                    )
                )
        await db.close()

    print(
        f"\nSpectrus REST vs bare PostgreSQL: {seconds:.0f} s per cell, one API process; "
        f"{psutil.cpu_count()} cores shared by load generator, API and PostgreSQL"
    )
    print(
        f"{'operation':<22}{'clients':>8}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'API CPU ms/op':>15}{'PG ops/s':>10}{'ratio':>7}"
    )
    for name, n, rate, p50, p99, cpu_ms, floor_rate, ratio in rows:
        print(
            f"{name:<22}{n:>8}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}{cpu_ms:>15.2f}{floor_rate:>10.0f}{ratio:>7.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="1,8,32", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.clients.split(",")], args.seconds))
