"""The bus over Redis: a Redis 7 cluster with sharded pub/sub, or standalone servers
with client-side sharding. Also the shared plumbing stores use (key routing, scripts).

Each stream has its own channel; in a cluster ``SPUBLISH``/``SSUBSCRIBE`` keep a
channel's traffic on the node owning its slot, so adding nodes adds fan-out capacity.
Standalone servers are picked by a hash of the channel (or of a key's ``{hash tag}``).

redis-py reconnects and re-subscribes by itself; a subscribe confirmation for a channel
already confirmed is how a reader learns it happened, and it then yields ``BusReset`` so
the gateway checks its streams against PostgreSQL for what the outage swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from spectrus_domain import metrics
from spectrus_domain.bus import PUBLISHED, BusEvent, BusReset

log = logging.getLogger("spectrus.bus")

REDIS_ERRORS = Counter(
    "spectrus_redis_errors",
    "Redis connections that failed under the bus: a publish retried on a new connection, "
    "or a subscriber connection lost (it reconnects and the gateway checks its streams)",
    ["operation"],
)
SUBSCRIBERS_DOWN = Gauge(
    "spectrus_bus_subscribers_down",
    "Bus subscriber connections (one per Redis node followed) that are down right now",
    multiprocess_mode="livesum",
)
for _operation in ("publish", "subscribe"):  # both series exist from the start
    REDIS_ERRORS.labels(_operation)

CHANNEL_PREFIX = "spectrus:events:"
_RETRY_DELAY = 0.05
# A command that has not answered in this long is from a server that hangs: give up on it
# (pub/sub readers block on their own sockets and are not affected).
_COMMAND_TIMEOUT = 5.0
_MAX_RETRY_DELAY = 1.0


def channel_of(stream_id: int) -> str:
    return f"{CHANNEL_PREFIX}{stream_id}"


def stream_of(channel: bytes | str) -> int:
    name = channel.decode() if isinstance(channel, bytes) else channel
    return int(name[len(CHANNEL_PREFIX) :])


def _hash_tag(name: str) -> str:
    start = name.find("{")
    end = name.find("}", start + 1)
    return name[start + 1 : end] if start != -1 and end > start + 1 else name


class RedisTopology:
    """Where keys and channels live, and how to run a script on many keys at once."""

    def __init__(
        self,
        cluster: RedisCluster | None,
        shards: list[Redis],
        *,
        listen_cluster: RedisCluster | None = None,
        listen_shards: list[Redis] | None = None,
    ) -> None:
        self.cluster = cluster
        self.shards = shards
        # Subscribers wait on their sockets for as long as the bus is quiet, so they get
        # clients of their own without the command timeout.
        self.listen_cluster = listen_cluster or cluster
        self.listen_shards = listen_shards or shards
        _POOLS.topologies.add(self)

    @classmethod
    async def connect(
        cls, urls: Sequence[str], *, cluster: bool, password: str = ""
    ) -> RedisTopology:
        """``password`` serves URLs that carry none: kept out of URLs, it may contain any
        character (Kubernetes hands it over from a Secret)."""
        if not urls:
            raise ValueError("no Redis URL given")
        secret = password or None
        if cluster:
            nodes = []
            for url in urls:
                client = Redis.from_url(url)
                kw = client.connection_pool.connection_kwargs
                nodes.append(ClusterNode(kw.get("host", "127.0.0.1"), int(kw.get("port", 6379))))
                await client.aclose()
            # The cluster client takes startup nodes, not URLs: carry over what the first
            # URL says about credentials and TLS, which every node of one cluster shares.
            first = Redis.from_url(urls[0], password=secret).connection_pool.connection_kwargs
            username, secret = first.get("username"), first.get("password")
            tls = urls[0].startswith("rediss://")
            client_of = functools.partial(
                RedisCluster,
                startup_nodes=nodes,
                max_connections=200,
                username=username,
                password=secret,
                ssl=tls,
            )
            commands = client_of(
                socket_timeout=_COMMAND_TIMEOUT, socket_connect_timeout=_COMMAND_TIMEOUT
            )
            listening = client_of()
            await commands.initialize()
            await listening.initialize()
            return cls(commands, [], listen_cluster=listening)
        shards = [
            Redis.from_url(
                url,
                max_connections=200,
                password=secret,
                socket_timeout=_COMMAND_TIMEOUT,
                socket_connect_timeout=_COMMAND_TIMEOUT,
            )
            for url in urls
        ]
        listeners = [Redis.from_url(url, max_connections=200, password=secret) for url in urls]
        for shard in shards:
            await shard.ping()
        return cls(None, shards, listen_shards=listeners)

    def shard_for(self, name: str) -> Redis:
        """The standalone server holding ``name`` (a key or a channel)."""
        return self.shards[zlib.crc32(_hash_tag(name).encode()) % len(self.shards)]

    async def run_script(
        self, source: str, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Run one Lua script for many (keys, args); results in order (errors as
        exception objects). All keys of one call must share a hash tag."""
        if not calls:
            return []
        script = (self.cluster or self.shards[0]).register_script(source)
        results: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _attempt in range(2):
            retry = []
            if self.cluster is not None:
                async with self.cluster.pipeline(transaction=False) as pipe:
                    for i in pending:
                        keys, args = calls[i]
                        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                    out = await pipe.execute(raise_on_error=False)
                for i, r in zip(pending, out, strict=True):
                    results[i] = r
                    if isinstance(r, NoScriptError):
                        retry.append(i)
            else:
                by_shard: dict[int, list[int]] = {}
                for i in pending:
                    shard = self.shards.index(self.shard_for(calls[i][0][0]))
                    by_shard.setdefault(shard, []).append(i)
                for shard, indexes in by_shard.items():
                    async with self.shards[shard].pipeline(transaction=False) as pipe:
                        for i in indexes:
                            keys, args = calls[i]
                            pipe.evalsha(script.sha, len(keys), *keys, *args)
                        out = await pipe.execute(raise_on_error=False)
                    for i, r in zip(indexes, out, strict=True):
                        results[i] = r
                        if isinstance(r, NoScriptError):
                            retry.append(i)
            if not retry:
                break
            # A restarted server forgot its scripts: load them everywhere and rerun
            # the calls that did not run.
            if self.cluster is not None:
                await self.cluster.script_load(source)
            else:
                for server in self.shards:
                    await server.script_load(source)
            pending = retry
        return results

    async def call(self, key: str, *command: Any) -> Any:
        """One command on the node that holds ``key``."""
        if self.cluster is not None:
            return await self.cluster.execute_command(*command)
        return await self.shard_for(key).execute_command(*command)  # type: ignore[no-untyped-call]

    async def flush_all(self) -> None:
        """Tests and tools only: empty every node."""
        if self.cluster is not None:
            await self.cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
        for shard in self.shards:
            await shard.flushall()

    async def close(self) -> None:
        for cluster in {
            id(c): c for c in (self.cluster, self.listen_cluster) if c is not None
        }.values():
            await cluster.aclose()
        for shard in {id(s): s for s in [*self.shards, *self.listen_shards]}.values():
            await shard.aclose()


class RedisBus:
    def __init__(self, topology: RedisTopology) -> None:
        self.topology = topology

    async def publish(self, events: Sequence[BusEvent]) -> None:
        """Publish in one pipeline per node; a connection the server closed (it restarted)
        is replaced and the publish tried once more."""
        if not events:
            return
        PUBLISHED.inc(len(events))  # handed over: pub/sub says nothing of who got them
        try:
            await self._publish(events)
        except (RedisConnectionError, OSError):
            REDIS_ERRORS.labels("publish").inc()
            await self._publish(events)

    async def _publish(self, events: Sequence[BusEvent]) -> None:
        t = self.topology
        if t.cluster is not None:
            async with t.cluster.pipeline(transaction=False) as pipe:
                for e in events:
                    pipe.spublish(channel_of(e.stream_id), e.encode())  # queued, not awaited
                await pipe.execute(raise_on_error=False)
            return
        by_shard: dict[int, list[BusEvent]] = {}
        for e in events:
            by_shard.setdefault(t.shards.index(t.shard_for(channel_of(e.stream_id))), []).append(e)
        for shard, shard_events in by_shard.items():
            async with t.shards[shard].pipeline(transaction=False) as pipe:
                for e in shard_events:
                    pipe.publish(channel_of(e.stream_id), e.encode())
                await pipe.execute(raise_on_error=False)

    async def subscribe(self) -> RedisSubscription:
        return RedisSubscription(self.topology)

    async def close(self) -> None:
        await self.topology.close()


class RedisSubscription:
    """One process's subscriptions: a reader task per node, feeding one queue."""

    def __init__(self, topology: RedisTopology) -> None:
        self.topology = topology
        self._queue: asyncio.Queue[BusEvent | BusReset | None] = asyncio.Queue()
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._cluster_pubsub = (
            topology.listen_cluster.pubsub() if topology.listen_cluster is not None else None
        )
        self._shard_pubsubs: dict[int, PubSub] = {}
        self._lock = asyncio.Lock()

    async def follow(self, stream_ids: Iterable[int]) -> None:
        channels = [channel_of(s) for s in stream_ids]
        if not channels:
            return
        async with self._lock:
            if self._cluster_pubsub is not None:
                await self._cluster_pubsub.ssubscribe(*channels)
                assert self.topology.listen_cluster is not None
                for node in self.topology.listen_cluster.get_primaries():
                    reader = self._readers.get(node.name)
                    if node.name in self._cluster_pubsub.node_pubsub_mapping and (
                        reader is None or reader.done()
                    ):
                        self._readers[node.name] = asyncio.create_task(self._read_cluster(node))
                return
            for shard, names in self._by_shard(channels).items():
                pubsub = self._shard_pubsubs.get(shard)
                if pubsub is None:
                    pubsub = self.topology.listen_shards[shard].pubsub(
                        ignore_subscribe_messages=False
                    )
                    self._shard_pubsubs[shard] = pubsub
                await pubsub.subscribe(*names)
                if f"shard{shard}" not in self._readers:
                    self._readers[f"shard{shard}"] = asyncio.create_task(self._read_shard(pubsub))

    async def unfollow(self, stream_ids: Iterable[int]) -> None:
        channels = [channel_of(s) for s in stream_ids]
        if not channels:
            return
        async with self._lock:
            if self._cluster_pubsub is not None:
                await self._cluster_pubsub.sunsubscribe(*channels)
                return
            for shard, names in self._by_shard(channels).items():
                pubsub = self._shard_pubsubs.get(shard)
                if pubsub is not None:
                    await pubsub.unsubscribe(*names)

    def _by_shard(self, channels: list[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for name in channels:
            out.setdefault(self.topology.shards.index(self.topology.shard_for(name)), []).append(
                name
            )
        return out

    def _message(self, message: dict[str, Any], confirmed: set[bytes], failed: bool) -> bool:
        """Queue what a pub/sub message means; returns whether a reconnect was seen."""
        kind = message["type"]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind in ("message", "smessage"):
            try:
                self._queue.put_nowait(BusEvent.decode(message["data"]))
            except (ValueError, TypeError):
                log.warning("undecodable bus message on %r", message.get("channel"))
        elif kind in ("subscribe", "ssubscribe"):
            channel = message["channel"]
            if failed or channel in confirmed:
                return True
            confirmed.add(channel)
        return False

    async def _read_cluster(self, node: ClusterNode) -> None:
        assert self._cluster_pubsub is not None
        confirmed: set[bytes] = set()
        failed, delay = False, _RETRY_DELAY
        while True:
            try:
                message = await self._cluster_pubsub.get_sharded_message(
                    ignore_subscribe_messages=False,
                    timeout=None,  # type: ignore[arg-type]  # None blocks on this node only
                    target_node=node,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # redis-py also raises plain errors (e.g. AttributeError) on a connection torn
                # down under it; any of them means "back off and retry".
                if not failed:
                    log.warning("bus connection to %s lost: %r", node.name, exc)
                    _link_lost()
                failed = True
                await asyncio.sleep(delay)  # back off while the node is away
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                continue
            delay = _RETRY_DELAY
            if message is None:
                if node.name not in self._cluster_pubsub.node_pubsub_mapping:
                    # Nothing left to read on this node; follow() starts a new reader.
                    self._readers.pop(node.name, None)
                    return
                continue
            if self._message(message, confirmed, failed):
                if failed:  # the link this reader counted as down is back
                    SUBSCRIBERS_DOWN.dec()
                failed = False
                self._queue.put_nowait(BusReset(f"reconnected to {node.name}"))

    async def _read_shard(self, pubsub: PubSub) -> None:
        confirmed: set[bytes] = set()
        failed, delay = False, _RETRY_DELAY
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # see _read_cluster
                if not failed:
                    log.warning("bus connection lost: %r", exc)
                    _link_lost()
                failed = True
                await asyncio.sleep(delay)  # back off while the server is away
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                continue
            delay = _RETRY_DELAY
            if message is not None and self._message(message, confirmed, failed):
                if failed:  # the link this reader counted as down is back
                    SUBSCRIBERS_DOWN.dec()
                failed = False
                self._queue.put_nowait(BusReset("reconnected"))

    async def messages(self) -> AsyncIterator[BusEvent | BusReset]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def close(self) -> None:
        for task in self._readers.values():
            task.cancel()
        for task in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._cluster_pubsub is not None:
            with contextlib.suppress(Exception):
                await self._cluster_pubsub.aclose()
        for pubsub in self._shard_pubsubs.values():
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        self._queue.put_nowait(None)


def _link_lost() -> None:
    REDIS_ERRORS.labels("subscribe").inc()
    SUBSCRIBERS_DOWN.inc()


class _PoolCollector(Collector):
    """The Redis connection pools of this process, read when scraped.

    redis-py has no public pool statistics: this reads its pools' own lists (standalone
    ``ConnectionPool._available_connections`` / ``_in_use_connections``, cluster
    ``ClusterNode._connections`` / ``_free``), and reports nothing for a pool whose
    shape it does not know rather than a wrong number (the metrics test notices)."""

    def __init__(self) -> None:
        self.topologies: weakref.WeakSet[RedisTopology] = weakref.WeakSet()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self._families([])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self._families(list(self.topologies))

    @staticmethod
    def _families(topologies: list[RedisTopology]) -> Iterator[GaugeMetricFamily]:
        idle = used = most = 0
        for t in topologies:
            for cluster in {id(c): c for c in (t.cluster, t.listen_cluster) if c}.values():
                for node in cluster.get_nodes():
                    free, every = getattr(node, "_free", None), getattr(node, "_connections", None)
                    if free is not None and every is not None:
                        idle, used = idle + len(free), used + len(every) - len(free)
                        most += node.max_connections
            for shard in {id(s): s for s in [*t.shards, *t.listen_shards]}.values():
                pool = shard.connection_pool
                free, busy = (
                    getattr(pool, "_available_connections", None),
                    getattr(pool, "_in_use_connections", None),
                )
                if free is not None and busy is not None:
                    idle, used = idle + len(free), used + len(busy)
                    most += pool.max_connections
        connections = GaugeMetricFamily(
            "spectrus_redis_pool_connections",
            "Open Redis connections of this process's pools, by whether a task holds them",
            labels=["state"],
        )
        size = GaugeMetricFamily(
            "spectrus_redis_pool_max_connections", "The most Redis connections the pools may open"
        )
        if topologies:
            connections.add_metric(["idle"], idle)
            connections.add_metric(["used"], used)
            size.add_metric([], most)
        yield connections
        yield size


_POOLS = _PoolCollector()
metrics.register_collector(_POOLS)
