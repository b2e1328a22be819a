"""Housekeeping writes: pruning the event outbox past its retention, and purging the
messages of guilds with a retention period, their own or the instance's (their files
follow through the sweeper)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta
from functools import partial

from spectrus_domain.actions.messages import delete_rows
from spectrus_domain.context import Context
from spectrus_domain.ids import snowflake_floor
from spectrus_domain.limits import BULK_DELETE_MAX
from spectrus_domain.storage.db import Connection

log = logging.getLogger("spectrus.maintenance")

PRUNE_BATCH = 10_000
PRUNE_EVERY = 600.0
PURGE_BATCH = 1_000


async def prune_outbox(ctx: Context) -> int:
    """Delete outbox events older than the retention, in batches so no statement holds
    locks for long; returns how many went. Streams keep their seq: numbering never
    restarts, it only forgets history nobody can resume into any more."""
    cutoff = ctx.now() - timedelta(seconds=ctx.settings.outbox_retention)
    removed = 0
    while True:
        count = int(
            await ctx.db.fetchval(
                """WITH doomed AS (
                       SELECT stream_id, seq FROM outbox WHERE created_at < $1 LIMIT $2)
                   , gone AS (
                       DELETE FROM outbox o USING doomed d
                       WHERE o.stream_id = d.stream_id AND o.seq = d.seq RETURNING 1)
                   SELECT count(*) FROM gone""",
                cutoff,
                PRUNE_BATCH,
            )
        )
        removed += count
        if count < PRUNE_BATCH:
            return removed


async def _purge_batch(conn: Connection, guild_id: int, floor: int) -> int:
    rows = await conn.fetch(
        """SELECT id, channel_id FROM messages WHERE guild_id = $1 AND id < $2
           ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED""",
        guild_id,
        floor,
        PURGE_BATCH,
    )
    by_channel: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_channel[row["channel_id"]].append(row["id"])
    for channel_id, ids in by_channel.items():
        for start in range(0, len(ids), BULK_DELETE_MAX):
            await delete_rows(conn, guild_id, channel_id, ids[start : start + BULK_DELETE_MAX])
    return len(rows)


async def purge_expired_messages(ctx: Context) -> int:
    """Delete messages older than their guild's retention period, oldest first, a batch
    per transaction; clients hear MESSAGE_DELETE(_BULK) as for any deletion. Returns how
    many went. Several processes may run this at once: they skip each other's rows.

    A guild without a period of its own follows the instance's ``message_retention_days``
    (0: such guilds keep everything)."""
    removed = 0
    default = ctx.settings.message_retention_days
    if default:
        guilds = await ctx.db.fetch(
            "SELECT id, coalesce(message_retention_days, $1) AS days FROM guilds", default
        )
    else:
        guilds = await ctx.db.fetch(
            """SELECT id, message_retention_days AS days FROM guilds
               WHERE message_retention_days IS NOT NULL"""
        )
    for guild in guilds:
        cutoff = ctx.now() - timedelta(days=guild["days"])
        floor = snowflake_floor(int(cutoff.timestamp() * 1000))
        while True:
            count = await ctx.db.write(partial(_purge_batch, guild_id=guild["id"], floor=floor))
            removed += count
            if count < PURGE_BATCH:
                break
    return removed


async def run_forever(ctx: Context) -> None:
    """What an API process runs in the background."""
    while True:
        for name, job in (("outbox pruning", prune_outbox), ("retention", purge_expired_messages)):
            try:
                count = await job(ctx)
                if count:
                    log.info("%s: %d removed", name, count)
            except Exception:
                log.exception("%s failed", name)
        await asyncio.sleep(PRUNE_EVERY)  # a timer, not a wait for something
