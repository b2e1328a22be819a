"""The file store contract, held by both backends: a directory and a real S3-compatible
server (versitygw). Then the removal protocol over PostgreSQL: pending uploads, claims,
abandoned uploads and deleted attachments, all ending with the store empty."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from spectrus_domain.config import Settings
from spectrus_domain.storage import files
from spectrus_domain.storage.files import FileMissingError, FileStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    if request.param == "local":
        return files.open_store(Settings(data_dir=tmp_path))
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return files.open_store(Settings(**server.settings_for(bucket)))


async def _keys(store: FileStore) -> set[str]:
    return {key async for key in store.list_keys()}


async def _read_all(store: FileStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    stored = await store.open(key, start, end)
    data = b"".join([chunk async for chunk in stored.chunks])
    assert stored.size == len(data)
    return data


async def test_files_round_trip_whole_and_in_ranges(store: FileStore, tmp_path: Path) -> None:
    blob = os.urandom(3 << 20)  # several of the stream's chunks
    await store.put("a/1", blob)
    await store.put("a/1.preview", b"")
    spooled = tmp_path / "spooled"
    spooled.write_bytes(b"from a file object")
    with spooled.open("rb") as handle:
        await store.put("a/2", handle)
    assert await store.read("a/1") == blob
    assert await _read_all(store, "a/1") == blob
    assert await _read_all(store, "a/1", 100, 200) == blob[100:200]
    assert await _read_all(store, "a/1", len(blob) - 7) == blob[-7:]
    assert await store.read("a/1.preview") == b""
    assert await store.read("a/2") == b"from a file object"
    assert await _keys(store) == {"a/1", "a/1.preview", "a/2"}


async def test_missing_files_and_repeated_deletes(store: FileStore) -> None:
    with pytest.raises(FileMissingError):
        await store.read("a/404")
    with pytest.raises(FileMissingError):
        await store.open("a/404")
    await store.put("a/1", b"x")
    await store.delete(["a/1", "a/404"])  # one of them never existed
    await store.delete(["a/1"])  # already gone
    assert await _keys(store) == set()


async def test_uploads_are_removed_unless_a_message_claims_them(
    store: FileStore, ctx, clock
) -> None:
    now = ctx.now()
    await files.expect_uploads(ctx.db, ["a/1", "a/2", "a/3"], now)
    for key in ("a/1", "a/2", "a/3"):
        await store.put(key, key.encode())
    assert await files.claim(ctx.db, ["a/1"])  # a message committed with it
    await files.abandon(ctx.db, ["a/2"])  # its message failed
    assert await files.sweep(ctx.db, store, now) == 1  # a/2 at once
    assert await _keys(store) == {"a/1", "a/3"}
    # a/3's request died without a word: it goes once the grace period is over.
    assert await files.sweep(ctx.db, store, now + files.UPLOAD_GRACE - timedelta(seconds=1)) == 0
    assert await files.sweep(ctx.db, store, now + files.UPLOAD_GRACE) == 1
    assert await _keys(store) == {"a/1"}
    assert not await files.claim(ctx.db, ["a/3"])  # too late to claim a swept upload
    assert await ctx.db.fetchval("SELECT count(*) FROM file_deletions") == 0
