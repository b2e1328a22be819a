"""Actions as the only writers: every change commits with its event, sequences have no
gaps, and replaying the events reproduces the state a fresh read returns."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from spectrus_domain import queries
from spectrus_domain.access import Actor
from spectrus_domain.actions import auth, guilds, invites, messages


async def _world(ctx) -> tuple[Actor, Actor, dict[str, Any], int]:
    alice = Actor(
        (await auth.register(ctx, username="alice", password="correct horse battery")).user_id
    )
    bob = Actor(
        (await auth.register(ctx, username="bob", password="correct horse battery")).user_id
    )
    guild = await guilds.create_guild(ctx, alice, name="g")
    channel = int(
        next(
            c["id"]
            for c in await queries.guild_channels(ctx.db.pool, int(guild["id"]))
            if c["type"] == 0
        )
    )
    invite = await invites.create_invite(
        ctx, alice, channel, max_age=0, max_uses=0, temporary=False, reason=None
    )
    await invites.accept_invite(ctx, bob, invite["code"])
    return alice, bob, guild, channel


async def test_concurrent_writers_get_gap_free_seqs_in_id_order(ctx) -> None:
    alice, bob, guild, channel = await _world(ctx)
    sent = await asyncio.gather(
        *(
            messages.create_message(ctx, alice if i % 2 else bob, channel, content=f"m{i}")
            for i in range(60)
        )
    )
    rows = await ctx.db.fetch(
        "SELECT id, seq FROM messages WHERE channel_id = $1 ORDER BY seq", channel
    )
    assert [r["seq"] for r in rows] == list(range(1, 61))
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)  # id order == commit order
    assert {str(r["id"]) for r in rows} == {m["id"] for m in sent}
    outbox = await ctx.db.fetch(
        "SELECT channel_seq FROM outbox WHERE channel_id = $1 AND channel_seq IS NOT NULL ORDER BY channel_seq",
        channel,
    )
    assert [r["channel_seq"] for r in outbox] == list(range(1, 61))
    assert await ctx.db.fetchval("SELECT seq FROM channels WHERE id = $1", channel) == 60
    stream = [
        r["seq"]
        for r in await ctx.db.fetch(
            "SELECT seq FROM outbox WHERE stream_id = $1 ORDER BY seq", int(guild["id"])
        )
    ]
    assert stream == list(range(1, len(stream) + 1))


async def test_a_failed_action_leaves_no_event_and_no_seq(ctx) -> None:
    alice, bob, _guild, channel = await _world(ctx)
    before = await ctx.db.fetchval("SELECT count(*) FROM outbox")
    seq = await ctx.db.fetchval("SELECT seq FROM channels WHERE id = $1", channel)
    msg = await messages.create_message(ctx, bob, channel, content="hi")
    try:
        await messages.edit_message(ctx, alice, channel, int(msg["id"]), {"content": "not yours"})
    except Exception as exc:
        assert "NOT_AUTHOR" in str(exc)
    assert await ctx.db.fetchval("SELECT count(*) FROM outbox") == before + 1
    assert await ctx.db.fetchval("SELECT seq FROM channels WHERE id = $1", channel) == seq + 1


def _apply(state: dict[str, dict[str, Any]], event: str, data: dict[str, Any], me: int) -> None:
    """A client's view of a channel, maintained from events alone."""
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
        message = {k: v for k, v in data.items() if k not in ("guild_id", "member")}
        if "reactions" in state.get(data["id"], {}) and "reactions" not in message:
            message["reactions"] = state[data["id"]]["reactions"]
        state[data["id"]] = message
    elif event == "MESSAGE_DELETE":
        state.pop(data["id"], None)
    elif event == "MESSAGE_DELETE_BULK":
        for i in data["ids"]:
            state.pop(i, None)
    elif event in ("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"):
        message = state[data["message_id"]]
        reactions = message.setdefault("reactions", [])
        entry = next((r for r in reactions if r["emoji"] == data["emoji"]), None)
        mine = int(data["user_id"]) == me
        if event == "MESSAGE_REACTION_ADD":
            if entry is None:
                entry = {
                    "count": 0,
                    "count_details": {"burst": 0, "normal": 0},
                    "me": False,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": data["emoji"],
                }
                reactions.append(entry)
            entry["count"] += 1
            entry["me"] = entry["me"] or mine
        else:
            assert entry is not None
            entry["count"] -= 1
            entry["me"] = entry["me"] and not mine
            if entry["count"] == 0:
                reactions.remove(entry)
        entry_count = entry["count"] if entry else 0
        if entry:
            entry["count_details"]["normal"] = entry_count
        if not reactions:
            message.pop("reactions")
    elif event == "MESSAGE_REACTION_REMOVE_ALL":
        state[data["message_id"]].pop("reactions", None)


async def test_replaying_events_reproduces_fresh_state(ctx) -> None:
    alice, bob, _guild, channel = await _world(ctx)
    rng = random.Random(7)
    live: list[int] = []
    for step in range(120):
        op = rng.random()
        actor = rng.choice([alice, bob])
        if op < 0.4 or not live:
            live.append(
                int((await messages.create_message(ctx, actor, channel, content=f"s{step}"))["id"])
            )
        elif op < 0.55:
            target = rng.choice(live)
            author = await ctx.db.fetchval("SELECT author_id FROM messages WHERE id = $1", target)
            await messages.edit_message(
                ctx, Actor(author), channel, target, {"content": f"e{step}"}
            )
        elif op < 0.65:
            target = live.pop(rng.randrange(len(live)))
            await messages.delete_message(ctx, alice, channel, target, None)
        elif op < 0.7 and len(live) >= 3:
            doomed = rng.sample(live, 2)
            live = [m for m in live if m not in doomed]
            await messages.bulk_delete(ctx, alice, channel, doomed, None)
        elif op < 0.9:
            await messages.add_reaction(
                ctx, actor, channel, rng.choice(live), rng.choice(["👍", "🎉", "😀"])
            )
        elif op < 0.97:
            await messages.remove_reaction(
                ctx, actor, channel, rng.choice(live), rng.choice(["👍", "🎉"]), actor.user_id
            )
        else:
            await messages.clear_reactions(ctx, alice, channel, rng.choice(live), None)
    events = await ctx.db.fetch(
        "SELECT event, data FROM outbox WHERE channel_id = $1 AND channel_seq IS NOT NULL ORDER BY channel_seq",
        channel,
    )
    state: dict[str, dict[str, Any]] = {}
    for e in events:
        _apply(state, e["event"], e["data"], alice.user_id)
    fresh = await queries.message_page(ctx.db.pool, channel, alice.user_id, ctx.urls(), limit=100)
    fresh_without_refs = {m["id"]: m for m in fresh}
    assert set(state) == set(fresh_without_refs)
    for message_id, message in fresh_without_refs.items():
        replayed = state[message_id]
        assert replayed == message, message_id


async def test_events_are_published_after_commit_and_never_for_a_rollback(ctx) -> None:
    published: list = []

    async def publisher(events) -> None:
        # The events are already committed: a fresh connection sees them.
        for e in events:
            assert await ctx.db.fetchval(
                "SELECT true FROM outbox WHERE stream_id = $1 AND seq = $2", e.stream_id, e.seq
            )
        published.extend(events)

    ctx.db.publisher = publisher
    alice, bob, guild, channel = await _world(ctx)
    published.clear()
    msg = await messages.create_message(ctx, alice, channel, content="hi")
    assert [(e.event, e.stream_id, e.channel_id) for e in published] == [
        ("MESSAGE_CREATE", int(guild["id"]), channel)
    ]
    head = await ctx.db.fetchrow(
        "SELECT seq, epoch FROM event_streams WHERE id = $1", int(guild["id"])
    )
    assert (published[0].seq, published[0].epoch) == (head["seq"], head["epoch"])
    published.clear()
    with contextlib.suppress(Exception):
        await messages.edit_message(ctx, bob, channel, int(msg["id"]), {"content": "not mine"})
    assert published == []

    async def broken(events) -> None:
        raise ConnectionError("redis is down")

    ctx.db.publisher = broken
    await messages.create_message(ctx, alice, channel, content="still saved")
    assert await ctx.db.fetchval("SELECT count(*) FROM messages WHERE content = 'still saved'") == 1


async def test_joining_a_guild_is_announced_on_the_users_stream_with_where_to_start(ctx) -> None:
    _alice, bob, guild, _channel = await _world(ctx)
    row = await ctx.db.fetchrow(
        "SELECT data FROM outbox WHERE stream_id = $1 AND event = 'GUILD_CREATE' ORDER BY seq DESC LIMIT 1",
        bob.user_id,
    )
    follow = row["data"]["_follow"]
    assert follow["stream"] == guild["id"]
    # Everything after "after" on the guild stream is what bob must receive: his own join.
    later = await ctx.db.fetch(
        "SELECT event FROM outbox WHERE stream_id = $1 AND seq > $2 ORDER BY seq",
        int(guild["id"]),
        follow["after"],
    )
    assert next(r["event"] for r in later) == "GUILD_MEMBER_ADD"


async def test_outbox_pruning_keeps_recent_events_and_stream_numbering(ctx, clock) -> None:
    from spectrus_domain.actions import maintenance

    alice, _bob, guild, channel = await _world(ctx)
    await messages.create_message(ctx, alice, channel, content="old")
    head = await ctx.db.fetchval("SELECT seq FROM event_streams WHERE id = $1", int(guild["id"]))
    await ctx.db.execute("UPDATE outbox SET created_at = created_at - interval '8 days'")
    await messages.create_message(ctx, alice, channel, content="new")
    removed = await maintenance.prune_outbox(ctx)
    assert removed > 0
    left = await ctx.db.fetch("SELECT seq FROM outbox WHERE stream_id = $1", int(guild["id"]))
    assert [r["seq"] for r in left] == [head + 1]  # the numbering goes on where it was
