"""SIGKILL in the middle of a burst of writes loses no acknowledged message and leaves
no gap in any channel's seq (nor in the guild's event stream)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.slow

WRITERS = 16


async def _burst(
    base: str,
    tokens: list[str],
    channels: list[str],
    acked: dict[str, str],
    stop_after: int,
    kill: Callable[[], None],
) -> None:
    """Writers post until the server dies; only 200 answers count as acknowledged. The
    kill comes once ``stop_after`` messages were acknowledged, with requests in flight."""
    enough = asyncio.Event()

    async def writer(n: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for i in itertools.count():
                content = f"w{n}-{i}"
                try:
                    r = await client.post(
                        f"/channels/{channels[(n + i) % len(channels)]}/messages",
                        headers={"Authorization": tokens[n % len(tokens)]},
                        json={"content": content},
                    )
                except httpx.TransportError:
                    return  # the server is gone
                if r.status_code == 200:
                    acked[r.json()["id"]] = content
                    if len(acked) >= stop_after:
                        enough.set()

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.wait_for(enough.wait(), 120)
    await asyncio.get_running_loop().run_in_executor(None, kill)
    await asyncio.gather(*writers)


def test_sigkill_mid_burst_loses_nothing_acknowledged(spectrus) -> None:
    server = spectrus()
    server.start()
    api = httpx.Client(base_url=f"{server.base}/api/v10", timeout=30)
    tokens = []
    for name in ("crash_a", "crash_b", "crash_c"):
        r = api.post("/auth/register", json={"username": name, "password": "correct horse battery"})
        tokens.append(r.json()["token"])
    guild = api.post("/guilds", headers={"Authorization": tokens[0]}, json={"name": "Crash"}).json()
    channels = [
        api.post(
            f"/guilds/{guild['id']}/channels",
            headers={"Authorization": tokens[0]},
            json={"name": f"c{i}"},
        ).json()["id"]
        for i in range(3)
    ]
    invite = api.post(
        f"/channels/{channels[0]}/invites", headers={"Authorization": tokens[0]}, json={}
    ).json()
    for token in tokens[1:]:
        assert (
            api.post(f"/invites/{invite['code']}", headers={"Authorization": token}).status_code
            == 200
        )

    acked: dict[str, str] = {}
    started = time.monotonic()
    asyncio.run(_burst(f"{server.base}/api/v10", tokens, channels, acked, 400, server.kill))
    assert len(acked) >= 400, "the burst did not get going"
    elapsed = time.monotonic() - started

    server.start()  # recovers from the crash on the same data directory

    async def verify() -> None:
        conn = await asyncpg.connect(
            f"postgresql://postgres@/spectrus?host={server.data_dir / 'run'}"
        )
        try:
            rows = await conn.fetch(
                "SELECT id, content FROM messages WHERE guild_id = $1", int(guild["id"])
            )
            stored = {str(r["id"]): r["content"] for r in rows}
            missing = {i: c for i, c in acked.items() if stored.get(i) != c}
            assert not missing, f"{len(missing)} acknowledged messages lost"
            for channel in channels:
                seq = await conn.fetchval("SELECT seq FROM channels WHERE id = $1", int(channel))
                msg_seqs = [
                    r["seq"]
                    for r in await conn.fetch(
                        "SELECT seq FROM messages WHERE channel_id = $1 ORDER BY seq", int(channel)
                    )
                ]
                assert msg_seqs == list(range(1, seq + 1)), f"gap in channel {channel}"
                event_seqs = [
                    r["channel_seq"]
                    for r in await conn.fetch(
                        "SELECT channel_seq FROM outbox WHERE channel_id = $1 AND channel_seq IS NOT NULL "
                        "ORDER BY channel_seq",
                        int(channel),
                    )
                ]
                assert event_seqs == list(range(1, seq + 1))
            stream = [
                r["seq"]
                for r in await conn.fetch(
                    "SELECT seq FROM outbox WHERE stream_id = $1 ORDER BY seq", int(guild["id"])
                )
            ]
            assert stream == list(range(1, len(stream) + 1))
            print(
                f"\n{len(acked)} acknowledged in {elapsed:.1f} s, {len(stored)} stored "
                f"({len(stored) - len(acked)} committed but unacknowledged when killed)"
            )
        finally:
            await conn.close()

    asyncio.run(verify())
    history = api.get(
        f"/channels/{channels[0]}/messages?limit=100", headers={"Authorization": tokens[1]}
    )
    assert history.status_code == 200 and len(history.json()) > 0
