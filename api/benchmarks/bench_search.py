"""Guild message search latency over a large corpus (default one million messages).

Starts Spectrus as the README does, creates a guild through the API, then loads the
corpus straight into PostgreSQL (the API would take hours to post a million messages):
Zipf-distributed words from a 20,000-word vocabulary, 10 channels, 20 authors, mentions
and links on a few. Then it sends search requests of several kinds through the REST API,
one at a time, and prints p50/p99 per kind and overall. In the same run it times the
obvious alternative for the word queries, a sequential ``ILIKE`` scan of the same guild,
and prints the ratio.

    uv run python api/benchmarks/bench_search.py --messages 1000000 --runs 40
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Server  # noqa: E402 - the same launcher the end-to-end tests use

VOCABULARY = 20_000
CHANNELS = 10
AUTHORS = 20


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def load(
    pool: asyncpg.Pool, gid: int, channels: list[int], authors: list[int], n: int
) -> float:
    """Insert ``n`` messages in batches; returns seconds taken."""
    started = time.perf_counter()
    base = int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM messages")) + 1
    batch = 50_000
    for first in range(0, n, batch):
        size = min(batch, n - first)
        # Word ranks follow a Zipf-like law: floor(V ** random()) favours small ranks.
        await pool.execute(
            """
            INSERT INTO messages (id, channel_id, guild_id, seq, author_id, content, mention_ids)
            SELECT $1::bigint + g,
                   ($3::bigint[])[1 + g % $5],
                   $2,
                   1 + g / $5,
                   ($4::bigint[])[1 + (g * 7919) % $6],
                   (SELECT string_agg('w' || floor(power($7::float8, random()))::int, ' ')
                      FROM generate_series(1, 3 + (g % 9)) WHERE g >= 0)
                   || CASE WHEN g % 17 = 0 THEN ' https://example.com/' || g ELSE '' END
                   || CASE WHEN g % 23 = 0 THEN ' <@' || ($4::bigint[])[1] || '>' ELSE '' END,
                   CASE WHEN g % 23 = 0 THEN ARRAY[($4::bigint[])[1]] ELSE '{}' END
            FROM generate_series($8::bigint, $9::bigint) AS g
            """,
            base,
            gid,
            channels,
            authors,
            len(channels),
            len(authors),
            float(VOCABULARY),
            first,
            first + size - 1,
        )
        print(f"  loaded {first + size:>9,} messages", end="\r", flush=True)
    await pool.execute(
        """UPDATE channels c SET seq = s.seq, last_message_id = s.last
           FROM (SELECT channel_id, max(seq) AS seq, max(id) AS last FROM messages
                 GROUP BY channel_id) s WHERE s.channel_id = c.id"""
    )
    await pool.execute("VACUUM ANALYZE messages")
    return time.perf_counter() - started


async def main(messages: int, runs: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="spectrus-search-bench-"))
    server = Server(data / "data")
    server.start()
    try:
        await run(server, messages, runs)
    finally:
        server.stop()


async def run(server: Server, messages: int, runs: int) -> None:
    connector = aiohttp.TCPConnector(limit=4, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(f"{server.base}/api/v10/", connector=connector) as api:

        async def call(method: str, path: str, token: str | None = None, **kw: object) -> dict:
            headers = {"Authorization": token} if token else {}
            async with api.request(method, path, headers=headers, **kw) as r:  # type: ignore[arg-type]
                assert r.status < 300, await r.text()
                return await r.json()  # type: ignore[no-any-return]

        tokens, authors = [], []
        for i in range(AUTHORS):
            body = {"username": f"searcher{i}", "password": "correct horse battery"}
            answer = await call("POST", "auth/register", json=body)
            tokens.append(answer["token"])
            authors.append(int(answer["user_id"]))
        gid = (await call("POST", "guilds", tokens[0], json={"name": "Search bench"}))["id"]
        channels = [
            int(
                (await call("POST", f"guilds/{gid}/channels", tokens[0], json={"name": f"c{i}"}))[
                    "id"
                ]
            )
            for i in range(CHANNELS)
        ]
        pool = await asyncpg.create_pool(
            f"postgresql://postgres@/spectrus?host={server.data_dir / 'run'}",
            min_size=1,
            max_size=2,
        )
        print(f"loading {messages:,} messages...")
        seconds = await load(pool, int(gid), channels, authors, messages)
        size = await pool.fetchval("SELECT pg_size_pretty(pg_relation_size('messages_search'))")
        print(f"\nloaded in {seconds:.0f} s; search index {size}")

        rng = random.Random(1)
        owner = tokens[0]

        kinds: dict[str, object] = {
            "common word": lambda: {"content": f"w{rng.randint(1, 5)}"},
            "mid word": lambda: {"content": f"w{rng.randint(50, 500)}"},
            "rare word": lambda: {"content": f"w{rng.randint(5000, VOCABULARY - 1)}"},
            "two words": lambda: {"content": f"w{rng.randint(1, 30)} w{rng.randint(30, 300)}"},
            "phrase": lambda: {"content": f'"w{rng.randint(1, 3)} w{rng.randint(1, 3)}"'},
            "word + author": lambda: {
                "content": f"w{rng.randint(10, 100)}",
                "author_id": str(rng.choice(authors)),
            },
            "word + channel": lambda: {
                "content": f"w{rng.randint(10, 100)}",
                "channel_id": str(rng.choice(channels)),
            },
            "has:link": lambda: {"has": "link"},
            "mentions": lambda: {"mentions": str(authors[0])},
            "author only": lambda: {"author_id": str(rng.choice(authors))},
        }
        everything: list[float] = []
        rows = []
        for name, make in kinds.items():
            latencies, totals = [], []
            for _ in range(runs):
                params = make()  # type: ignore[operator]
                t = time.perf_counter()
                page = await call("GET", f"guilds/{gid}/messages/search", owner, params=params)
                latencies.append((time.perf_counter() - t) * 1000)
                totals.append(page["total_results"])
            everything += latencies
            rows.append((name, pct(latencies, 50), pct(latencies, 99), statistics.median(totals)))

        scan = []
        indexed = []
        for _ in range(5):
            w = f"w{rng.randint(50, 500)}"
            t = time.perf_counter()
            await pool.fetchval(
                "SELECT count(*) FROM messages WHERE guild_id = $1 AND content ILIKE $2",
                int(gid),
                f"%{w}%",
            )
            scan.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await call("GET", f"guilds/{gid}/messages/search", owner, params={"content": w})
            indexed.append((time.perf_counter() - t) * 1000)
        await pool.close()

    print(f"\nsearch over {messages:,} messages, {runs} requests per kind, one at a time")
    print(f"{'kind':<16}{'p50 ms':>9}{'p99 ms':>9}{'median hits':>13}")
    for name, p50, p99, hits in rows:
        print(f"{name:<16}{p50:>9.1f}{p99:>9.1f}{hits:>13,.0f}")
    print(f"{'all':<16}{pct(everything, 50):>9.1f}{pct(everything, 99):>9.1f}")
    print(
        f"\nILIKE scan of the guild (mid words): median {statistics.median(scan):.0f} ms; "
        f"search API {statistics.median(indexed):.1f} ms; "
        f"ratio {statistics.median(scan) / statistics.median(indexed):.0f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40, help="requests per kind of query")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.runs))
