"""Upload throughput: messages with one file each, through the REST API of ``spectrus up``.

For each file size, N concurrent clients post ``multipart/form-data`` messages the way
discord.py does (``payload_json`` + ``files[0]``) for a fixed time; the script prints
files/s, MB/s and latency. Files are random bytes (not images: no preview work), so the
figure is the upload path itself: parsing, sniffing, the store, the message transaction.
In the same run it measures the floor under it, the same bytes written straight into the
same kind of file store (a directory, through obstore) by the same number of writers,
and prints the ratio.

    uv run python api/benchmarks/bench_uploads.py --sizes 65536,1048576,8388608 --clients 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Server  # noqa: E402 - the same launcher the end-to-end tests use
from spectrus_domain.config import Settings  # noqa: E402
from spectrus_domain.storage.files import FileStore, open_store  # noqa: E402


def pct(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def timed(clients: int, seconds: float, one: object) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(i: int) -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await one(i)  # type: ignore[operator]
            latencies.append((time.perf_counter() - t) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    return len(latencies), time.perf_counter() - started, latencies


async def main(sizes: list[int], clients: int, seconds: float) -> None:
    data = Path(tempfile.mkdtemp(prefix="spectrus-upload-bench-"))
    server = Server(data / "data", SPECTRUS_UPLOAD_LIMIT=str(max(sizes)))
    server.start()
    try:
        rows = await run(server, sizes, clients, seconds, data)
    finally:
        server.stop()
    print(f"\nuploads through the API, {clients} clients, {seconds:.0f} s per size")
    print(
        f"{'file size':>10}{'files/s':>9}{'MB/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'store MB/s':>12}{'ratio':>7}"
    )
    for size, rate, mbs, p50, p99, floor in rows:
        print(
            f"{size:>10,}{rate:>9.1f}{mbs:>8.1f}{p50:>9.1f}{p99:>9.1f}{floor:>12.1f}{mbs / floor:>7.2f}"
        )


async def run(
    server: Server, sizes: list[int], clients: int, seconds: float, scratch: Path
) -> list[tuple[int, float, float, float, float, float]]:
    connector = aiohttp.TCPConnector(limit=clients + 2, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(f"{server.base}/api/v10/", connector=connector) as api:
        answer = await (
            await api.post(
                "auth/register", json={"username": "uploader", "password": "correct horse battery"}
            )
        ).json()
        auth = {"Authorization": answer["token"]}
        guild = await (await api.post("guilds", headers=auth, json={"name": "Uploads"})).json()
        channels = await (await api.get(f"guilds/{guild['id']}/channels", headers=auth)).json()
        channel = next(c["id"] for c in channels if c["type"] == 0)
        rows = []
        for size in sizes:
            blobs = [os.urandom(size) for _ in range(clients)]

            async def upload(i: int, blob_list: list[bytes] = blobs) -> None:
                form = aiohttp.FormData()
                form.add_field("payload_json", json.dumps({"content": "upload"}))
                form.add_field("files[0]", blob_list[i], filename="data.bin")
                async with api.post(f"channels/{channel}/messages", headers=auth, data=form) as r:
                    assert r.status == 200, await r.text()

            count, elapsed, latencies = await timed(clients, seconds, upload)
            store = open_store(Settings(data_dir=scratch / f"floor-{size}"))
            written = 0

            async def write(
                i: int, blob_list: list[bytes] = blobs, store: FileStore = store
            ) -> None:
                nonlocal written
                written += 1
                await store.put(f"floor/{i}/{written}", blob_list[i])

            floor_count, floor_elapsed, _ = await timed(clients, seconds, write)
            mb = size / 1e6
            rows.append(
                (
                    size,
                    count / elapsed,
                    count * mb / elapsed,
                    pct(latencies, 50),
                    pct(latencies, 99),
                    floor_count * mb / floor_elapsed,
                )
            )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="65536,1048576,8388608")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.clients, args.seconds))
