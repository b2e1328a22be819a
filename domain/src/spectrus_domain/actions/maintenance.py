"""Housekeeping writes: pruning the event outbox past its retention."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from spectrus_domain.context import Context

log = logging.getLogger("spectrus.maintenance")

PRUNE_BATCH = 10_000
PRUNE_EVERY = 600.0


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


async def run_forever(ctx: Context) -> None:
    """What an API process runs in the background."""
    while True:
        try:
            removed = await prune_outbox(ctx)
            if removed:
                log.info("pruned %d outbox events", removed)
        except Exception:
            log.exception("outbox pruning failed")
        await asyncio.sleep(PRUNE_EVERY)  # a timer, not a wait for something
