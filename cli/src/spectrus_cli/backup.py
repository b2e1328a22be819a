"""``spectrus backup FILE`` and ``spectrus restore FILE``: a whole instance, database and
files, in one tar archive.

The archive holds ``manifest.json`` (format, schema version, every file's size and
SHA-256), ``database.pgdump`` (``pg_dump -Fc``) and ``files/<key>``. The files are exactly
those the dumped database refers to: the key list is read in the very snapshot pg_dump
dumps (an exported snapshot), and while the backup runs the sweeper deletes nothing (it
waits on the backup's shared advisory lock), so every referenced file is still there to
be copied.

Restore wants an empty instance: a database without tables, and a file store holding
nothing but files of this archive (so an interrupted restore can simply be run again).
Files are checked against the manifest and written first; the database is restored in
one transaction, then migrated to this version's schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import asyncpg

from spectrus_cli.embedded_pg import PG_BIN, EmbeddedPostgres
from spectrus_domain.config import Settings
from spectrus_domain.storage import apply_migrations
from spectrus_domain.storage.files import BACKUP_LOCK, FileStore, open_store

FORMAT = 1
ROOT = "spectrus-backup"


class BackupError(Exception):
    pass


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[str]:
    """The instance's database: the configured URL, or the embedded server (started for
    the occasion unless ``spectrus up`` is already running it)."""
    if settings.database_url:
        yield settings.database_url
        return
    postgres = EmbeddedPostgres(settings.data_dir / "postgres")
    if postgres.is_running():
        yield postgres.dsn
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    dsn = await asyncio.to_thread(postgres.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(postgres.stop)


def _pg(tool: str, *args: str) -> None:
    result = subprocess.run(
        [str(PG_BIN / tool), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {result.stderr.strip() or result.stdout.strip()}")


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(f"{ROOT}/{name}")
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


async def backup(settings: Settings, target: Path) -> dict[str, Any]:
    """Write the archive; returns its manifest."""
    if await asyncio.to_thread(target.exists):
        raise BackupError(f"{target} exists; choose a new file")
    store = open_store(settings)
    async with database(settings) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT pg_advisory_lock_shared($1)", BACKUP_LOCK)
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                keys = [
                    r["key"]
                    for r in await conn.fetch(
                        """SELECT file_key AS key FROM attachments
                           UNION SELECT preview_key FROM attachments WHERE preview_key IS NOT NULL
                           UNION SELECT file_key FROM emojis ORDER BY key"""
                    )
                ]
                migrations = [
                    r["version"]
                    for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
                ]
                with tempfile.TemporaryDirectory() as scratch:
                    dump = Path(scratch) / "database.pgdump"
                    await asyncio.to_thread(
                        _pg, "pg_dump", "-Fc", f"--snapshot={snapshot}", "-f", str(dump), dsn
                    )
                    manifest = await _write_archive(target, dump, keys, store, migrations)
        finally:
            await conn.close()  # also releases the advisory lock
    return manifest


async def _write_archive(
    target: Path, dump: Path, keys: list[str], store: FileStore, migrations: list[int]
) -> dict[str, Any]:
    partial = target.with_name(target.name + ".partial")
    files: dict[str, dict[str, Any]] = {}
    with tarfile.open(partial, "w") as archive:
        archive.add(dump, f"{ROOT}/database.pgdump")
        for key in keys:
            data = await store.read(key)
            files[key] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            _add(archive, f"files/{key}", data)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "migrations": migrations,
            "database_sha256": await asyncio.to_thread(_sha256_of, dump),
            "files": files,
        }
        _add(archive, "manifest.json", json.dumps(manifest, indent=1).encode())
    partial.rename(target)  # a backup file either is complete or does not exist
    return manifest


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(archive: tarfile.TarFile, name: str, target: IO[bytes]) -> str:
    """Copy a member to ``target``; returns its SHA-256."""
    try:
        source = archive.extractfile(f"{ROOT}/{name}")
    except KeyError:
        source = None
    if source is None:
        raise BackupError(f"not a Spectrus backup: {name} is missing")
    digest = hashlib.sha256()
    while chunk := source.read(1 << 20):
        digest.update(chunk)
        target.write(chunk)
    target.flush()
    return digest.hexdigest()


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        handle = archive.extractfile(f"{ROOT}/{name}")
    except KeyError:
        raise BackupError(f"not a Spectrus backup: {name} is missing") from None
    if handle is None:
        raise BackupError(f"not a Spectrus backup: {name} is not a file")
    return handle.read()


async def restore(settings: Settings, source: Path) -> dict[str, Any]:
    """Restore the archive into this (empty) instance; returns its manifest."""
    with tarfile.open(source, "r") as archive:
        manifest: dict[str, Any] = json.loads(_member(archive, "manifest.json"))
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {manifest.get('format')!r}")
        store = open_store(settings)
        expected: dict[str, dict[str, Any]] = manifest["files"]
        stray = [k async for k in store.list_keys() if k not in expected]
        if stray:
            raise BackupError(
                f"the file store ({store.description}) is not empty: {len(stray)} files "
                "that are not in this backup"
            )
        async with database(settings) as dsn:
            conn = await asyncpg.connect(dsn)
            try:
                tables = await conn.fetchval(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                )
                if tables:
                    raise BackupError("the database is not empty; restore needs a new instance")
                for key, meta in expected.items():
                    data = _member(archive, f"files/{key}")
                    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                        raise BackupError(f"file {key} is damaged in the backup")
                    await store.put(key, data)
                with tempfile.NamedTemporaryFile(suffix=".pgdump") as handle:
                    # Streamed to disk: a dump may be far larger than memory.
                    digest = await asyncio.to_thread(_extract, archive, "database.pgdump", handle)
                    if digest != manifest["database_sha256"]:
                        raise BackupError("the database dump is damaged in the backup")
                    await asyncio.to_thread(
                        _pg,
                        "pg_restore",
                        "--single-transaction",
                        "--exit-on-error",
                        "--no-owner",
                        "--no-privileges",
                        "-d",
                        dsn,
                        handle.name,
                    )
                await apply_migrations(conn)
            finally:
                await conn.close()
    return manifest
