"""Mentions, allowed_mentions, replies and read state."""

from __future__ import annotations

from spectrus_domain.mentions import parse
from spectrus_domain.permissions import Permission

P = Permission


def test_parsing_forms() -> None:
    p = parse("hi <@12> <@!13> <@12> <@&99> @here x@everyone-ish <@99999999999999999999999>")
    assert p.users == [12, 13] and p.roles == [99] and p.everyone is True
    assert parse("no mentions @ everyone").everyone is False


async def _world(api):
    owner, member, outsider = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    await api.join(owner, member, guild)
    loud = await api.call(
        owner, "POST", f"/guilds/{guild['id']}/roles", json={"name": "loud", "mentionable": True}
    )
    quiet = await api.call(owner, "POST", f"/guilds/{guild['id']}/roles", json={"name": "quiet"})
    return owner, member, outsider, guild, channel, loud, quiet


async def test_who_and_what_a_message_mentions(api) -> None:
    owner, member, outsider, guild, channel, loud, quiet = await _world(api)
    text = f"hey <@{member.id}> <@{outsider.id}> <@&{loud['id']}> <@&{quiet['id']}> @everyone"
    # MENTION_EVERYONE is in @everyone's defaults: with it, any role and @everyone ping.
    allowed = await api.send(member, channel, text)
    assert [u["id"] for u in allowed["mentions"]] == [member.id]  # the outsider is not here
    assert sorted(allowed["mention_roles"]) == sorted([loud["id"], quiet["id"]])
    assert allowed["mention_everyone"] is True
    await api.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{guild['id']}",
        204,
        json={"type": 0, "deny": str(int(P.MENTION_EVERYONE))},
    )
    muted = await api.send(member, channel, text)
    assert muted["mention_everyone"] is False
    assert muted["mention_roles"] == [loud["id"]]  # only the mentionable role
    by_owner = await api.send(owner, channel, text)
    assert by_owner["mention_everyone"] is True and sorted(by_owner["mention_roles"]) == sorted(
        [loud["id"], quiet["id"]]
    )


async def test_allowed_mentions_and_replies(api) -> None:
    owner, member, _outsider, _guild, channel, loud, _quiet = await _world(api)
    text = f"<@{member.id}> <@&{loud['id']}> @everyone"
    none = await api.send(owner, channel, text, allowed_mentions={"parse": []})
    assert (
        none["mentions"] == [] and none["mention_roles"] == [] and none["mention_everyone"] is False
    )
    only = await api.send(owner, channel, text, allowed_mentions={"users": [member.id]})
    assert [u["id"] for u in only["mentions"]] == [member.id] and only["mention_roles"] == []
    bad = await api.send(
        owner, channel, "x", 400, allowed_mentions={"parse": ["users"], "users": [member.id]}
    )
    assert bad["code"] == 50035
    question = await api.send(member, channel, "question")
    reply = await api.send(
        owner, channel, "answer", message_reference={"message_id": question["id"]}
    )
    assert [u["id"] for u in reply["mentions"]] == [member.id]
    quiet_reply = await api.send(
        owner,
        channel,
        "answer",
        message_reference={"message_id": question["id"]},
        allowed_mentions={"parse": [], "replied_user": False},
    )
    assert quiet_reply["mentions"] == []
    edited = await api.call(
        owner,
        "PATCH",
        f"/channels/{channel}/messages/{none['id']}",
        json={"content": f"now <@{member.id}>"},
    )
    assert [u["id"] for u in edited["mentions"]] == [member.id]


async def test_read_state_counts_mentions_since_the_last_ack(api, db) -> None:
    owner, member, _outsider, guild, channel, loud, _quiet = await _world(api)
    first = await api.send(owner, channel, "hello")
    await api.call(member, "POST", f"/channels/{channel}/messages/{first['id']}/ack", json={})
    await api.send(owner, channel, f"<@{member.id}> look")
    role_ping = await api.send(owner, channel, f"<@&{loud['id']}> folks")
    await api.send(owner, channel, "no ping")
    await api.send(owner, channel, "@everyone all of you")
    from spectrus_domain.actions.read_states import read_state

    [entry] = await read_state(db.pool, int(member.id))
    assert (
        entry["last_message_id"] == first["id"] and entry["mention_count"] == 2
    )  # direct + everyone
    await api.call(
        owner, "PUT", f"/guilds/{guild['id']}/members/{member.id}/roles/{loud['id']}", 204
    )
    [entry] = await read_state(db.pool, int(member.id))
    assert entry["mention_count"] == 3  # the role mention counts now
    await api.call(member, "POST", f"/channels/{channel}/messages/{role_ping['id']}/ack", json={})
    await api.call(
        member, "POST", f"/channels/{channel}/messages/{first['id']}/ack", json={}
    )  # never backwards
    [entry] = await read_state(db.pool, int(member.id))
    assert entry["last_message_id"] == role_ping["id"] and entry["mention_count"] == 1
    await api.call(member, "POST", f"/channels/{channel}/messages/123/ack", 404, json={})
