"""Snowflake node ids leased from a real PostgreSQL: concurrent starters never share one,
an expired lease is taken over (and its old holder stops), a released one is free again,
and a process whose renewals fail for a whole TTL stops minting ids.

Time is injected (the lease's monotonic clock, the renewal loop's sleep); where a lease
must be expired in the database, the test moves its expiry into the past as a holder that
died long ago would have left it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from spectrus_domain.ids import SnowflakeGenerator, snowflake_time_ms
from spectrus_domain.storage import Database, connect
from spectrus_domain.storage.node_ids import (
    CLOCK_SKEW_ALLOWANCE_MS,
    LEASE_TTL,
    RENEW_EVERY,
    RETRY_EVERY,
    NodeLeaseLostError,
    lease_node_id,
)


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def processes(dsn: str) -> AsyncIterator[list[Database]]:
    """Three pools on one database: three processes starting side by side."""
    pools = [await connect(dsn, min_size=1, max_size=4, migrate=False) for _ in range(3)]
    yield pools
    for pool in pools:
        await pool.close()


async def test_concurrent_starters_get_distinct_ids(processes: list[Database]) -> None:
    leases = await asyncio.gather(
        *(lease_node_id(processes[n % 3], f"starter-{n}") for n in range(30))
    )
    assert sorted(lease.node_id for lease in leases) == list(range(30))
    rows = await processes[0].fetch("SELECT node_id, holder FROM node_leases")
    assert {r["node_id"]: r["holder"] for r in rows} == {
        lease.node_id: lease.holder for lease in leases
    }


async def test_an_expired_lease_is_reused_and_its_old_holder_stops(db: Database) -> None:
    crashed = await lease_node_id(db, "crashed")
    alive = await lease_node_id(db, "alive")
    assert (crashed.node_id, alive.node_id) == (0, 1)
    assert (await lease_node_id(db, "third")).node_id == 2  # live leases are not taken
    expired_at = await db.fetchval(
        """UPDATE node_leases SET expires_at = now() - interval '1 second'
           WHERE node_id = 0 RETURNING expires_at"""
    )

    successor = await lease_node_id(db, "successor")
    assert successor.node_id == 0
    # Its ids start after the crashed holder's could have ended, whatever the clocks say.
    assert successor.not_before_ms == int(expired_at.timestamp() * 1000) + CLOCK_SKEW_ALLOWANCE_MS
    first = successor.generator().next()
    assert snowflake_time_ms(first) >= successor.not_before_ms

    with pytest.raises(NodeLeaseLostError, match="taken over"):
        await crashed.renew()
    with pytest.raises(NodeLeaseLostError):
        crashed.generator().next()
    await crashed.release()  # what the old holder does on its way out: no harm done
    assert await db.fetchval("SELECT holder FROM node_leases WHERE node_id = 0") == "successor"
    await alive.renew()
    await successor.renew()


async def test_release_frees_the_id_and_stops_its_generator(db: Database) -> None:
    first = await lease_node_id(db, "first")
    ids = first.generator()
    assert ids.node == first.node_id == 0 and ids.next()
    await first.release()
    with pytest.raises(NodeLeaseLostError, match="released"):
        ids.next()
    with pytest.raises(NodeLeaseLostError):
        await first.renew()
    second = await lease_node_id(db, "second")
    assert second.node_id == 0 and second.generator().next()


async def test_renewal_moves_the_deadline(db: Database) -> None:
    clock = Monotonic()
    lease = await lease_node_id(db, "renewing", clock=clock)
    ids = lease.generator()
    clock.now += 50
    await lease.renew()
    clock.now += 50  # 100 s after the lease was taken, 50 after the renewal
    assert ids.next()
    clock.now += 10  # a TTL after the renewal
    with pytest.raises(NodeLeaseLostError, match="not renewed"):
        ids.next()


async def test_minting_stops_once_renewals_failed_for_a_ttl(dsn: str) -> None:
    db = await connect(dsn, min_size=1, max_size=2, migrate=False)
    clock = Monotonic()
    lease = await lease_node_id(db, "cut off", clock=clock)
    ids = lease.generator()
    start = clock.now
    waits: list[float] = []
    minted_meanwhile: list[int] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        if clock.now < start + LEASE_TTL:
            minted_meanwhile.append(ids.next())  # still ours: ids keep coming

    await db.close()  # the database goes away: every renewal from now on fails
    with pytest.raises(NodeLeaseLostError, match="not renewed"):
        await lease.keep(sleep=sleep)
    assert clock.now == start + LEASE_TTL
    # First the regular interval, then retries until the TTL is used up.
    assert waits[0] == RENEW_EVERY and set(waits[1:-1]) == {RETRY_EVERY}
    assert len(minted_meanwhile) == len(waits) - 1
    with pytest.raises(NodeLeaseLostError):
        ids.next()


def test_a_generator_mints_nothing_before_its_floor() -> None:
    now_ms = 1_700_000_000_000
    floor = now_ms + 1500  # the previous holder's end was a little ahead of this clock
    ids = SnowflakeGenerator(7, clock_ms=lambda: now_ms, not_before_ms=floor)
    minted = [ids.next() for _ in range(5000)]
    assert all(snowflake_time_ms(i) >= floor for i in minted)
    assert minted == sorted(set(minted))
    plain = SnowflakeGenerator(7, clock_ms=lambda: now_ms)
    assert snowflake_time_ms(plain.next()) == now_ms
