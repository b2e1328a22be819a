"""The gateway end to end over real sockets: ordering, exactly-once delivery, permission
changes, joins, resumes, intents, presence, voice states, member chunks, compression."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from spectrus_domain.permissions import Permission
from spectrus_gateway.client import GatewayClient, GatewayClosed

P = Permission


async def _guild(stack, owner: str, *members: str) -> tuple[dict[str, Any], str]:
    guild = await stack.call(owner, "POST", "/guilds", 201, json={"name": "Hub"})
    channel = next(
        c["id"]
        for c in await stack.call(owner, "GET", f"/guilds/{guild['id']}/channels")
        if c["type"] == 0
    )
    invite = await stack.call(owner, "POST", f"/channels/{channel}/invites", json={})
    for token in members:
        await stack.call(token, "POST", f"/invites/{invite['code']}")
    return guild, channel


async def _messages(client: GatewayClient, count: int) -> list[str]:
    out = []
    while len(out) < count:
        d = await client.next_dispatch("MESSAGE_CREATE")
        out.append(d.data["content"])
    return out


async def test_identify_then_ordered_gap_free_events(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    guild, channel = await _guild(stack, owner, member)
    client = GatewayClient(stack.ws, member)
    ready = await client.identify()
    assert ready.seq == 1 and ready.data["guilds"] == [{"id": guild["id"], "unavailable": True}]
    assert ready.data["resume_gateway_url"] == stack.ctx.settings.websocket_url
    created = await client.next_dispatch("GUILD_CREATE")
    assert created.data["id"] == guild["id"] and {
        m["user"]["username"] for m in created.data["members"]
    } == {"owner", "member"}
    assert any(c["id"] == channel for c in created.data["channels"])
    for i in range(20):
        await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": f"m{i}"})
    seqs, contents = [], []
    while len(contents) < 20:
        d = await client.next_dispatch()
        seqs.append(d.seq)
        if d.event == "MESSAGE_CREATE":
            contents.append(d.data["content"])
            assert d.data["guild_id"] == guild["id"] and d.data["member"]["flags"] == 0
    assert contents == [f"m{i}" for i in range(20)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    await client.close()


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_lost_doorbells_are_repaired_exactly_once_in_order(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    _, channel = await _guild(stack, owner, member)
    client = await stack.client(member)
    backfills_before = _sample("spectrus_bus_backfills_total")
    events_before = _sample("spectrus_bus_backfilled_events_total")
    stack.bus.drop = 7  # the next seven events never reach the bus
    for i in range(30):
        await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": f"m{i}"})
    assert await _messages(client, 30) == [f"m{i}" for i in range(30)]
    stack.bus.drop = 1  # and a lost *last* doorbell is found by the head check
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "tail"})
    assert await _messages(client, 1) == ["tail"]
    assert stack.gateway.hub.stats["backfilled"] >= 8
    # Metrics count the repairs: the gap, and the lost last doorbell the head check found.
    assert _sample("spectrus_bus_backfills_total") - backfills_before >= 2
    assert _sample("spectrus_bus_backfilled_events_total") - events_before >= 8
    with pytest.raises(TimeoutError):
        await client.next_dispatch("MESSAGE_CREATE", wait=0.5)  # nothing twice
    await client.close()


async def test_permission_changes_take_effect_in_stream_order(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    guild, channel = await _guild(stack, owner, member)
    client = await stack.client(member)
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "visible"})
    await stack.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{guild['id']}",
        204,
        json={"type": 0, "deny": str(int(P.VIEW_CHANNEL))},
    )
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "hidden"})
    await stack.call(owner, "DELETE", f"/channels/{channel}/permissions/{guild['id']}", 204)
    await stack.call(
        owner, "POST", f"/channels/{channel}/messages", json={"content": "visible again"}
    )
    assert await _messages(client, 2) == ["visible", "visible again"]
    await client.close()


async def test_joining_and_being_kicked(stack) -> None:
    owner, joiner = await stack.register("owner"), await stack.register("joiner")
    guild, channel = await _guild(stack, owner)
    client = await stack.client(joiner)
    invite = await stack.call(owner, "POST", f"/channels/{channel}/invites", json={})
    await stack.call(joiner, "POST", f"/invites/{invite['code']}")
    created = await client.next_dispatch("GUILD_CREATE")
    assert created.data["id"] == guild["id"] and "_follow" not in created.data
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "welcome"})
    assert await _messages(client, 1) == ["welcome"]
    await stack.call(owner, "DELETE", f"/guilds/{guild['id']}/members/{client_user(created)}", 204)
    gone = await client.next_dispatch("GUILD_DELETE")
    assert gone.data == {"id": guild["id"]}
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "after kick"})
    with pytest.raises(TimeoutError):
        await client.next_dispatch("MESSAGE_CREATE", wait=0.5)
    await client.close()


async def test_a_join_while_others_of_the_guild_are_connected_here_is_complete(stack) -> None:
    """The guild is already followed on this process (its owner is connected), and the
    joiner's GUILD_CREATE must not be cut from a view that predates the join: it carries
    the channels the joiner sees, the owner's presence and the voice states."""
    owner, joiner = await stack.register("owner"), await stack.register("joiner")
    guild, channel = await _guild(stack, owner)
    watcher = await stack.client(owner)
    client = await stack.client(joiner)
    invite = await stack.call(owner, "POST", f"/channels/{channel}/invites", json={})
    for _ in range(5):  # more joins, so the guild stream is busy around this one's
        await stack.call(await stack.register(f"extra{_}"), "POST", f"/invites/{invite['code']}")
    await stack.call(joiner, "POST", f"/invites/{invite['code']}")
    created = await client.next_dispatch("GUILD_CREATE")
    assert created.data["id"] == guild["id"]
    assert channel in {c["id"] for c in created.data["channels"]}
    assert "joiner" in {m["user"]["username"] for m in created.data["members"]}
    online = {
        m["user"]["id"]
        for m in created.data["members"]
        if m["user"]["username"] in ("owner", "joiner")
    }
    assert {p["user"]["id"] for p in created.data["presences"]} == online  # not the extras
    assert created.data["voice_states"] == []
    await watcher.close()
    await client.close()


async def test_members_are_told_when_a_channel_they_see_is_deleted(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    guild, _ = await _guild(stack, owner, member)
    extra = await stack.call(
        owner, "POST", f"/guilds/{guild['id']}/channels", 201, json={"name": "doomed"}
    )
    client = await stack.client(member)
    await stack.call(owner, "DELETE", f"/channels/{extra['id']}")
    gone = await client.next_dispatch("CHANNEL_DELETE")
    assert (gone.data["id"], gone.data["guild_id"]) == (extra["id"], guild["id"])
    await client.close()


def client_user(guild_create) -> str:
    return next(
        m["user"]["id"] for m in guild_create.data["members"] if m["user"]["username"] == "joiner"
    )


async def test_resume_replays_exactly_what_was_missed(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    _, channel = await _guild(stack, owner, member)
    client = await stack.client(member)
    for i in range(5):
        await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": f"a{i}"})
    assert await _messages(client, 5) == [f"a{i}" for i in range(5)]
    client.abandon()
    for i in range(5):
        await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": f"b{i}"})
    await client.resume()
    got, events, seqs = [], [], []
    while len(got) < 5 or "RESUMED" not in events:
        d = await client.next_dispatch()
        events.append(d.event)
        seqs.append(d.seq)
        if d.event == "MESSAGE_CREATE":
            got.append(d.data["content"])
    assert got == [f"b{i}" for i in range(5)]  # each missed message once, in order
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # numbering continues, no gap
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "after"})
    assert await _messages(client, 1) == ["after"]
    await client.close()


async def test_resuming_an_unknown_or_stale_session_is_refused(stack) -> None:
    member = await stack.register("member")
    client = await stack.client(member)
    client.session_id = "nope"
    await client.resume()
    await asyncio.wait_for(client.invalid_session.wait(), 5)
    await client.close()


async def test_bot_intents_and_message_content(stack) -> None:
    owner = await stack.register("owner")
    guild, channel = await _guild(stack, owner)
    app = await stack.call(owner, "POST", "/applications", 201, json={"name": "Bot"})
    token = (await stack.call(owner, "POST", f"/applications/{app['id']}/bot/reset"))["token"]
    await stack.call(
        owner,
        "POST",
        f"/oauth2/authorize?client_id={app['id']}&scope=bot",
        json={"guild_id": guild["id"], "permissions": "0", "authorize": True},
    )
    refused = GatewayClient(stack.ws, token, intents=(1 << 9) | (1 << 15))  # content not enabled
    with pytest.raises(GatewayClosed) as closed:
        await refused.identify()
    assert closed.value.code == 4014
    plain = await stack.client(token, intents=(1 << 0) | (1 << 9))
    no_messages = await stack.client(token, intents=1 << 0)
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "secret"})
    seen = await plain.next_dispatch("MESSAGE_CREATE")
    assert seen.data["content"] == "" and seen.data["embeds"] == []
    with pytest.raises(TimeoutError):
        await no_messages.next_dispatch("MESSAGE_CREATE", wait=0.5)
    await stack.call(owner, "PATCH", f"/applications/{app['id']}", json={"flags": 1 << 18})
    content = await stack.client(token, intents=(1 << 0) | (1 << 9) | (1 << 15))
    await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": "readable"})
    assert (await content.next_dispatch("MESSAGE_CREATE")).data["content"] == "readable"
    for c in (plain, no_messages, content):
        await c.close()


async def test_presence_across_connections_and_offline_after_grace(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    await _guild(stack, owner, member)
    watcher = await stack.client(owner)
    first = await stack.client(member)
    online = await watcher.next_dispatch("PRESENCE_UPDATE")
    assert online.data["status"] == "online"
    await first.send_json(
        {"op": 3, "d": {"status": "idle", "activities": [], "since": None, "afk": True}}
    )
    assert (await watcher.next_dispatch("PRESENCE_UPDATE")).data["status"] == "idle"
    second = await stack.client(member)  # a second device: still the same user
    assert (await watcher.next_dispatch("PRESENCE_UPDATE")).data["status"] == "online"
    await first.close()
    await second.close()
    offline = await watcher.next_dispatch("PRESENCE_UPDATE")
    assert offline.data["status"] == "offline" and offline.data["user"]["id"] == (
        await member_id(stack, member)
    )
    await watcher.close()


async def member_id(stack, token: str) -> str:
    return str((await stack.call(token, "GET", "/users/@me"))["id"])


async def test_voice_states_and_member_chunks(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    guild, _channel = await _guild(stack, owner, member)
    voice = next(
        c["id"]
        for c in await stack.call(owner, "GET", f"/guilds/{guild['id']}/channels")
        if c["type"] == 2
    )
    watcher = await stack.client(owner)
    speaker = await stack.client(member)
    await speaker.send_json(
        {
            "op": 4,
            "d": {
                "guild_id": guild["id"],
                "channel_id": voice,
                "self_mute": False,
                "self_deaf": True,
            },
        }
    )
    state = await watcher.next_dispatch("VOICE_STATE_UPDATE")
    assert (
        state.data["channel_id"] == voice
        and state.data["self_deaf"] is True
        and state.data["member"]["flags"] == 0
    )
    late = await stack.client(owner)
    snapshot = await late.next_dispatch("GUILD_CREATE")
    assert [v["channel_id"] for v in snapshot.data["voice_states"]] == [voice]
    await watcher.send_json(
        {"op": 8, "d": {"guild_id": int(guild["id"]), "query": "", "limit": 0, "nonce": "abc"}}
    )
    chunk = await watcher.next_dispatch("GUILD_MEMBERS_CHUNK")
    assert chunk.data["nonce"] == "abc" and chunk.data["chunk_count"] == 1
    assert {m["user"]["username"] for m in chunk.data["members"]} == {"owner", "member"}
    await speaker.send_json(
        {
            "op": 4,
            "d": {
                "guild_id": guild["id"],
                "channel_id": None,
                "self_mute": False,
                "self_deaf": False,
            },
        }
    )
    assert (await watcher.next_dispatch("VOICE_STATE_UPDATE")).data["channel_id"] is None
    for c in (watcher, speaker, late):
        await c.close()


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream"])
async def test_compressed_transports(stack, compress: str) -> None:
    owner = await stack.register("owner")
    _, channel = await _guild(stack, owner)
    client = await stack.client(owner, compress=compress)
    for i in range(3):
        await stack.call(owner, "POST", f"/channels/{channel}/messages", json={"content": f"z{i}"})
    assert await _messages(client, 3) == ["z0", "z1", "z2"]
    await client.close()


async def test_direct_messages_open_for_both_sides(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    await _guild(stack, owner, member)
    receiver = await stack.client(member)
    dm = await stack.call(
        owner, "POST", "/users/@me/channels", json={"recipient_id": await member_id(stack, member)}
    )
    await stack.call(owner, "POST", f"/channels/{dm['id']}/messages", json={"content": "psst"})
    opened = await receiver.next_dispatch("CHANNEL_CREATE")
    assert opened.data["id"] == dm["id"] and opened.data["type"] == 1
    assert (await receiver.next_dispatch("MESSAGE_CREATE")).data["content"] == "psst"
    await receiver.close()


async def test_members_learn_of_channels_a_permission_change_reveals_or_hides(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    guild, channel = await _guild(stack, owner, member)
    client = await stack.client(member)
    me = await member_id(stack, member)
    await stack.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{me}",
        204,
        json={"type": 1, "deny": str(int(P.VIEW_CHANNEL))},
    )
    hidden = await client.next_dispatch("CHANNEL_DELETE")
    assert hidden.data["id"] == channel
    role = await stack.call(owner, "POST", f"/guilds/{guild['id']}/roles", json={"name": "seers"})
    await stack.call(owner, "DELETE", f"/channels/{channel}/permissions/{me}", 204)
    shown = await client.next_dispatch("CHANNEL_CREATE")
    assert shown.data["id"] == channel and shown.data["name"] == "general"
    # A role change works the same way: hide through @everyone, reveal through the role.
    await stack.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{guild['id']}",
        204,
        json={"type": 0, "deny": str(int(P.VIEW_CHANNEL))},
    )
    assert (await client.next_dispatch("CHANNEL_DELETE")).data["id"] == channel
    await stack.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{role['id']}",
        204,
        json={"type": 0, "allow": str(int(P.VIEW_CHANNEL))},
    )
    await stack.call(owner, "PUT", f"/guilds/{guild['id']}/members/{me}/roles/{role['id']}", 204)
    assert (await client.next_dispatch("CHANNEL_CREATE")).data["id"] == channel
    await client.close()


async def test_acks_reach_the_users_other_sessions_and_ready(stack) -> None:
    owner, member = await stack.register("owner"), await stack.register("member")
    _, channel = await _guild(stack, owner, member)
    phone = await stack.client(member)
    msg = await stack.call(
        owner,
        "POST",
        f"/channels/{channel}/messages",
        json={"content": f"<@{await member_id(stack, member)}> hi"},
    )
    await stack.call(member, "POST", f"/channels/{channel}/messages/{msg['id']}/ack", json={})
    ack = await phone.next_dispatch("MESSAGE_ACK")
    assert (
        ack.data["channel_id"] == channel
        and ack.data["message_id"] == msg["id"]
        and ack.data["mention_count"] == 0
    )
    laptop = GatewayClient(stack.ws, member)
    ready = await laptop.identify()
    assert ready.data["read_state"]["entries"] == [
        {
            "id": channel,
            "last_message_id": msg["id"],
            "mention_count": 0,
            "last_pin_timestamp": None,
        }
    ]
    for c in (phone, laptop):
        await c.close()
