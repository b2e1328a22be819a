"""Custom emoji: CRUD with Discord's permission split (manage all / create and manage
your own), images checked by what they are, served publicly, their file removed with
them; reactions with ``name:id`` from this guild, other guilds and behind roles."""

from __future__ import annotations

import base64
import io
from typing import Any
from urllib.parse import quote

from PIL import Image

from spectrus_domain.permissions import DEFAULT_EVERYONE
from spectrus_domain.permissions import Permission as P
from spectrus_domain.storage import files


def data_uri(kind: str = "PNG", size: tuple[int, int] = (64, 64), frames: int = 1) -> str:
    out = io.BytesIO()
    images = [Image.new("RGB", size, (i * 40, 90, 200)) for i in range(frames)]
    images[0].save(out, kind, save_all=frames > 1, append_images=images[1:])
    return f"data:image/{kind.lower()};base64," + base64.b64encode(out.getvalue()).decode()


async def _emoji_events(db: Any, guild_id: str) -> list[list[str]]:
    rows = await db.fetch(
        "SELECT data FROM outbox WHERE event = 'GUILD_EMOJIS_UPDATE' AND guild_id = $1 ORDER BY seq",
        int(guild_id),
    )
    return [[e["name"] for e in r["data"]["emojis"]] for r in rows]


async def test_emoji_lifecycle_and_permissions(api, http, ctx, db) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    gid = guild["id"]
    await api.join(owner, member, guild)
    everyone = int(DEFAULT_EVERYONE) & ~int(P.CREATE_GUILD_EXPRESSIONS)
    await api.call(
        owner, "PATCH", f"/guilds/{gid}/roles/{gid}", json={"permissions": str(everyone)}
    )
    path = f"/guilds/{gid}/emojis"
    party = await api.call(owner, "POST", path, 201, json={"name": "party", "image": data_uri()})
    assert party["name"] == "party" and party["animated"] is False
    assert party["user"]["id"] == owner.id and party["require_colons"] is True
    spin = await api.call(
        owner, "POST", path, 201, json={"name": "spin", "image": data_uri("GIF", frames=3)}
    )
    assert spin["animated"] is True
    listed = await api.call(member, "GET", path)
    assert [e["name"] for e in listed] == ["party", "spin"] and "user" not in listed[0]
    assert [e["name"] for e in (await api.call(member, "GET", f"/guilds/{gid}"))["emojis"]] == [
        "party",
        "spin",
    ]
    image = await http.get(f"http://spectrus.test/emojis/{party['id']}.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (64, 64)

    refused = await api.call(member, "POST", path, 403, json={"name": "mine", "image": data_uri()})
    assert refused["code"] == 50013
    creators = await api.call(
        owner,
        "POST",
        f"/guilds/{gid}/roles",
        json={"name": "creators", "permissions": str(int(P.CREATE_GUILD_EXPRESSIONS))},
    )
    await api.call(owner, "PUT", f"/guilds/{gid}/members/{member.id}/roles/{creators['id']}", 204)
    mine = await api.call(member, "POST", path, 201, json={"name": "mine", "image": data_uri()})
    renamed = await api.call(member, "PATCH", f"{path}/{mine['id']}", json={"name": "still_mine"})
    assert renamed["name"] == "still_mine"
    await api.call(member, "PATCH", f"{path}/{party['id']}", 403, json={"name": "stolen"})
    await api.call(member, "DELETE", f"{path}/{party['id']}", 403)
    await api.call(member, "DELETE", f"{path}/{mine['id']}", 204)
    await api.call(owner, "DELETE", f"{path}/{spin['id']}", 204)
    assert await _emoji_events(db, gid) == [
        ["party"],
        ["party", "spin"],
        ["party", "spin", "mine"],
        ["party", "spin", "still_mine"],
        ["party", "spin"],
        ["party"],
    ]
    audit = await api.call(owner, "GET", f"/guilds/{gid}/audit-logs?limit=20")
    kinds = [e["action_type"] for e in audit["audit_log_entries"] if e["action_type"] >= 60]
    assert sorted(kinds) == [60, 60, 60, 61, 62, 62]
    store = files.open_store(ctx.settings)
    assert await files.sweep(ctx.db, store, ctx.now()) == 2
    assert (await http.get(f"http://spectrus.test/emojis/{spin['id']}.gif")).status_code == 404
    assert {k async for k in store.list_keys()} == {f"e/{party['id']}"}


async def test_images_are_checked(api) -> None:
    owner = await api.register()
    path = f"/guilds/{(await api.guild(owner))['id']}/emojis"
    svg = "data:image/svg+xml;base64," + base64.b64encode(b"<svg></svg>").decode()
    bmp = data_uri("BMP")
    text = "data:image/png;base64," + base64.b64encode(b"not a picture").decode()
    cut = data_uri()[:-40]
    huge = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + bytes(300 << 10)).decode()
    for image in (svg, bmp, text, cut, huge, "data:image/png;base64,@@@", "http://x/y.png"):
        answer = await api.call(owner, "POST", path, 400, json={"name": "bad", "image": image})
        assert answer["code"] == 50035, image[:40]
    bad_name = await api.call(
        owner, "POST", path, 400, json={"name": "no spaces", "image": data_uri()}
    )
    assert "name" in bad_name["errors"]
    assert await api.call(owner, "GET", path) == []


async def test_reacting_with_custom_emoji(api, db) -> None:
    owner, member, stranger = await api.register(), await api.register(), await api.register()
    home = await api.guild(owner, "Home")
    away = await api.guild(stranger, "Away")
    await api.join(owner, member, home)
    channel = await api.text_channel(owner, home)
    wave = await api.call(
        owner,
        "POST",
        f"/guilds/{home['id']}/emojis",
        201,
        json={"name": "wave", "image": data_uri()},
    )
    vip = await api.call(owner, "POST", f"/guilds/{home['id']}/roles", json={"name": "vip"})
    secret = await api.call(
        owner,
        "POST",
        f"/guilds/{home['id']}/emojis",
        201,
        json={"name": "secret", "image": data_uri(), "roles": [vip["id"]]},
    )
    foreign = await api.call(
        stranger,
        "POST",
        f"/guilds/{away['id']}/emojis",
        201,
        json={"name": "far", "image": data_uri()},
    )
    msg = await api.send(owner, channel, f"hello <:wave:{wave['id']}> <a:spin:1>")
    assert msg["content"].endswith("<a:spin:1>")  # the text form passes through untouched
    base = f"/channels/{channel}/messages/{msg['id']}/reactions"
    await api.call(member, "PUT", f"{base}/{quote('wave:' + wave['id'])}/@me", 204)
    await api.call(owner, "PUT", f"{base}/{quote('renamed_in_client:' + wave['id'])}/@me", 204)
    refused = await api.call(member, "PUT", f"{base}/{quote('secret:' + secret['id'])}/@me", 400)
    assert refused["code"] == 10014  # behind a role the member lacks
    await api.call(owner, "PUT", f"{base}/{quote('secret:' + secret['id'])}/@me", 204)
    # An emoji of a guild the reactor is not in is unknown to them.
    outside = await api.call(member, "PUT", f"{base}/{quote('far:' + foreign['id'])}/@me", 400)
    assert outside["code"] == 10014
    await api.call(owner, "PATCH", f"/guilds/{home['id']}/emojis/{wave['id']}", json={"name": "hi"})
    seen = await api.call(member, "GET", f"/channels/{channel}/messages/{msg['id']}")
    assert [(r["emoji"], r["count"], r["me"]) for r in seen["reactions"]] == [
        ({"id": wave["id"], "name": "hi"}, 2, True),  # one reaction, whatever name was sent
        ({"id": secret["id"], "name": "secret"}, 1, False),
    ]
    added = await db.fetch(
        "SELECT data FROM outbox WHERE event = 'MESSAGE_REACTION_ADD' ORDER BY seq"
    )
    assert [r["data"]["emoji"] for r in added] == [
        {"id": wave["id"], "name": "wave"},
        {"id": wave["id"], "name": "wave"},
        {"id": secret["id"], "name": "secret"},
    ]
    users = await api.call(owner, "GET", f"{base}/{quote('hi:' + wave['id'])}")
    assert {u["id"] for u in users} == {owner.id, member.id}
    await api.call(owner, "DELETE", f"/guilds/{home['id']}/emojis/{secret['id']}", 204)
    after = await api.call(member, "GET", f"/channels/{channel}/messages/{msg['id']}")
    assert after["reactions"][1]["emoji"] == {"id": secret["id"], "name": None}
