"""Applications and bots, made as on Discord's developer API."""

from __future__ import annotations

from spectrus_domain.permissions import Permission

P = Permission


async def _app_with_bot(api, owner):
    app = await api.call(
        owner, "POST", "/applications", 201, json={"name": "Helper Bot", "description": "helps"}
    )
    token = (await api.call(owner, "POST", f"/applications/{app['id']}/bot/reset"))["token"]
    return app, {"Authorization": f"Bot {token}"}


async def test_application_and_bot_shapes_match_what_discord_py_reads(api) -> None:
    owner = await api.register()
    app, bot = await _app_with_bot(api, owner)
    assert app["bot"]["bot"] is True and app["bot"]["id"] == app["id"]
    me = (await api.http.get("/users/@me", headers=bot)).json()
    assert me["id"] == app["id"] and me["bot"] is True and me["username"] == "Helper Bot"
    info = (await api.http.get("/oauth2/applications/@me", headers=bot)).json()
    for key in (
        "id",
        "name",
        "description",
        "icon",
        "bot_public",
        "bot_require_code_grant",
        "verify_key",
        "owner",
        "flags",
    ):
        assert key in info, key
    assert info["owner"]["id"] == owner.id
    gateway = (await api.http.get("/gateway/bot", headers=bot)).json()
    assert gateway["shards"] == 1 and set(gateway["session_start_limit"]) == {
        "total",
        "remaining",
        "reset_after",
        "max_concurrency",
    }


async def test_bot_tokens_need_the_bot_prefix_and_reset_revokes(api) -> None:
    owner = await api.register()
    app, bot = await _app_with_bot(api, owner)
    raw = bot["Authorization"].removeprefix("Bot ")
    assert (await api.http.get("/users/@me", headers={"Authorization": raw})).status_code == 401
    assert (
        await api.http.get("/users/@me", headers={"Authorization": f"Bot {owner.token}"})
    ).status_code == 401
    fresh = (await api.call(owner, "POST", f"/applications/{app['id']}/bot/reset"))["token"]
    assert (await api.http.get("/users/@me", headers=bot)).status_code == 401
    assert (
        await api.http.get("/users/@me", headers={"Authorization": f"Bot {fresh}"})
    ).status_code == 200
    stranger = await api.register()
    await api.call(stranger, "POST", f"/applications/{app['id']}/bot/reset", 403)
    r = await api.http.post(
        "/applications",
        headers={"Authorization": f"Bot {fresh}"},
        json={"name": "bots making bots"},
    )
    assert r.status_code == 403 and r.json()["code"] == 20001


async def test_authorize_bot_into_guild_with_a_managed_role(api) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    await api.join(owner, member, guild)
    app, bot = await _app_with_bot(api, owner)
    bits = int(P.SEND_MESSAGES | P.VIEW_CHANNEL | P.ADD_REACTIONS)
    url = f"/oauth2/authorize?client_id={app['id']}&scope=bot&permissions={bits}"
    await api.call(
        member,
        "POST",
        url,
        403,
        json={"guild_id": gid, "permissions": str(bits), "authorize": True},
    )
    r = await api.call(
        owner, "POST", url, json={"guild_id": gid, "permissions": str(bits), "authorize": True}
    )
    assert r["location"].endswith("/oauth2/authorized")
    bot_member = await api.call(owner, "GET", f"/guilds/{gid}/members/{app['id']}")
    role = next(
        x
        for x in await api.call(owner, "GET", f"/guilds/{gid}/roles")
        if x["id"] in bot_member["roles"]
    )
    assert (
        role["managed"] is True
        and int(role["permissions"]) == bits
        and role["tags"] == {"bot_id": app["id"]}
    )
    guilds = (await api.http.get("/users/@me/guilds", headers=bot)).json()
    assert [g["id"] for g in guilds] == [gid]
    channel = await api.text_channel(owner, guild)
    sent = (
        await api.http.post(f"/channels/{channel}/messages", headers=bot, json={"content": "beep"})
    ).json()
    assert sent["author"]["bot"] is True
    # Managed roles cannot be given to anyone else or deleted by hand.
    await api.call(owner, "PUT", f"/guilds/{gid}/members/{member.id}/roles/{role['id']}", 403)
    await api.call(owner, "DELETE", f"/guilds/{gid}/roles/{role['id']}", 400)
    log = await api.call(owner, "GET", f"/guilds/{gid}/audit-logs?action_type=28")
    assert log["audit_log_entries"][0]["target_id"] == app["id"]
    # Bots cannot accept invites, and a manager cannot grant bits they do not hold.
    invite = await api.call(owner, "POST", f"/channels/{channel}/invites", json={})
    assert (await api.http.post(f"/invites/{invite['code']}", headers=bot)).status_code == 403
    mod_role = (
        await api.call(
            owner, "POST", f"/guilds/{gid}/roles", json={"permissions": str(int(P.MANAGE_GUILD))}
        )
    )["id"]
    await api.call(owner, "PUT", f"/guilds/{gid}/members/{member.id}/roles/{mod_role}", 204)
    app2, _ = await _app_with_bot(api, owner)
    await api.call(
        member,
        "POST",
        f"/oauth2/authorize?client_id={app2['id']}&scope=bot",
        403,
        json={"guild_id": gid, "permissions": str(int(P.BAN_MEMBERS)), "authorize": True},
    )
    await api.call(
        member,
        "POST",
        f"/oauth2/authorize?client_id={app2['id']}&scope=bot",
        200,
        json={"guild_id": gid, "permissions": "0", "authorize": True},
    )


async def test_owner_enables_privileged_intents(api) -> None:
    owner, stranger = await api.register(), await api.register()
    app, bot = await _app_with_bot(api, owner)
    wanted = (
        (1 << 14) | (1 << 18) | (1 << 3)
    )  # members, message content, and a flag not ours to set
    patched = await api.call(owner, "PATCH", f"/applications/{app['id']}", json={"flags": wanted})
    assert patched["flags"] == (1 << 14) | (1 << 18)
    await api.call(stranger, "PATCH", f"/applications/{app['id']}", 403, json={"flags": wanted})
    renamed = (
        await api.http.patch("/applications/@me", headers=bot, json={"name": "Renamed"})
    ).json()
    assert renamed["name"] == "Renamed" and renamed["bot"]["username"] == "Renamed"
