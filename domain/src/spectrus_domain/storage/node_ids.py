"""Snowflake node ids leased from PostgreSQL, for processes that share one configuration.

Replicas of a Kubernetes Deployment all get the same environment, so ``SPECTRUS_NODE_ID``
cannot tell them apart; two processes minting ids with one node number would sooner or
later mint the same id. With ``SPECTRUS_NODE_ID_LEASE`` each process instead takes the
lowest node id that is free or whose lease expired (table ``node_leases``), renews it
every ``RENEW_EVERY`` seconds for ``LEASE_TTL`` more, and releases it when it stops.

Two rules keep ids unique when things go wrong:

- Expiry is judged by the database's clock only, and a process stops minting ids once a
  full TTL has passed on its own monotonic clock since it *sent* its last successful
  renewal; the database can only have expired the lease later than that.
- A new holder mints no id timestamped before the previous holder's lease end plus
  ``CLOCK_SKEW_ALLOWANCE_MS``: snowflakes carry the minting host's wall-clock time, and
  the hosts' clocks may disagree a little.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn

from spectrus_domain.ids import MAX_NODE, SnowflakeGenerator
from spectrus_domain.storage.db import Connection, Database

log = logging.getLogger("spectrus.node_ids")

LEASE_TTL = 60.0
RENEW_EVERY = 15.0
RETRY_EVERY = 5.0  # after a failed renewal: the TTL leaves room for several more tries
CLOCK_SKEW_ALLOWANCE_MS = 2_000
_LOCK_KEY = 0x5EC7_0002  # pg_advisory_xact_lock key owned by node id leasing


class NodeLeaseLostError(RuntimeError):
    """This process may no longer mint ids with its node id."""


class NoFreeNodeIdError(RuntimeError):
    pass


def default_holder() -> str:
    """Who holds a lease, for people reading the table: the host (a pod's name), the
    process, and a random part so a restarted process with a reused pid differs."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


@dataclass
class NodeLease:
    db: Database
    node_id: int
    holder: str
    not_before_ms: int
    """No id from before this Unix time (ms): the previous holder may have used it."""
    ttl: float
    clock: Callable[[], float]
    valid_until: float
    """On ``clock``: when this process must stop minting unless a renewal succeeds."""
    ended: str = field(default="")

    def check(self) -> None:
        """Raise unless ids may still be minted with this node id (the generator's guard)."""
        if self.ended:
            raise NodeLeaseLostError(f"node id {self.node_id}: {self.ended}")
        if self.clock() >= self.valid_until:
            raise NodeLeaseLostError(
                f"node id {self.node_id}: the lease was not renewed for {self.ttl:g} s; "
                "another process may hold it now, so no more ids are minted here"
            )

    def generator(self) -> SnowflakeGenerator:
        return SnowflakeGenerator(self.node_id, not_before_ms=self.not_before_ms, guard=self.check)

    async def renew(self) -> None:
        """Extend the lease by a TTL from now; NodeLeaseLostError if it is no longer ours."""
        self.check()
        sent = self.clock()
        renewed = await self.db.fetchval(
            """UPDATE node_leases SET expires_at = now() + make_interval(secs => $3)
               WHERE node_id = $1 AND holder = $2 AND expires_at > now()
               RETURNING node_id""",
            self.node_id,
            self.holder,
            self.ttl,
        )
        if renewed is None:
            self.ended = "the lease expired or was taken over before it could be renewed"
            raise NodeLeaseLostError(f"node id {self.node_id}: {self.ended}")
        self.valid_until = max(self.valid_until, sent + self.ttl)

    async def release(self) -> None:
        """Stop minting and free the id for the next process (clean shutdown)."""
        if self.ended:
            return
        self.ended = "the lease was released"
        await self.db.execute(
            """UPDATE node_leases SET expires_at = now()
               WHERE node_id = $1 AND holder = $2 AND expires_at > now()""",
            self.node_id,
            self.holder,
        )

    async def keep(
        self,
        *,
        every: float = RENEW_EVERY,
        retry: float = RETRY_EVERY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> NoReturn:
        """Renew until the lease is lost, then raise NodeLeaseLostError: what a service runs in
        the background, stopping itself when this returns. Failed renewals are retried
        until a TTL has passed without one."""
        wait = every
        while True:
            await sleep(min(wait, max(0.0, self.valid_until - self.clock())))
            self.check()
            try:
                async with asyncio.timeout(max(0.1, self.valid_until - self.clock())):
                    await self.renew()
                wait = every
            except NodeLeaseLostError:
                raise
            except Exception as exc:  # the database is away: retry while the lease holds
                left = self.valid_until - self.clock()
                log.warning(
                    "renewing the lease of node id %d failed (%s); %.0f s left before it "
                    "stops minting ids",
                    self.node_id,
                    exc or type(exc).__name__,
                    max(0.0, left),
                )
                wait = retry


async def lease_node_id(
    db: Database,
    holder: str | None = None,
    *,
    ttl: float = LEASE_TTL,
    clock: Callable[[], float] = time.monotonic,
) -> NodeLease:
    """Take the lowest node id that is free or whose lease expired."""
    who = holder or default_holder()
    sent = clock()

    async def body(conn: Connection) -> tuple[int, int]:
        # Starters queue here, so two never pick the same candidate; the WHERE on the
        # upsert would refuse a live lease all the same.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        row = await conn.fetchrow(
            """SELECT n AS node_id, l.expires_at FROM generate_series(0, $1::integer) AS n
               LEFT JOIN node_leases l ON l.node_id = n
               WHERE l.node_id IS NULL OR l.expires_at <= now()
               ORDER BY n LIMIT 1""",
            MAX_NODE,
        )
        if row is None:
            raise NoFreeNodeIdError(
                f"all {MAX_NODE + 1} snowflake node ids are leased by live processes"
            )
        taken = await conn.fetchval(
            """INSERT INTO node_leases (node_id, holder, expires_at)
               VALUES ($1, $2, now() + make_interval(secs => $3))
               ON CONFLICT (node_id) DO UPDATE
                   SET holder = excluded.holder, expires_at = excluded.expires_at
                   WHERE node_leases.expires_at <= now()
               RETURNING node_id""",
            row["node_id"],
            who,
            ttl,
        )
        if taken is None:
            raise AssertionError("a node id lease changed hands under the advisory lock")
        previous = row["expires_at"]
        floor = (
            int(previous.timestamp() * 1000) + CLOCK_SKEW_ALLOWANCE_MS
            if previous is not None
            else 0
        )
        return int(taken), floor

    node_id, not_before_ms = await db.write(body)
    log.info("leased snowflake node id %d as %s", node_id, who)
    return NodeLease(db, node_id, who, not_before_ms, ttl, clock, sent + ttl)
