"""Where uploaded files live: one interface over a local directory (``spectrus up``) or an
S3-compatible bucket (Kubernetes), both through obstore.

Files are immutable and named by the database (``a/<attachment id>``); nothing here knows
who may read them. Removal goes through the ``file_deletions`` table: rows there are due
files, and :func:`sweep` removes them from the store, then forgets the rows, so a crash
between the two only repeats an idempotent delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, ObjectStore, S3Store

from spectrus_domain.config import Settings
from spectrus_domain.storage.db import Database, Executor

log = logging.getLogger("spectrus.files")

# Held shared by a running backup, which must find every file its snapshot refers to.
BACKUP_LOCK = 0x5370_6563_0001
UPLOAD_GRACE = timedelta(hours=1)  # an upload not claimed by a message by then is garbage
SWEEP_BATCH = 500
SWEEP_EVERY = 30.0


class FileMissingError(Exception):
    """The store does not hold that key."""


@dataclass(frozen=True)
class Stored:
    size: int
    chunks: AsyncGenerator[bytes, None]


class FileStore:
    def __init__(self, store: ObjectStore, description: str) -> None:
        self.store = store
        self.description = description

    async def put(self, key: str, data: bytes | IO[bytes] | Path) -> None:
        """Write a file whole (what it is, the database says: the store holds bytes)."""
        await obstore.put_async(self.store, key, data)

    async def read(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            raise FileMissingError(key) from None
        return bytes(await result.bytes_async())

    async def open(self, key: str, start: int = 0, end: int | None = None) -> Stored:
        """Stream bytes ``start`` up to (not including) ``end`` of the file."""
        options: obstore.GetOptions = {}
        if start or end is not None:
            options["range"] = (start, end) if end is not None else {"offset": start}
        try:
            result = await obstore.get_async(self.store, key, options=options)
        except (NotFoundError, FileNotFoundError):
            raise FileMissingError(key) from None
        first, last = result.range
        return Stored(last - first, _chunks(result.stream(min_chunk_size=256 << 10)))

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove files; keys already gone are not an error."""
        batch = list(keys)
        if not batch:
            return
        try:
            await obstore.delete_async(self.store, batch)
        except (NotFoundError, FileNotFoundError):
            for key in batch:  # some backends fail the whole batch for one missing key
                with contextlib.suppress(NotFoundError, FileNotFoundError):
                    await obstore.delete_async(self.store, key)

    async def list_keys(self, prefix: str | None = None) -> AsyncIterator[str]:
        async for chunk in obstore.list(self.store, prefix):
            for meta in chunk:
                yield meta["path"]


async def _chunks(stream: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    async for chunk in stream:
        yield bytes(chunk)


def open_store(settings: Settings) -> FileStore:
    """The store the settings name: the S3 bucket if one is set, else ``<data dir>/files``."""
    if settings.s3_bucket:
        store = S3Store(
            settings.s3_bucket,
            endpoint=settings.s3_endpoint or None,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=settings.s3_secret_access_key or None,
            virtual_hosted_style_request=False,
            client_options={"allow_http": settings.s3_endpoint.startswith("http://")},
        )
        where = f"s3://{settings.s3_bucket}" + (
            f" at {settings.s3_endpoint}" if settings.s3_endpoint else ""
        )
        return FileStore(store, where)
    root = (settings.data_dir / "files").resolve()
    return FileStore(LocalStore(root, mkdir=True), str(root))


async def expect_uploads(db: Database | Executor, keys: list[str], now: datetime) -> None:
    """Note files about to be written: unless a message claims them within the grace
    period (see :func:`claim`), the sweeper removes them."""
    await db.execute(
        """INSERT INTO file_deletions (key, not_before) SELECT unnest($1::text[]), $2
           ON CONFLICT (key) DO NOTHING""",
        keys,
        now + UPLOAD_GRACE,
    )


async def claim(db: Database | Executor, keys: list[str]) -> bool:
    """Keep uploads for good; False if one was swept meanwhile (it took over an hour)."""
    claimed = await db.fetchval(
        "WITH c AS (DELETE FROM file_deletions WHERE key = ANY($1) RETURNING 1) "
        "SELECT count(*) FROM c",
        keys,
    )
    return int(claimed) == len(set(keys))


async def abandon(db: Database | Executor, keys: list[str]) -> None:
    """Uploads whose message failed: remove them at the next sweep."""
    await db.execute("UPDATE file_deletions SET not_before = '-infinity' WHERE key = ANY($1)", keys)


async def sweep(db: Database, files: FileStore, now: datetime) -> int:
    """Remove due files from the store, then their rows; returns how many went. Nothing
    is removed while a backup runs."""
    removed = 0
    while True:
        async with db.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", BACKUP_LOCK):
                return removed  # a backup is copying files: try again next round
            due = [
                r["key"]
                for r in await conn.fetch(
                    """SELECT key FROM file_deletions WHERE not_before <= $1
                       ORDER BY not_before LIMIT $2 FOR UPDATE SKIP LOCKED""",
                    now,
                    SWEEP_BATCH,
                )
            ]
            if not due:
                return removed
            await files.delete(due)
            await conn.execute("DELETE FROM file_deletions WHERE key = ANY($1)", due)
        removed += len(due)
        if len(due) < SWEEP_BATCH:
            return removed


async def sweep_forever(db: Database, files: FileStore, now: Callable[[], datetime]) -> None:
    """What an API process runs in the background."""
    while True:
        try:
            count = await sweep(db, files, now())
            if count:
                log.info("removed %d files", count)
        except Exception:
            log.exception("file sweep failed")
        await asyncio.sleep(SWEEP_EVERY)  # a timer, not a wait for something
