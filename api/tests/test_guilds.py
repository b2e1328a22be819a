"""Guilds, channels, roles, members, moderation and the audit log through the REST API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spectrus_domain.permissions import DEFAULT_EVERYONE, Permission

P = Permission


async def test_create_guild_has_discords_default_layout(api) -> None:
    owner = await api.register()
    guild = await api.guild(owner, "Home")
    assert guild["owner_id"] == owner.id and guild["name"] == "Home"
    everyone = next(r for r in guild["roles"] if r["id"] == guild["id"])
    assert everyone["name"] == "@everyone" and int(everyone["permissions"]) == DEFAULT_EVERYONE
    channels = await api.call(owner, "GET", f"/guilds/{guild['id']}/channels")
    layout = {(c["name"], c["type"]) for c in channels}
    assert layout == {("Text Channels", 4), ("Voice Channels", 4), ("general", 0), ("General", 2)}
    general = next(c for c in channels if c["name"] == "general")
    assert guild["system_channel_id"] == general["id"]
    voice = next(c for c in channels if c["type"] == 2)
    assert voice["bitrate"] == 64000 and voice["user_limit"] == 0
    me = await api.call(owner, "GET", f"/users/@me/guilds/{guild['id']}/member")
    assert me["user"]["id"] == owner.id and me["roles"] == [] and me["flags"] == 0
    listed = await api.call(owner, "GET", "/users/@me/guilds")
    assert listed == [
        {
            "id": guild["id"],
            "name": "Home",
            "icon": None,
            "banner": None,
            "owner": True,
            "permissions": str((1 << 52) - 1 & ~(3 << 47)),
            "features": [],
        }
    ]


async def test_create_guild_with_given_channels(api) -> None:
    owner = await api.register()
    guild = await api.call(
        owner,
        "POST",
        "/guilds",
        201,
        json={
            "name": "Custom",
            "channels": [
                {"id": 1, "name": "Talk", "type": 4},
                {"id": 2, "name": "chat", "parent_id": 1},
                {"name": "Lounge", "type": 2, "parent_id": 1},
            ],
            "system_channel_id": 2,
        },
    )
    channels = await api.call(owner, "GET", f"/guilds/{guild['id']}/channels")
    category = next(c for c in channels if c["type"] == 4)
    assert {c["name"]: c["parent_id"] for c in channels if c["type"] != 4} == {
        "chat": category["id"],
        "Lounge": category["id"],
    }
    assert guild["system_channel_id"] == next(c["id"] for c in channels if c["name"] == "chat")
    bad = await api.http.post(
        "/guilds",
        headers=owner.auth,
        json={"name": "Bad", "channels": [{"name": "x", "parent_id": 9}]},
    )
    assert bad.status_code == 400


async def test_strangers_cannot_see_a_guild(api) -> None:
    owner, stranger = await api.register(), await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    for path in (
        f"/guilds/{guild['id']}",
        f"/guilds/{guild['id']}/channels",
        f"/guilds/{guild['id']}/roles",
        f"/guilds/{guild['id']}/members",
        f"/channels/{channel}",
        f"/channels/{channel}/messages",
    ):
        r = await api.http.get(path, headers=stranger.auth)
        assert r.status_code == 403 and r.json()["code"] == 50001, path
    r = await api.http.post(
        f"/channels/{channel}/messages", headers=stranger.auth, json={"content": "hi"}
    )
    assert r.status_code == 403
    assert (await api.http.get("/guilds/1", headers=stranger.auth)).json()["code"] == 10004


async def test_modify_guild_needs_manage_guild_and_is_audited(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner, "Before")
    await api.join(owner, member, guild)
    r = await api.http.patch(f"/guilds/{guild['id']}", headers=member.auth, json={"name": "Nope"})
    assert r.status_code == 403 and r.json()["code"] == 50013
    updated = await api.call(
        owner,
        "PATCH",
        f"/guilds/{guild['id']}",
        json={"name": "After", "description": "d"},
        headers={"X-Audit-Log-Reason": "rename%20please"},
    )
    assert updated["name"] == "After" and updated["description"] == "d"
    log = await api.call(owner, "GET", f"/guilds/{guild['id']}/audit-logs?action_type=1")
    entry = log["audit_log_entries"][0]
    assert entry["reason"] == "rename please" and entry["user_id"] == owner.id
    assert {"key": "name", "old_value": "Before", "new_value": "After"} in entry["changes"]
    # Only the owner transfers ownership.
    await api.call(
        owner,
        "PUT",
        f"/guilds/{guild['id']}/members/{member.id}/roles/{await _role(api, owner, guild, P.MANAGE_GUILD)}",
        204,
    )
    r = await api.http.patch(
        f"/guilds/{guild['id']}", headers=member.auth, json={"owner_id": member.id}
    )
    assert r.status_code == 403
    moved = await api.call(owner, "PATCH", f"/guilds/{guild['id']}", json={"owner_id": member.id})
    assert moved["owner_id"] == member.id
    log = await api.call(member, "GET", f"/guilds/{guild['id']}/audit-logs?action_type=1&limit=1")
    change = next(c for c in log["audit_log_entries"][0]["changes"] if c["key"] == "owner_id")
    assert change == {"key": "owner_id", "old_value": owner.id, "new_value": member.id}  # strings


async def _role(api, owner, guild, bits: int, name: str = "role") -> str:
    role = await api.call(
        owner,
        "POST",
        f"/guilds/{guild['id']}/roles",
        json={"name": name, "permissions": str(int(bits))},
    )
    return role["id"]


async def test_delete_guild_only_by_owner(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(owner, member, guild)
    await api.call(member, "DELETE", f"/guilds/{guild['id']}", 403)
    await api.call(owner, "DELETE", f"/guilds/{guild['id']}", 204)
    await api.call(owner, "GET", f"/guilds/{guild['id']}", 404)


async def test_channel_lifecycle_and_positions(api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    category = await api.call(
        owner, "POST", f"/guilds/{gid}/channels", 201, json={"name": "Zone", "type": 4}
    )
    text = await api.call(
        owner,
        "POST",
        f"/guilds/{gid}/channels",
        201,
        json={"name": "news", "topic": "t", "parent_id": category["id"], "rate_limit_per_user": 5},
    )
    assert (
        text["parent_id"] == category["id"]
        and text["rate_limit_per_user"] == 5
        and text["topic"] == "t"
    )
    bad_parent = await api.http.post(
        f"/guilds/{gid}/channels", headers=owner.auth, json={"name": "x", "parent_id": text["id"]}
    )
    assert bad_parent.status_code == 400
    edited = await api.call(
        owner, "PATCH", f"/channels/{text['id']}", json={"name": "updates", "topic": None}
    )
    assert edited["name"] == "updates" and edited["topic"] is None
    await api.call(
        owner,
        "PATCH",
        f"/guilds/{gid}/channels",
        204,
        json=[{"id": text["id"], "position": 7, "parent_id": None}],
    )
    moved = await api.call(owner, "GET", f"/channels/{text['id']}")
    assert moved["position"] == 7 and moved["parent_id"] is None
    deleted = await api.call(owner, "DELETE", f"/channels/{category['id']}")
    assert deleted["id"] == category["id"]
    await api.call(owner, "GET", f"/channels/{category['id']}", 404)
    log = await api.call(owner, "GET", f"/guilds/{gid}/audit-logs")
    kinds = [e["action_type"] for e in log["audit_log_entries"]]
    assert kinds.count(10) == 2 and 11 in kinds and 12 in kinds


async def test_overwrites_hide_and_grant(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    await api.join(owner, member, guild)
    secret = await api.call(
        owner,
        "POST",
        f"/guilds/{gid}/channels",
        201,
        json={
            "name": "secret",
            "permission_overwrites": [{"id": gid, "type": 0, "deny": str(int(P.VIEW_CHANNEL))}],
        },
    )
    assert secret["permission_overwrites"] == [
        {"id": gid, "type": 0, "allow": "0", "deny": str(int(P.VIEW_CHANNEL))}
    ]
    r = await api.http.get(f"/channels/{secret['id']}", headers=member.auth)
    assert r.status_code == 403
    visible = {c["id"] for c in await api.call(member, "GET", f"/guilds/{gid}/channels")}
    assert secret["id"] not in visible
    await api.call(
        owner,
        "PUT",
        f"/channels/{secret['id']}/permissions/{member.id}",
        204,
        json={"type": 1, "allow": str(int(P.VIEW_CHANNEL))},
    )
    assert (await api.call(member, "GET", f"/channels/{secret['id']}"))["id"] == secret["id"]
    await api.call(owner, "DELETE", f"/channels/{secret['id']}/permissions/{member.id}", 204)
    await api.call(member, "GET", f"/channels/{secret['id']}", 403)
    log = await api.call(owner, "GET", f"/guilds/{gid}/audit-logs")
    kinds = {e["action_type"] for e in log["audit_log_entries"]}
    assert {13, 15} <= kinds


async def test_overwrites_cannot_grant_what_you_lack(api) -> None:
    owner, mod = await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    await api.join(owner, mod, guild)
    role = await _role(api, owner, guild, P.MANAGE_ROLES | P.MANAGE_CHANNELS)
    await api.call(owner, "PUT", f"/guilds/{gid}/members/{mod.id}/roles/{role}", 204)
    channel = await api.text_channel(owner, guild)
    r = await api.http.put(
        f"/channels/{channel}/permissions/{mod.id}",
        headers=mod.auth,
        json={"type": 1, "allow": str(int(P.BAN_MEMBERS))},
    )
    assert r.status_code == 403
    await api.call(
        mod,
        "PUT",
        f"/channels/{channel}/permissions/{mod.id}",
        204,
        json={"type": 1, "deny": str(int(P.SEND_MESSAGES))},
    )


async def test_role_crud_hierarchy_and_positions(api) -> None:
    owner, mod, member = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    for u in (mod, member):
        await api.join(owner, u, guild)
    high = await _role(api, owner, guild, P.MANAGE_ROLES | P.KICK_MEMBERS, "mods")
    await api.call(owner, "PATCH", f"/guilds/{gid}/roles", json=[{"id": high, "position": 5}])
    await api.call(owner, "PUT", f"/guilds/{gid}/members/{mod.id}/roles/{high}", 204)
    low = await api.call(
        mod, "POST", f"/guilds/{gid}/roles", json={"name": "helpers", "color": 0xFF0000}
    )
    assert low["position"] == 1 and low["color"] == 0xFF0000
    # The mod manages roles below theirs, not their own or above, and grants only held bits.
    await api.call(mod, "PATCH", f"/guilds/{gid}/roles/{low['id']}", json={"hoist": True})
    await api.call(mod, "PATCH", f"/guilds/{gid}/roles/{high}", 403, json={"name": "x"})
    await api.call(
        mod, "POST", f"/guilds/{gid}/roles", 403, json={"permissions": str(int(P.ADMINISTRATOR))}
    )
    await api.call(
        mod, "PATCH", f"/guilds/{gid}/roles", 403, json=[{"id": low["id"], "position": 9}]
    )
    await api.call(mod, "PUT", f"/guilds/{gid}/members/{member.id}/roles/{low['id']}", 204)
    await api.call(mod, "PUT", f"/guilds/{gid}/members/{member.id}/roles/{high}", 403)
    m = await api.call(owner, "GET", f"/guilds/{gid}/members/{member.id}")
    assert m["roles"] == [low["id"]]
    await api.call(mod, "DELETE", f"/guilds/{gid}/roles/{low['id']}", 204)
    m = await api.call(owner, "GET", f"/guilds/{gid}/members/{member.id}")
    assert m["roles"] == []
    await api.call(owner, "DELETE", f"/guilds/{gid}/roles/{gid}", 400)  # @everyone stays
    log = await api.call(owner, "GET", f"/guilds/{gid}/audit-logs")
    kinds = [e["action_type"] for e in log["audit_log_entries"]]
    assert {30, 31, 32, 25} <= set(kinds)
    role_update = next(e for e in log["audit_log_entries"] if e["action_type"] == 25)
    assert role_update["changes"][0]["key"] in ("$add", "$remove")


async def test_member_list_search_nick_and_timeout(api, clock) -> None:
    owner, member = await api.register("owner1"), await api.register("zed")
    guild = await api.guild(owner)
    gid = guild["id"]
    await api.join(owner, member, guild)
    listed = await api.call(owner, "GET", f"/guilds/{gid}/members?limit=10")
    assert [m["user"]["id"] for m in listed] == sorted([owner.id, member.id], key=int)
    page = await api.call(
        owner, "GET", f"/guilds/{gid}/members?limit=1&after={listed[0]['user']['id']}"
    )
    assert [m["user"]["id"] for m in page] == [listed[1]["user"]["id"]]
    found = await api.call(owner, "GET", f"/guilds/{gid}/members/search?query=ze&limit=5")
    assert [m["user"]["username"] for m in found] == ["zed"]
    mine = await api.call(member, "PATCH", f"/guilds/{gid}/members/@me", json={"nick": "Zeddy"})
    assert mine["nick"] == "Zeddy"
    until = (clock.now + timedelta(hours=1)).isoformat()
    timed = await api.call(
        owner,
        "PATCH",
        f"/guilds/{gid}/members/{member.id}",
        json={"communication_disabled_until": until},
    )
    assert timed["communication_disabled_until"] is not None
    channel = await api.text_channel(owner, guild)
    r = await api.send(member, channel, "let me talk", 403)
    assert r["code"] == 50013
    clock.advance(hours=2)
    await api.send(member, channel, "free again")
    too_long = (clock.now + timedelta(days=29)).isoformat()
    await api.call(
        owner,
        "PATCH",
        f"/guilds/{gid}/members/{member.id}",
        400,
        json={"communication_disabled_until": too_long},
    )
    await api.call(
        member,
        "PATCH",
        f"/guilds/{gid}/members/{owner.id}",
        403,
        json={"communication_disabled_until": until},
    )
    await api.call(
        owner, "PATCH", f"/guilds/{gid}/members/{member.id}", 400, json={"channel_id": "1"}
    )


async def test_kick_ban_unban_and_audit(api) -> None:
    owner, a, b = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    for u in (a, b):
        await api.join(owner, u, guild)
    channel = await api.text_channel(owner, guild)
    spam = await api.send(b, channel, "spam")
    await api.call(a, "DELETE", f"/guilds/{gid}/members/{b.id}", 403)
    await api.call(
        owner, "DELETE", f"/guilds/{gid}/members/{a.id}", 204, headers={"X-Audit-Log-Reason": "bye"}
    )
    await api.call(a, "GET", f"/guilds/{gid}", 403)
    await api.call(
        owner,
        "PUT",
        f"/guilds/{gid}/bans/{b.id}",
        204,
        json={"delete_message_seconds": 3600},
        headers={"X-Audit-Log-Reason": "spamming"},
    )
    await api.call(owner, "GET", f"/channels/{channel}/messages/{spam['id']}", 404)
    ban = await api.call(owner, "GET", f"/guilds/{gid}/bans/{b.id}")
    assert ban == {"reason": "spamming", "user": (await api.call(owner, "GET", f"/users/{b.id}"))}
    assert [x["user"]["id"] for x in await api.call(owner, "GET", f"/guilds/{gid}/bans")] == [b.id]
    invite = await api.call(owner, "POST", f"/channels/{channel}/invites", json={})
    r = await api.http.post(f"/invites/{invite['code']}", headers=b.auth)
    assert r.status_code == 403 and r.json()["code"] == 40007
    await api.call(owner, "PUT", f"/guilds/{gid}/bans/{owner.id}", 403)
    await api.call(owner, "DELETE", f"/guilds/{gid}/bans/{b.id}", 204)
    await api.call(owner, "DELETE", f"/guilds/{gid}/bans/{b.id}", 404)
    await api.call(b, "POST", f"/invites/{invite['code']}")
    log = await api.call(owner, "GET", f"/guilds/{gid}/audit-logs")
    by_kind = {e["action_type"]: e for e in log["audit_log_entries"]}
    assert by_kind[20]["target_id"] == a.id and by_kind[20]["reason"] == "bye"
    assert by_kind[22]["target_id"] == b.id and by_kind[22]["reason"] == "spamming"
    assert by_kind[23]["target_id"] == b.id
    assert {u["id"] for u in log["users"]} >= {owner.id, a.id, b.id}


async def test_audit_log_needs_permission_and_paginates(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    await api.join(owner, member, guild)
    await api.call(member, "GET", f"/guilds/{gid}/audit-logs", 403)
    for i in range(5):
        await api.call(owner, "POST", f"/guilds/{gid}/roles", json={"name": f"r{i}"})
    first = (await api.call(owner, "GET", f"/guilds/{gid}/audit-logs?limit=2"))["audit_log_entries"]
    second = (
        await api.call(owner, "GET", f"/guilds/{gid}/audit-logs?limit=2&before={first[-1]['id']}")
    )["audit_log_entries"]
    assert len(first) == len(second) == 2 and int(first[-1]["id"]) > int(second[0]["id"])
    newer = (
        await api.call(owner, "GET", f"/guilds/{gid}/audit-logs?limit=2&after={second[-1]['id']}")
    )["audit_log_entries"]
    # The two entries right after the cursor, newest first, as Discord pages with ``after``.
    assert [e["id"] for e in newer] == [first[1]["id"], second[0]["id"]]


async def test_leave_guild(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(owner, member, guild)
    await api.call(member, "DELETE", f"/users/@me/guilds/{guild['id']}", 204)
    assert await api.call(member, "GET", "/users/@me/guilds") == []
    await api.call(owner, "DELETE", f"/users/@me/guilds/{guild['id']}", 400)


async def test_invites_expire_run_out_and_count(api, clock) -> None:
    owner, a, b, c = [await api.register() for _ in range(4)]
    guild = await api.guild(owner, "Invited")
    channel = await api.text_channel(owner, guild)
    invite = await api.call(
        owner, "POST", f"/channels/{channel}/invites", json={"max_uses": 2, "max_age": 600}
    )
    assert invite["max_uses"] == 2 and invite["uses"] == 0 and invite["inviter"]["id"] == owner.id
    public = (await api.http.get(f"/invites/{invite['code']}?with_counts=true")).json()
    assert (
        public["guild"]["name"] == "Invited"
        and public["approximate_member_count"] == 1
        and "uses" not in public
    )
    joined = await api.call(a, "POST", f"/invites/{invite['code']}")
    assert joined["new_member"] is True
    again = await api.call(a, "POST", f"/invites/{invite['code']}")
    assert again["new_member"] is False
    await api.call(b, "POST", f"/invites/{invite['code']}")
    r = await api.http.post(f"/invites/{invite['code']}", headers=c.auth)
    assert r.status_code == 404 and r.json()["code"] == 10006
    timed = await api.call(owner, "POST", f"/channels/{channel}/invites", json={"max_age": 60})
    clock.advance(seconds=61)
    assert (await api.http.get(f"/invites/{timed['code']}")).status_code == 404
    await api.call(c, "POST", f"/invites/{timed['code']}", 404)
    assert datetime.fromisoformat(timed["expires_at"]) < clock.now.astimezone(UTC)


async def test_invite_management_permissions(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    await api.join(owner, member, guild)
    invite = await api.call(member, "POST", f"/channels/{channel}/invites", json={"max_age": 0})
    assert invite["expires_at"] is None
    await api.call(member, "GET", f"/guilds/{guild['id']}/invites", 403)
    assert len(await api.call(owner, "GET", f"/guilds/{guild['id']}/invites")) == 2
    assert len(await api.call(owner, "GET", f"/channels/{channel}/invites")) == 2
    await api.call(member, "DELETE", f"/invites/{invite['code']}", 403)
    await api.call(owner, "DELETE", f"/invites/{invite['code']}")
    await api.call(owner, "DELETE", f"/invites/{invite['code']}", 404)
    bad = await api.http.get("/invites/not valid!")
    assert bad.status_code in (400, 404)


async def test_timestamps_without_an_offset_are_utc(api, clock) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(owner, member, guild)
    naive = (clock.now + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    timed = await api.call(
        owner,
        "PATCH",
        f"/guilds/{guild['id']}/members/{member.id}",
        json={"communication_disabled_until": naive},
    )
    assert datetime.fromisoformat(timed["communication_disabled_until"]) == datetime.fromisoformat(
        naive + "+00:00"
    )
    channel = await api.text_channel(owner, guild)
    page = await api.call(
        owner, "GET", f"/channels/{channel}/messages/pins?before=2030-01-01T00:00:00"
    )
    assert page == {"items": [], "has_more": False}
