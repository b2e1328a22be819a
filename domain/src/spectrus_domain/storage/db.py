"""The asyncpg pool and the one way to write: a retried transaction that emits events."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeAlias, TypeVar

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from spectrus_domain import metrics, tracing
from spectrus_domain.bus import BusEvent
from spectrus_domain.storage.migrations import apply_migrations

T = TypeVar("T")

# What actions receive: a pooled connection inside a transaction (or a bare one).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# What reads accept: any of those, or the pool itself.
Executor: TypeAlias = "Connection | asyncpg.Pool[asyncpg.Record]"
log = logging.getLogger(__name__)

# Conflicts PostgreSQL resolves by aborting one side; the action is simply run again.
_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
_MAX_ATTEMPTS = 5


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _no_reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """asyncpg resets every connection it takes back (one more round trip per use).
    Nothing here leaves session state behind: no SET, LISTEN, cursors or advisory locks
    outside a transaction, so the reset is skipped."""


async def one(conn: Executor, query: str, *args: Any) -> asyncpg.Record:
    """A row that must exist because this transaction wrote or locked it."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise LookupError(f"expected a row from: {query.split(chr(10), maxsplit=1)[0]}")
    return row


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


async def update(
    conn: Executor, table: str, key: Mapping[str, Any], fields: Mapping[str, Any]
) -> asyncpg.Record:
    """``UPDATE table SET fields WHERE key RETURNING *``: the row as it is now.

    Column names come from the actions' own allow-lists, never from input (checked here
    all the same); every value is a bound parameter."""
    names = [*fields, *key, table]
    if not all(_IDENTIFIER.match(n) for n in names):
        raise ValueError(f"not a column name: {names}")
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(fields, start=1))
    where = " AND ".join(f"{c} = ${i}" for i, c in enumerate(key, start=len(fields) + 1))
    query = f"UPDATE {table} SET {sets} WHERE {where} RETURNING *"
    return await one(conn, query, *fields.values(), *key.values())


# Events emitted inside the running ``Database.write`` transaction, published after commit.
_pending: ContextVar[list[BusEvent] | None] = ContextVar("spectrus_pending_events", default=None)
Publisher = Callable[[list[BusEvent]], Awaitable[None]]


def committed(event: BusEvent) -> None:
    """Queue ``event`` for publication when the surrounding write commits."""
    pending = _pending.get()
    if pending is not None:
        pending.append(event)


class Database:
    """A pool plus helpers; ``write`` is the only path actions use to change state."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self.pool = pool
        self.publisher: Publisher | None = None
        _POOLS.databases.add(self)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return list(await self.pool.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return str(await self.pool.execute(query, *args))

    async def write(self, body: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``body`` in one transaction, again from the start if PostgreSQL aborted it
        for a serialization conflict or deadlock; then publish the events it emitted.

        Publication happens after the commit and never fails the write: the outbox
        already holds the events, and readers backfill what the bus did not bring."""
        with tracing.span("db transaction"):
            for attempt in range(1, _MAX_ATTEMPTS + 1):
                events: list[BusEvent] = []
                token = _pending.set(events)
                try:
                    async with self.pool.acquire() as conn, conn.transaction():
                        result = await body(conn)
                except _RETRYABLE:
                    if attempt == _MAX_ATTEMPTS:
                        raise
                    log.info("transaction conflict, retrying (attempt %d)", attempt)
                    continue
                finally:
                    _pending.reset(token)
                if events and self.publisher is not None:
                    await self._publish(events)
                return result
        raise AssertionError("unreachable")

    async def _publish(self, events: list[BusEvent]) -> None:
        assert self.publisher is not None
        # Stamped now, just after the commit: readers measure delivery from here, and
        # their spans continue this transaction's.
        committed_at, parent = time.time(), tracing.traceparent()
        stamped = [dataclasses.replace(e, committed_at=committed_at, trace=parent) for e in events]
        try:
            await self.publisher(stamped)
        except Exception:
            log.warning(
                "publishing %d events failed; gateways will backfill", len(events), exc_info=True
            )


class _PoolCollector(Collector):
    """The connection pools of this process, read when scraped: open connections by
    state, and the most the pools may open (a process has one pool; tests have more,
    which add up)."""

    def __init__(self) -> None:
        self.databases: weakref.WeakSet[Database] = weakref.WeakSet()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self._families([db.pool for db in list(self.databases) if not db.pool.is_closing()])

    @staticmethod
    def _families(
        pools: list[asyncpg.Pool[asyncpg.Record]] | None = None,
    ) -> Iterator[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "spectrus_db_pool_connections",
            "Open PostgreSQL connections of the pool, by whether a task holds them",
            labels=["state"],
        )
        size = GaugeMetricFamily(
            "spectrus_db_pool_size", "The most PostgreSQL connections the pool may open"
        )
        if pools is not None:
            idle = sum(p.get_idle_size() for p in pools)
            connections.add_metric(["idle"], idle)
            connections.add_metric(["used"], sum(p.get_size() for p in pools) - idle)
            size.add_metric([], sum(p.get_max_size() for p in pools))
        yield connections
        yield size


_POOLS = _PoolCollector()
metrics.register_collector(_POOLS)


async def connect(
    dsn: str, *, min_size: int = 2, max_size: int = 20, migrate: bool = True
) -> Database:
    """Open a pool on ``dsn`` and, unless told otherwise, bring the schema up to date."""
    if migrate:
        conn = await asyncpg.connect(dsn)
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_no_reset
    )
    return Database(pool)
