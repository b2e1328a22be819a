"""Migrations against a real PostgreSQL: applied once, checksummed, atomic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from spectrus_domain.storage.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    load_migrations,
)


@pytest.fixture
async def empty(postgres, dsn: str):  # a database copied from the template, then emptied
    conn = await asyncpg.connect(dsn)
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    yield conn
    await conn.close()


async def test_applies_every_migration_once_and_records_checksums(
    empty: asyncpg.Connection,
) -> None:
    shipped = load_migrations()
    assert await apply_migrations(empty) == [m.version for m in shipped]
    assert await apply_migrations(empty) == []
    rows = await empty.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["checksum"]) for r in rows] == [
        (m.version, m.checksum) for m in shipped
    ]
    tables = {
        r["tablename"]
        for r in await empty.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    for table in (
        "users",
        "auth_tokens",
        "applications",
        "guilds",
        "channels",
        "roles",
        "members",
        "overwrites",
        "invites",
        "messages",
        "reactions",
        "bans",
        "audit_log",
        "outbox",
    ):
        assert table in tables


async def test_an_edited_migration_stops_start_up(empty: asyncpg.Connection) -> None:
    await apply_migrations(empty, [Migration(1, "one", "CREATE TABLE a (x int);")])
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_migrations(empty, [Migration(1, "one", "CREATE TABLE a (x bigint);")])


async def test_a_database_from_a_newer_version_is_refused(empty: asyncpg.Connection) -> None:
    await apply_migrations(
        empty, [Migration(1, "one", "SELECT 1;"), Migration(2, "two", "SELECT 2;")]
    )
    with pytest.raises(MigrationError, match="does not know"):
        await apply_migrations(empty, [Migration(1, "one", "SELECT 1;")])


async def test_a_failing_migration_leaves_nothing_behind(empty: asyncpg.Connection) -> None:
    broken = [
        Migration(1, "ok", "CREATE TABLE a (x int);"),
        Migration(2, "broken", "CREATE TABLE b (x int); SELECT no_such_function();"),
    ]
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(empty, broken)
    assert await empty.fetchval("SELECT to_regclass('b')") is None
    assert await empty.fetchval("SELECT max(version) FROM schema_migrations") == 1


async def test_concurrent_start_ups_apply_each_migration_once(
    empty: asyncpg.Connection, dsn: str
) -> None:
    # Each migration would fail if run twice (CREATE TABLE without IF NOT EXISTS).
    todo = [Migration(i, f"m{i}", f"CREATE TABLE t{i} (x int);") for i in range(1, 6)]
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c, todo) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(v for r in results for v in r) == [1, 2, 3, 4, 5]


def test_file_names_are_checked(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0003_gap.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        load_migrations(tmp_path)
    (tmp_path / "2_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        load_migrations(tmp_path)
