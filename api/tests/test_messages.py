"""Messages, reactions, pins, typing, replies, DMs through the REST API."""

from __future__ import annotations

from urllib.parse import quote

from spectrus_domain.permissions import Permission

P = Permission
THUMBS = quote("👍")


async def _setup(api, members: int = 1):
    owner = await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    others = []
    for _ in range(members):
        u = await api.register()
        await api.join(owner, u, guild)
        others.append(u)
    return owner, guild, channel, others


async def test_history_pages_like_discord(api) -> None:
    owner, _guild, channel, _ = await _setup(api, 0)
    sent = [await api.send(owner, channel, f"m{i}") for i in range(10)]
    ids = [m["id"] for m in sent]
    assert ids == sorted(ids, key=int)
    latest = await api.call(owner, "GET", f"/channels/{channel}/messages?limit=3")
    assert [m["content"] for m in latest] == ["m9", "m8", "m7"]
    before = await api.call(owner, "GET", f"/channels/{channel}/messages?limit=3&before={ids[7]}")
    assert [m["content"] for m in before] == ["m6", "m5", "m4"]
    after = await api.call(owner, "GET", f"/channels/{channel}/messages?limit=3&after={ids[2]}")
    assert [m["content"] for m in after] == ["m5", "m4", "m3"]
    around = await api.call(owner, "GET", f"/channels/{channel}/messages?limit=4&around={ids[5]}")
    assert [m["content"] for m in around] == ["m7", "m6", "m5", "m4"]
    one = await api.call(owner, "GET", f"/channels/{channel}/messages/{ids[0]}")
    assert one["content"] == "m0" and one["author"]["id"] == owner.id
    await api.call(owner, "GET", f"/channels/{channel}/messages?before=1&after=2", 400)
    await api.call(owner, "GET", f"/channels/{channel}/messages?limit=101", 400)


async def test_edit_and_delete_rules(api) -> None:
    owner, guild, channel, (member,) = await _setup(api)
    mine = await api.send(member, channel, "original")
    edited = await api.call(
        member, "PATCH", f"/channels/{channel}/messages/{mine['id']}", json={"content": "changed"}
    )
    assert edited["content"] == "changed" and edited["edited_timestamp"] is not None
    r = await api.call(
        owner,
        "PATCH",
        f"/channels/{channel}/messages/{mine['id']}",
        403,
        json={"content": "hijack"},
    )
    assert r["code"] == 50005
    suppressed = await api.call(
        owner, "PATCH", f"/channels/{channel}/messages/{mine['id']}", json={"flags": 4}
    )
    assert suppressed["flags"] == 4
    theirs = await api.send(owner, channel, "owner's")
    await api.call(member, "DELETE", f"/channels/{channel}/messages/{theirs['id']}", 403)
    await api.call(owner, "DELETE", f"/channels/{channel}/messages/{mine['id']}", 204)
    await api.call(owner, "GET", f"/channels/{channel}/messages/{mine['id']}", 404)
    log = await api.call(owner, "GET", f"/guilds/{guild['id']}/audit-logs?action_type=72")
    assert log["audit_log_entries"][0]["target_id"] == member.id
    own = await api.send(member, channel, "bye")
    await api.call(member, "DELETE", f"/channels/{channel}/messages/{own['id']}", 204)
    await api.call(member, "DELETE", f"/channels/{channel}/messages/{own['id']}", 404)


async def test_bulk_delete(api, clock, ctx) -> None:
    ctx.settings = ctx.settings.replace(session_ttl=30 * 86_400)  # outlive the jump below
    owner, _guild, channel, (member,) = await _setup(api)
    ids = [(await api.send(owner, channel, f"x{i}"))["id"] for i in range(5)]
    await api.call(
        member, "POST", f"/channels/{channel}/messages/bulk-delete", 403, json={"messages": ids[:2]}
    )
    r = await api.call(
        owner, "POST", f"/channels/{channel}/messages/bulk-delete", 400, json={"messages": ids[:1]}
    )
    assert r["code"] == 50016
    await api.call(
        owner,
        "POST",
        f"/channels/{channel}/messages/bulk-delete",
        204,
        json={"messages": [*ids[:3], str(int(ids[-1]) + 77)]},
    )  # an unknown recent id is ignored
    left = await api.call(owner, "GET", f"/channels/{channel}/messages")
    assert [m["id"] for m in left] == ids[:2:-1]
    clock.advance(days=15)
    r = await api.call(
        owner, "POST", f"/channels/{channel}/messages/bulk-delete", 400, json={"messages": ids[3:]}
    )
    assert r["code"] == 50034


async def test_reactions(api) -> None:
    owner, guild, channel, (member,) = await _setup(api)
    msg = await api.send(owner, channel, "react to me")
    base = f"/channels/{channel}/messages/{msg['id']}/reactions"
    await api.call(owner, "PUT", f"{base}/{THUMBS}/@me", 204)
    await api.call(member, "PUT", f"{base}/{THUMBS}/@me", 204)
    await api.call(member, "PUT", f"{base}/{THUMBS}/@me", 204)  # idempotent
    seen = await api.call(member, "GET", f"/channels/{channel}/messages/{msg['id']}")
    assert seen["reactions"] == [
        {
            "count": 2,
            "count_details": {"burst": 0, "normal": 2},
            "me": True,
            "me_burst": False,
            "burst_colors": [],
            "emoji": {"id": None, "name": "👍"},
        }
    ]
    users = await api.call(owner, "GET", f"{base}/{THUMBS}?limit=10")
    assert {u["id"] for u in users} == {owner.id, member.id}
    # Without ADD_REACTIONS you may join an existing reaction but not start one.
    gid = guild["id"]
    await api.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{member.id}",
        204,
        json={"type": 1, "deny": str(int(P.ADD_REACTIONS))},
    )
    await api.call(member, "DELETE", f"{base}/{THUMBS}/@me", 204)
    await api.call(member, "PUT", f"{base}/{THUMBS}/@me", 204)
    r = await api.call(member, "PUT", f"{base}/{quote('🎉')}/@me", 403)
    assert r["code"] == 50013
    await api.call(member, "DELETE", f"{base}/{THUMBS}/{owner.id}", 403)
    await api.call(owner, "DELETE", f"{base}/{THUMBS}/{member.id}", 204)
    r = await api.call(owner, "PUT", f"{base}/notanemoji/@me", 400)
    assert r["code"] == 10014
    await api.call(owner, "PUT", f"{base}/{quote('custom:123')}/@me", 400)
    await api.call(owner, "DELETE", base, 204)
    assert "reactions" not in await api.call(
        owner, "GET", f"/channels/{channel}/messages/{msg['id']}"
    )
    assert gid


async def test_at_most_twenty_distinct_reactions(api) -> None:
    owner, _guild, channel, _ = await _setup(api, 0)
    msg = await api.send(owner, channel, "many")
    emojis = "😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙😚😋"
    for e in emojis[:20]:
        await api.call(
            owner, "PUT", f"/channels/{channel}/messages/{msg['id']}/reactions/{quote(e)}/@me", 204
        )
    r = await api.call(
        owner,
        "PUT",
        f"/channels/{channel}/messages/{msg['id']}/reactions/{quote(emojis[20])}/@me",
        400,
    )
    assert r["code"] == 30010


async def test_pins(api) -> None:
    owner, guild, channel, (member,) = await _setup(api)
    msg = await api.send(member, channel, "pin me")
    await api.call(member, "PUT", f"/channels/{channel}/messages/pins/{msg['id']}", 403)
    await api.call(owner, "PUT", f"/channels/{channel}/messages/pins/{msg['id']}", 204)
    page = await api.call(member, "GET", f"/channels/{channel}/messages/pins")
    assert page["has_more"] is False and page["items"][0]["message"]["id"] == msg["id"]
    assert page["items"][0]["message"]["pinned"] is True
    assert [m["id"] for m in await api.call(member, "GET", f"/channels/{channel}/pins")] == [
        msg["id"]
    ]
    assert (await api.call(owner, "GET", f"/channels/{channel}"))["last_pin_timestamp"] is not None
    await api.call(owner, "DELETE", f"/channels/{channel}/pins/{msg['id']}", 204)
    assert await api.call(member, "GET", f"/channels/{channel}/pins") == []
    log = await api.call(owner, "GET", f"/guilds/{guild['id']}/audit-logs")
    assert {74, 75} <= {e["action_type"] for e in log["audit_log_entries"]}


async def test_fifty_pins_at_most(api, db) -> None:
    owner, _guild, channel, _ = await _setup(api, 0)
    ids = [(await api.send(owner, channel, f"p{i}"))["id"] for i in range(51)]
    await db.execute(
        "UPDATE messages SET pinned_at = now() WHERE id = ANY($1)", [int(i) for i in ids[:50]]
    )
    r = await api.call(owner, "PUT", f"/channels/{channel}/pins/{ids[50]}", 400)
    assert r["code"] == 30003


async def test_replies_nonces_embeds_and_typing(api) -> None:
    owner, _guild, channel, (member,) = await _setup(api)
    first = await api.send(owner, channel, "question?")
    reply = await api.send(member, channel, "answer", message_reference={"message_id": first["id"]})
    assert reply["type"] == 19 and reply["referenced_message"]["id"] == first["id"]
    assert reply["message_reference"]["message_id"] == first["id"]
    missing = await api.send(
        member, channel, "to nothing", 400, message_reference={"message_id": "12345"}
    )
    assert missing["code"] == 50035
    dropped = await api.send(
        member,
        channel,
        "lenient",
        message_reference={"message_id": "12345", "fail_if_not_exists": False},
    )
    assert dropped["type"] == 0
    a = await api.send(member, channel, "once", nonce="abc", enforce_nonce=True)
    b = await api.send(member, channel, "once", nonce="abc", enforce_nonce=True)
    assert a["id"] == b["id"] and a["nonce"] == "abc"
    embed = {
        "title": "T",
        "description": "D",
        "color": 255,
        "fields": [{"name": "n", "value": "v"}],
    }
    with_embed = await api.send(member, channel, "", embeds=[embed])
    assert with_embed["embeds"] == [
        {
            "title": "T",
            "type": "rich",
            "description": "D",
            "color": 255,
            "fields": [{"name": "n", "value": "v", "inline": False}],
        }
    ]
    too_big = await api.send(
        member, channel, "", 400, embeds=[{"description": "x" * 4000}, {"description": "y" * 2500}]
    )
    assert too_big["code"] == 50035
    empty = await api.send(member, channel, "", 400)
    assert empty["code"] == 50006
    assert (await api.send(member, channel, "x" * 2001, 400))["code"] == 50035
    await api.call(member, "POST", f"/channels/{channel}/typing", 204)


async def test_slowmode(api) -> None:
    owner, _guild, channel, (member,) = await _setup(api)
    await api.call(owner, "PATCH", f"/channels/{channel}", json={"rate_limit_per_user": 60})
    await api.send(member, channel, "one")
    r = await api.http.post(
        f"/channels/{channel}/messages", headers=member.auth, json={"content": "two"}
    )
    assert r.status_code == 429 and r.json()["code"] == 20016 and 0 < r.json()["retry_after"] <= 60
    assert r.headers["via"] and int(r.headers["retry-after"]) >= 1
    await api.send(owner, channel, "moderators are exempt")
    await api.send(owner, channel, "still exempt")


async def test_history_needs_read_message_history(api) -> None:
    owner, guild, channel, (member,) = await _setup(api)
    await api.send(owner, channel, "secret past")
    await api.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{guild['id']}",
        204,
        json={"type": 0, "deny": str(int(P.READ_MESSAGE_HISTORY))},
    )
    assert await api.call(member, "GET", f"/channels/{channel}/messages") == []
    assert await api.call(owner, "GET", f"/channels/{channel}/messages") != []


async def test_categories_and_voice_are_not_for_text(api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    channels = await api.call(owner, "GET", f"/guilds/{guild['id']}/channels")
    category = next(c for c in channels if c["type"] == 4)
    r = await api.send(owner, category["id"], "hi", 403)
    assert r["code"] == 50008


async def test_direct_messages(api) -> None:
    owner, _guild, _channel, (member,) = await _setup(api)
    stranger = await api.register()
    dm = await api.call(owner, "POST", "/users/@me/channels", json={"recipient_id": member.id})
    assert dm["type"] == 1 and [u["id"] for u in dm["recipients"]] == [member.id]
    same = await api.call(member, "POST", "/users/@me/channels", json={"recipient_id": owner.id})
    assert same["id"] == dm["id"]
    await api.send(owner, dm["id"], "psst")
    assert [
        m["content"] for m in await api.call(member, "GET", f"/channels/{dm['id']}/messages")
    ] == ["psst"]
    await api.call(stranger, "GET", f"/channels/{dm['id']}/messages", 403)
    cold = await api.call(stranger, "POST", "/users/@me/channels", json={"recipient_id": owner.id})
    r = await api.send(stranger, cold["id"], "hello?", 403)
    assert r["code"] == 50007
    await api.call(owner, "POST", "/users/@me/channels", 403, json={"recipient_id": owner.id})
    listed = await api.call(member, "GET", "/users/@me/channels")
    assert dm["id"] in {c["id"] for c in listed}
    closed = await api.call(member, "DELETE", f"/channels/{dm['id']}")
    assert closed["id"] == dm["id"]


async def test_group_dms(api) -> None:
    owner, _guild, _channel, (a, b) = await _setup(api, 2)
    group = await api.call(
        owner, "POST", "/users/@me/channels", json={"recipients": [a.id], "name": "trio"}
    )
    assert group["type"] == 3 and group["owner_id"] == owner.id and group["name"] == "trio"
    await api.call(owner, "PUT", f"/channels/{group['id']}/recipients/{b.id}", 204)
    await api.send(b, group["id"], "hi all")
    await api.call(a, "DELETE", f"/channels/{group['id']}/recipients/{b.id}", 403)
    await api.call(owner, "DELETE", f"/channels/{group['id']}/recipients/{b.id}", 204)
    await api.call(b, "GET", f"/channels/{group['id']}/messages", 403)
    renamed = await api.call(a, "PATCH", f"/channels/{group['id']}", json={"name": "duo"})
    assert renamed["name"] == "duo"
    await api.call(owner, "DELETE", f"/channels/{group['id']}")  # the owner leaves
    assert (await api.call(a, "GET", f"/channels/{group['id']}"))["owner_id"] == a.id


async def test_embeds_share_one_budget_when_sent_and_edited(api) -> None:
    owner, _guild, channel, _ = await _setup(api, members=0)
    big = [{"description": "x" * 4000}, {"description": "y" * 2001}]  # 6001 characters
    refused = await api.send(owner, channel, "", 400, embeds=big)
    assert refused["code"] == 50035 and "6000" in str(refused["errors"])
    sent = await api.send(owner, channel, "", embeds=big[:1])
    path = f"/channels/{channel}/messages/{sent['id']}"
    edit = await api.call(owner, "PATCH", path, 400, json={"embeds": big})
    assert edit["code"] == 50035 and "6000" in str(edit["errors"])
    assert (await api.call(owner, "GET", path))["embeds"][0]["description"] == "x" * 4000
