"""Link previews end to end: the message is answered at once without them, then the
previewer's workers fetch the linked page from a real web server (on 127.0.0.2, the
only network these tests allow) and the preview arrives with a MESSAGE_UPDATE."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from spectrus_api.app import create_app
from spectrus_api.embeds.fetcher import DnsResolver, SafeFetcher
from spectrus_api.embeds.previewer import Job, LinkPreviewer
from spectrus_domain.context import Context
from spectrus_domain.permissions import Permission as P


@pytest.fixture
def previewer(ctx: Context) -> LinkPreviewer:
    # No name resolves (the nameserver is a closed port): these tests link by address.
    resolver = DnsResolver(["127.0.0.1"], port=9, timeout=0.5)
    fetcher = SafeFetcher(resolver, allow=[ipaddress.ip_network("127.0.0.2/32")], timeout=3)
    return LinkPreviewer(ctx, fetcher, workers=2)


@pytest.fixture
async def http(ctx: Context, previewer: LinkPreviewer) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, so the previewer's workers are up."""
    app = create_app(ctx, previewer=previewer)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://spectrus.test/api/v10"
        ) as client:
            yield client


async def _updates(db: Any, message_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT data FROM outbox WHERE event = 'MESSAGE_UPDATE' AND data->>'id' = $1 ORDER BY seq",
        message_id,
    )
    return [r["data"] for r in rows]  # jsonb arrives decoded (the pool's codec)


async def test_a_link_gets_its_preview_after_the_send(api, site, previewer, db) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    text = (
        f"look {site.base}/page and <{site.base}/huge> and `{site.base}/slow`"
        f" and {site.base}/page again"
    )
    sent = await api.send(owner, channel, text)
    assert sent["embeds"] == []  # the send does not wait for the web
    await previewer.queue.join()
    expected = {
        "type": "link",
        "url": f"{site.base}/page",
        "title": "The Real Title",
        "description": "What the page is about.",
        "provider": {"name": "Example Site"},
        "thumbnail": {"url": f"{site.base}/preview.png", "width": 120, "height": 80},
        "color": 0x336699,
    }
    fetched = await api.call(owner, "GET", f"/channels/{channel}/messages/{sent['id']}")
    assert fetched["embeds"] == [expected]  # one preview: <...> and code are not previewed
    [update] = await _updates(db, sent["id"])
    assert update["embeds"] == [expected] and update["guild_id"] == guild["id"]
    assert update["content"] == text and update["edited_timestamp"] is None


async def test_previews_follow_edits_and_suppression(api, site, previewer, db) -> None:
    owner = await api.register()
    channel = await api.text_channel(owner, await api.guild(owner))
    path = f"/channels/{channel}/messages"
    sent = await api.send(owner, channel, f"{site.base}/page")
    await previewer.queue.join()
    hidden = await api.call(owner, "PATCH", f"{path}/{sent['id']}", json={"flags": 4})
    assert hidden["embeds"] == []
    shown = await api.call(owner, "PATCH", f"{path}/{sent['id']}", json={"flags": 0})
    assert shown["embeds"][0]["title"] == "The Real Title"
    same_links = await api.call(
        owner, "PATCH", f"{path}/{sent['id']}", json={"content": f"still {site.base}/page"}
    )
    assert same_links["embeds"] == shown["embeds"]  # kept: the links did not change
    await previewer.queue.join()
    assert len(await _updates(db, sent["id"])) == 4  # the preview, two flag edits, one edit
    image_link = f"{site.base}/preview.png"
    moved = await api.call(owner, "PATCH", f"{path}/{sent['id']}", json={"content": image_link})
    assert moved["embeds"] == []  # the old preview went with the old link
    await previewer.queue.join()
    fetched = await api.call(owner, "GET", f"{path}/{sent['id']}")
    assert fetched["embeds"] == [
        {
            "type": "image",
            "url": image_link,
            "thumbnail": {"url": image_link, "width": 120, "height": 80},
        }
    ]
    quiet = await api.send(owner, channel, f"{site.base}/page", flags=4)
    await previewer.queue.join()
    assert await _updates(db, quiet["id"]) == []


async def test_no_preview_without_embed_links_or_from_forbidden_places(
    api, site, previewer, db
) -> None:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    await api.join(owner, member, guild)
    await api.call(
        owner,
        "PUT",
        f"/channels/{channel}/permissions/{member.id}",
        204,
        json={"type": 1, "deny": str(int(P.EMBED_LINKS))},
    )
    denied = await api.send(member, channel, f"{site.base}/page")
    private = await api.send(owner, channel, f"http://127.0.0.1:{site.port}/page")
    await previewer.queue.join()
    for message in (denied, private):
        assert await _updates(db, message["id"]) == []
    # A message deleted while its links were fetched (flags=4 keeps the route from
    # queueing it, so the job runs exactly when this test says).
    gone = await api.send(owner, channel, f"{site.base}/page", flags=4)
    await api.call(owner, "DELETE", f"/channels/{channel}/messages/{gone['id']}", 204)
    job = Job(int(channel), int(gone["id"]), [f"{site.base}/page"])
    assert await previewer.run(job) is False
    assert previewer.dropped == 0
