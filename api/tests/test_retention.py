"""Per-guild message retention: messages older than the period go (in batches, announced
like any deletion) and their files leave the store; other guilds keep everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spectrus_domain.actions import maintenance
from spectrus_domain.config import DAY, Settings
from spectrus_domain.storage import files


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Logins outlast the weeks this test skips over.
    return Settings(
        data_dir=tmp_path, rate_limit_scale=0, link_previews=False, session_ttl=60 * DAY
    )


async def _send_file(api, user, channel: str, name: str) -> dict:
    return await api.call(
        user,
        "POST",
        f"/channels/{channel}/messages",
        data={"payload_json": json.dumps({"content": name})},
        files=[("files[0]", (name, name.encode(), "text/plain"))],
    )


async def test_retention_purges_old_messages_and_their_files(
    api, ctx, clock, db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "PURGE_BATCH", 2)  # several batches for a few messages
    owner = await api.register()
    kept_guild, purged_guild = await api.guild(owner, "Keeps"), await api.guild(owner, "Forgets")
    keeps, forgets = (
        await api.text_channel(owner, kept_guild),
        await api.text_channel(owner, purged_guild),
    )
    second = (
        await api.call(
            owner, "POST", f"/guilds/{purged_guild['id']}/channels", 201, json={"name": "b"}
        )
    )["id"]
    patched = await api.call(
        owner, "PATCH", f"/guilds/{purged_guild['id']}", json={"message_retention_days": 7}
    )
    assert patched["message_retention_days"] == 7
    old = [await api.send(owner, forgets, f"old {i}") for i in range(3)]
    old.append(await _send_file(api, owner, second, "old.txt"))
    untouched = await _send_file(api, owner, keeps, "kept.txt")
    clock.advance(days=6)
    recent = await api.send(owner, forgets, "six days old by the purge")
    clock.advance(days=2)
    assert await maintenance.purge_expired_messages(ctx) == 4
    left = await api.call(owner, "GET", f"/channels/{forgets}/messages")
    assert [m["id"] for m in left] == [recent["id"]]
    assert await api.call(owner, "GET", f"/channels/{second}/messages") == []
    assert len(await api.call(owner, "GET", f"/channels/{keeps}/messages")) == 1
    deleted = await db.fetch(
        """SELECT event, data FROM outbox WHERE event LIKE 'MESSAGE_DELETE%' ORDER BY seq"""
    )
    gone = set()
    for row in deleted:
        gone |= set(row["data"].get("ids", [row["data"].get("id")]))
    assert gone == {m["id"] for m in old}
    store = files.open_store(ctx.settings)
    assert await files.sweep(ctx.db, store, ctx.now()) == 1  # old.txt
    assert {k async for k in store.list_keys()} == {f"a/{untouched['attachments'][0]['id']}"}
    assert await maintenance.purge_expired_messages(ctx) == 0  # nothing more is due

    await api.call(
        owner, "PATCH", f"/guilds/{purged_guild['id']}", json={"message_retention_days": None}
    )
    clock.advance(days=30)
    assert await maintenance.purge_expired_messages(ctx) == 0  # retention off: kept forever
    audit = await api.call(owner, "GET", f"/guilds/{purged_guild['id']}/audit-logs")
    changes = [
        c
        for e in audit["audit_log_entries"]
        for c in e["changes"]
        if c["key"] == "message_retention_days"
    ]
    assert changes == [
        {"key": "message_retention_days", "old_value": 7},
        {"key": "message_retention_days", "new_value": 7},
    ]
    bad = await api.call(
        owner, "PATCH", f"/guilds/{purged_guild['id']}", 400, json={"message_retention_days": 0}
    )
    assert bad["code"] == 50035


async def test_the_instance_default_covers_guilds_without_their_own(api, ctx, clock, db) -> None:
    ctx.settings = ctx.settings.replace(message_retention_days=10)
    owner = await api.register()
    channels = {}
    for name, own in (("default", None), ("longer", 30), ("shorter", 3)):
        guild = await api.guild(owner, name)
        if own is not None:
            await api.call(
                owner, "PATCH", f"/guilds/{guild['id']}", json={"message_retention_days": own}
            )
        channels[name] = await api.text_channel(owner, guild)
    old = {name: await api.send(owner, c, "old") for name, c in channels.items()}
    clock.advance(days=5)
    recent = {name: await api.send(owner, c, "recent") for name, c in channels.items()}
    clock.advance(days=6)  # old: 11 days, recent: 6 days

    assert await maintenance.purge_expired_messages(ctx) == 3

    async def left(name: str) -> list[str]:
        # From the table: the login would not outlive the months this test skips.
        rows = await db.fetch(
            "SELECT id FROM messages WHERE channel_id = $1 ORDER BY id DESC", int(channels[name])
        )
        return [str(r["id"]) for r in rows]

    assert await left("default") == [recent["default"]["id"]]  # the instance's 10 days
    assert await left("longer") == [recent["longer"]["id"], old["longer"]["id"]]  # its own 30
    assert await left("shorter") == []  # its own 3 days, shorter than the instance's

    ctx.settings = ctx.settings.replace(message_retention_days=0)  # forever, by default
    clock.advance(days=100)
    assert await maintenance.purge_expired_messages(ctx) == 2  # "longer" still has its own
    assert await left("default") == [recent["default"]["id"]]
    assert await left("longer") == []
