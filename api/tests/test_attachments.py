"""Attachments through the real API and both file stores (a directory, a real S3 server): multipart uploads as
discord.py sends them, sniffed types, image sizes and previews, signed download URLs
that only open their own file, and files that leave the store with their message."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from spectrus_domain.config import Settings
from spectrus_domain.permissions import Permission as P
from spectrus_domain.storage import files

LIMIT = 256 << 10


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Every test runs against both file stores: a directory, and a real S3 server."""
    where = {}
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        where = request.getfixturevalue("s3_server").settings_for(bucket)
    return Settings(
        data_dir=tmp_path, rate_limit_scale=0, link_previews=False, upload_limit=LIMIT, **where
    )


def image(kind: str, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, kind)
    return out.getvalue()


async def upload(
    api: Any,
    user: Any,
    channel: str,
    named: list[tuple[str, bytes]],
    expect: int = 200,
    method: str = "POST",
    path: str = "",
    **payload: Any,
) -> Any:
    """A message request the way discord.py makes one: payload_json plus files[n]."""
    parts = [
        (f"files[{n}]", (name, data, "application/octet-stream"))
        for n, (name, data) in enumerate(named)
    ]
    payload.setdefault(
        "attachments", [{"id": n, "filename": name} for n, (name, _) in enumerate(named)]
    )
    return await api.call(
        user,
        method,
        path or f"/channels/{channel}/messages",
        expect,
        data={"payload_json": json.dumps(payload)},
        files=parts,
    )


async def fetch(http: Any, url: str, **headers: str) -> Any:
    """GET an attachment URL (served at the root, not under /api/v10)."""
    parts = urlsplit(url)
    return await http.get(f"http://spectrus.test{parts.path}?{parts.query}", headers=headers)


async def _world(api: Any) -> tuple[Any, str, dict[str, Any]]:
    owner = await api.register()
    guild = await api.guild(owner)
    return owner, await api.text_channel(owner, guild), guild


async def stored_keys(ctx: Any) -> set[str]:
    store = files.open_store(ctx.settings)
    return {key async for key in store.list_keys()}


async def test_files_are_sniffed_measured_and_served(api, http, ctx) -> None:
    owner, channel, _ = await _world(api)
    big = image("JPEG", 2400, 1200)
    small = image("PNG", 64, 32)
    page = b"<html><script>alert(1)</script></html>"
    sent = await upload(
        api,
        owner,
        channel,
        [
            ("holiday photo.jpg", big),
            ("icon.txt", small),
            ("cute.png", page),
            ("notes.md", "héllo".encode()),
        ],
        content="four files",
    )
    first, second, third, fourth = sent["attachments"]
    assert [a["filename"] for a in sent["attachments"]] == [
        "holiday_photo.jpg",
        "icon.txt",
        "cute.png",
        "notes.md",
    ]
    assert (first["content_type"], first["width"], first["height"]) == ("image/jpeg", 2400, 1200)
    assert (second["content_type"], second["width"], second["height"]) == ("image/png", 64, 32)
    assert third["content_type"] == "text/plain; charset=utf-8" and "width" not in third
    assert fourth["content_type"] == "text/markdown; charset=utf-8"
    assert [a["size"] for a in sent["attachments"]] == [len(big), len(small), len(page), 6]

    original = await fetch(http, first["url"])
    assert original.status_code == 200 and original.content == big
    assert original.headers["content-type"] == "image/jpeg"
    assert original.headers["x-content-type-options"] == "nosniff"
    preview = await fetch(http, first["proxy_url"])
    assert preview.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(preview.content)).size == (1024, 512)
    assert (await fetch(http, second["proxy_url"])).content == small  # small: the original
    disguised = await fetch(http, third["url"])
    assert disguised.content == page and disguised.headers["content-type"].startswith("text/plain")
    assert "sandbox" in disguised.headers["content-security-policy"]
    partial = await fetch(http, first["url"], range="bytes=10-19")
    assert partial.status_code == 206 and partial.content == big[10:20]
    assert partial.headers["content-range"] == f"bytes 10-19/{len(big)}"
    assert (await fetch(http, first["url"], range=f"bytes={len(big)}-")).status_code == 416

    listed = await api.call(owner, "GET", f"/channels/{channel}/messages")
    assert [a["id"] for a in listed[0]["attachments"]] == [a["id"] for a in sent["attachments"]]


async def test_urls_open_only_their_own_file_and_expire(api, http, ctx, clock) -> None:
    owner, channel, guild = await _world(api)
    other = await api.call(
        owner, "POST", f"/guilds/{guild['id']}/channels", 201, json={"name": "other"}
    )
    message = await upload(api, owner, channel, [("a.txt", b"in channel one")])
    mine = message["attachments"][0]
    theirs = (await upload(api, owner, other["id"], [("a.txt", b"in channel two")]))["attachments"][
        0
    ]
    assert (await fetch(http, mine["url"])).content == b"in channel one"
    path, query = urlsplit(mine["url"]).path, urlsplit(mine["url"]).query
    forged = [
        path.replace(channel, other["id"]),  # this signature, another channel
        path.replace(mine["id"], theirs["id"]),  # this signature, another file
        path.replace(mine["id"], theirs["id"]).replace(channel, other["id"]),
        path.replace("a.txt", "b.txt"),
    ]
    for attempt in forged:
        answer = await http.get(f"http://spectrus.test{attempt}?{query}")
        assert answer.status_code == 404, attempt
    tampered = query.replace("hm=" + query.split("hm=")[1][:4], "hm=0000")
    assert (await http.get(f"http://spectrus.test{path}?{tampered}")).status_code == 404
    assert (await http.get(f"http://spectrus.test{path}")).status_code == 404  # unsigned
    clock.advance(hours=23)
    assert (await fetch(http, mine["url"])).status_code == 200
    clock.advance(hours=3)
    assert (await fetch(http, mine["url"])).status_code == 404  # expired
    fresh = await api.call(owner, "GET", f"/channels/{channel}/messages/{message['id']}")
    assert (await fetch(http, fresh["attachments"][0]["url"])).content == b"in channel one"


async def test_limits_and_permissions_leave_nothing_behind(api, http, ctx, clock) -> None:
    owner, channel, guild = await _world(api)
    member = await api.register()
    await api.join(owner, member, guild)
    too_big = await upload(api, owner, channel, [("big.bin", b"x" * (LIMIT + 1))], 413)
    assert too_big["code"] == 40006
    await api.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{member.id}",
        204,
        json={"type": 1, "deny": str(int(P.ATTACH_FILES))},
    )
    refused = await upload(api, member, channel, [("a.png", image("PNG", 2000, 2000))], 403)
    assert refused["code"] == 50013
    bad_json = await api.call(
        owner,
        "POST",
        f"/channels/{channel}/messages",
        400,
        data={"payload_json": "{nope"},
        files=[("files[0]", ("a", b"a"))],
    )
    assert bad_json["code"] == 50109
    eleven = await upload(api, owner, channel, [(f"{n}.txt", b"x") for n in range(11)], 400)
    assert eleven["code"] == 50035 and "Too many files" in json.dumps(eleven["errors"])
    assert await stored_keys(ctx) == set()  # refused before anything was written
    # A message that fails after its files were stored (an unknown reply target) gives
    # them up: original and preview go at the next sweep.
    failed = await upload(
        api,
        owner,
        channel,
        [("a.png", image("PNG", 2000, 2000))],
        400,
        message_reference={"message_id": "1"},
    )
    assert failed["code"] == 50035
    assert len(await stored_keys(ctx)) == 2
    assert await files.sweep(ctx.db, files.open_store(ctx.settings), ctx.now()) == 2
    assert await stored_keys(ctx) == set()
    assert await ctx.db.fetchval("SELECT count(*) FROM attachments") == 0


async def test_files_leave_with_their_message_and_edits(api, http, ctx) -> None:
    owner, channel, _ = await _world(api)
    sent = await upload(api, owner, channel, [("a.txt", b"aaa"), ("b.txt", b"bbb")])
    a, b = sent["attachments"]
    assert len(await stored_keys(ctx)) == 2
    path = f"/channels/{channel}/messages/{sent['id']}"
    edited = await upload(
        api,
        owner,
        channel,
        [("c.txt", b"ccc")],
        method="PATCH",
        path=path,
        attachments=[{"id": b["id"]}, {"id": 0, "filename": "c.txt"}],
    )
    assert [x["filename"] for x in edited["attachments"]] == ["b.txt", "c.txt"]
    assert edited["edited_timestamp"] is not None
    store = files.open_store(ctx.settings)
    assert await files.sweep(ctx.db, store, ctx.now()) == 1  # a.txt
    assert (await fetch(http, a["url"])).status_code == 404
    assert (await fetch(http, b["url"])).content == b"bbb"
    await api.call(owner, "DELETE", path, 204)
    assert await files.sweep(ctx.db, store, ctx.now()) == 2
    assert await stored_keys(ctx) == set()
    assert (await fetch(http, b["url"])).status_code == 404


async def test_files_in_direct_messages(api, http) -> None:
    owner, _channel, guild = await _world(api)
    friend, stranger = await api.register(), await api.register()
    await api.join(owner, friend, guild)
    dm = await api.call(owner, "POST", "/users/@me/channels", json={"recipient_id": friend.id})
    sent = await upload(api, owner, dm["id"], [("note.txt", b"just for you")])
    seen = await api.call(friend, "GET", f"/channels/{dm['id']}/messages")
    assert (await fetch(http, seen[0]["attachments"][0]["url"])).content == b"just for you"
    assert sent["attachments"][0]["id"] == seen[0]["attachments"][0]["id"]
    # Someone outside the conversation cannot post files into it.
    await upload(api, stranger, dm["id"], [("x.txt", b"x")], 403)


def test_filenames_are_made_safe_for_urls_and_headers() -> None:
    from spectrus_api.uploads import clean_filename

    assert clean_filename("héllo wörld.txt") == "hello_world.txt"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\me\\report.doc") == "report.doc"
    assert clean_filename('a"b;c\r\n.png') == "a_b_c_.png"
    assert clean_filename("...") == clean_filename("") == "unknown"
    long_name = clean_filename("a" * 300 + ".png")
    assert len(long_name) == 256 and long_name.endswith(".png")
    assert len(clean_filename("x." + "b" * 300)) == 256
