"""Backup and restore round trip: an instance with every kind of data (accounts, a guild,
roles, messages with mentions, reactions, pins, attachments with previews, custom emoji,
read state, audit log, events) is backed up, restored into an empty database and an
empty file store, and compared table by table, row by row, file by file."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image

from spectrus_cli import backup
from spectrus_domain.config import Settings
from spectrus_domain.storage import files


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def _call(http: httpx.AsyncClient, token: str, method: str, path: str, **kw: Any) -> Any:
    r = await http.request(method, path, headers={"Authorization": token}, **kw)
    assert r.status_code < 300, f"{method} {path} -> {r.status_code} {r.text}"
    return r.json() if r.content else None


async def _populate(http: httpx.AsyncClient) -> None:
    tokens = []
    for name in ("alice", "bob"):
        r = await http.post(
            "/auth/register", json={"username": name, "password": "correct horse battery"}
        )
        tokens.append(r.json()["token"])
    alice, bob = tokens
    guild = await _call(http, alice, "POST", "/guilds", json={"name": "Backed Up"})
    gid = guild["id"]
    channel = next(
        c["id"]
        for c in await _call(http, alice, "GET", f"/guilds/{gid}/channels")
        if c["type"] == 0
    )
    invite = await _call(http, alice, "POST", f"/channels/{channel}/invites", json={})
    await _call(http, bob, "POST", f"/invites/{invite['code']}")
    await _call(
        http, alice, "POST", f"/guilds/{gid}/roles", json={"name": "crew", "mentionable": True}
    )
    emoji_image = "data:image/png;base64," + base64.b64encode(_png(32, 32)).decode()
    emoji = await _call(
        http, alice, "POST", f"/guilds/{gid}/emojis", json={"name": "ok", "image": emoji_image}
    )
    me = await _call(http, bob, "GET", "/users/@me")
    hello = await _call(
        http, alice, "POST", f"/channels/{channel}/messages", json={"content": f"hi <@{me['id']}>"}
    )
    photo = await _call(
        http,
        bob,
        "POST",
        f"/channels/{channel}/messages",
        data={"payload_json": json.dumps({"content": "a photo"})},
        files=[("files[0]", ("big.png", _png(1600, 900), "image/png"))],
    )
    base = f"/channels/{channel}/messages/{hello['id']}/reactions"
    await _call(http, bob, "PUT", f"{base}/%F0%9F%91%8D/@me")
    await _call(http, alice, "PUT", f"{base}/ok:{emoji['id']}/@me")
    await _call(http, alice, "PUT", f"/channels/{channel}/pins/{photo['id']}")
    await _call(http, bob, "POST", f"/channels/{channel}/messages/{photo['id']}/ack", json={})


async def _tables(dsn: str) -> dict[str, list[str]]:
    """Every row of every table, as JSON text, in a stable order."""
    conn = await asyncpg.connect(dsn)
    try:
        names = [
            r["table_name"]
            for r in await conn.fetch(
                """SELECT table_name FROM information_schema.tables
                   WHERE table_schema = 'public' ORDER BY table_name"""
            )
        ]
        return {
            name: sorted(
                r["row"]
                for r in await conn.fetch(f'SELECT row_to_json(t)::text AS row FROM "{name}" t')
            )
            for name in names
        }
    finally:
        await conn.close()


async def _files(store: files.FileStore) -> dict[str, bytes]:
    return {key: await store.read(key) async for key in store.list_keys()}


@pytest.fixture(params=["local", "s3"])
def source_settings(request: pytest.FixtureRequest, tmp_path: Path, dsn: str) -> Settings:
    where = {}
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        where = server.settings_for(request.getfixturevalue("s3_bucket"))
    return Settings(data_dir=tmp_path / "source", database_url=dsn, **where)


@pytest.fixture
def settings(source_settings: Settings) -> Settings:
    """The API the data is made through runs on the source instance."""
    return source_settings.replace(rate_limit_scale=0, link_previews=False)


async def test_backup_then_restore_reproduces_everything(
    http, ctx, source_settings: Settings, empty_dsn: str, dsn: str, tmp_path: Path
) -> None:
    await _populate(http)
    source_store = files.open_store(source_settings)
    archive = tmp_path / "instance.tar"
    manifest = await backup.backup(source_settings, archive)
    assert len(manifest["files"]) == 3  # the photo, its preview, the emoji
    with pytest.raises(backup.BackupError, match="exists"):
        await backup.backup(source_settings, archive)

    target = Settings(data_dir=tmp_path / "target", database_url=empty_dsn)  # local files
    restored = await backup.restore(target, archive)
    assert restored == manifest
    before, after = await _tables(dsn), await _tables(empty_dsn)
    assert set(before) == set(after) and len(before) > 20
    for table in before:
        assert after[table] == before[table], table
    filled = {table for table, rows in before.items() if rows}
    assert filled >= {
        "users",
        "guilds",
        "members",
        "roles",
        "channels",
        "messages",
        "attachments",
        "emojis",
        "reactions",
        "read_states",
        "outbox",
        "instance_secrets",
        "schema_migrations",
    }
    assert await _files(files.open_store(target)) == await _files(source_store)

    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.restore(target, archive)


async def test_damaged_or_foreign_archives_are_refused(
    http, ctx, source_settings: Settings, empty_dsn: str, tmp_path: Path
) -> None:
    await _populate(http)
    archive = tmp_path / "instance.tar"
    await backup.backup(source_settings, archive)
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as good, tarfile.open(damaged, "w") as bad:
        for member in good.getmembers():
            data = good.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("spectrus-backup/files/"):
                data = b"x" + data[1:]  # one byte of one file changed
            member.size = len(data)
            bad.addfile(member, io.BytesIO(data))
    target = Settings(data_dir=tmp_path / "target", database_url=empty_dsn)
    with pytest.raises(backup.BackupError, match="damaged"):
        await backup.restore(target, damaged)
    stranger = tmp_path / "stranger.tar"
    with tarfile.open(stranger, "w") as other:
        other.addfile(tarfile.TarInfo("notes.txt"), io.BytesIO(b""))
    with pytest.raises(backup.BackupError, match="not a Spectrus backup"):
        await backup.restore(target, stranger)
    # Nothing was restored, so the real archive still goes in.
    await backup.restore(target, archive)
