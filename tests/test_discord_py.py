"""A real discord.py bot against ``./spectrus up``, pointed at it by two URLs only.

It logs in, sees its guild, channels and members in ``on_ready``, receives a message a
person posts through REST and replies, and sees the edit, the delete, a reaction, typing
and a member joining through an invite. It uploads a file and posts a link, and sees the
attachment and the link's preview arrive. Every wait is for the bot's own event handler.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import httpx
import pytest
import yarl

pytestmark = pytest.mark.slow
TIMEOUT = 15


class Recorder:
    """Events the bot saw, each with an asyncio.Event a test can wait for."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Any]] = {}
        self._events: dict[str, asyncio.Event] = {}

    def record(self, name: str, value: Any) -> None:
        self.seen.setdefault(name, []).append(value)
        self._events.setdefault(name, asyncio.Event()).set()

    async def wait(self, name: str, count: int = 1) -> list[Any]:
        async with asyncio.timeout(TIMEOUT):
            while len(self.seen.get(name, [])) < count:
                event = self._events.setdefault(name, asyncio.Event())
                event.clear()
                if len(self.seen.get(name, [])) >= count:
                    break
                await event.wait()
        return self.seen[name]


def _point_discord_py_at(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The only change a bot needs: its two base URLs."""
    monkeypatch.setattr(discord.http.Route, "BASE", f"{server.base}/api/v10")
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        yarl.URL(f"ws://127.0.0.1:{server.port}/gateway"),
    )


async def _setup(api: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, Any], str, str]:
    async def call(method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        r = await api.request(method, path, headers=headers, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    owner = {
        "Authorization": (
            await call(
                "POST",
                "/auth/register",
                json={"username": "owner", "password": "correct horse battery"},
            )
        )["token"]
    }
    guild = await call("POST", "/guilds", owner, json={"name": "Bot Den"})
    channel = next(
        c["id"]
        for c in await call("GET", f"/guilds/{guild['id']}/channels", owner)
        if c["type"] == 0
    )
    app = await call("POST", "/applications", owner, json={"name": "Pinger"})
    await call(
        "PATCH", f"/applications/{app['id']}", owner, json={"flags": (1 << 14) | (1 << 18)}
    )  # members, content
    token = (await call("POST", f"/applications/{app['id']}/bot/reset", owner))["token"]
    await call(
        "POST",
        f"/oauth2/authorize?client_id={app['id']}&scope=bot",
        owner,
        json={
            "guild_id": guild["id"],
            "permissions": str((1 << 10) | (1 << 11) | (1 << 6)),
            "authorize": True,
        },
    )
    return owner, guild, channel, token


async def test_discord_py_bot_lives_in_spectrus(spectrus, monkeypatch) -> None:
    server = spectrus()
    server.start()
    _point_discord_py_at(server, monkeypatch)

    async with httpx.AsyncClient(base_url=f"{server.base}/api/v10", timeout=30) as api:
        owner, _guild, channel_id, token = await _setup(api)
        seen = Recorder()
        intents = discord.Intents.default()
        intents.members = True
        intents.message_content = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.5)

        @client.event
        async def on_ready() -> None:
            g = client.guilds[0]
            seen.record(
                "ready",
                (g.name, sorted(c.name for c in g.channels), sorted(m.name for m in g.members)),
            )

        @client.event
        async def on_message(message: discord.Message) -> None:
            seen.record("message", (message.author.name, message.content, message.channel.name))
            if message.author != client.user:
                await message.channel.send(f"pong: {message.content}")

        @client.event
        async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
            seen.record("edit", (before.content, after.content))

        @client.event
        async def on_message_delete(message: discord.Message) -> None:
            seen.record("delete", message.content)

        @client.event
        async def on_reaction_add(reaction: discord.Reaction, user: discord.User) -> None:
            seen.record("reaction", (str(reaction.emoji), user.name, reaction.message.content))

        @client.event
        async def on_typing(channel: Any, user: Any, when: Any) -> None:
            seen.record("typing", (channel.name, user.name))

        @client.event
        async def on_member_join(member: discord.Member) -> None:
            seen.record("join", (member.name, member.guild.name))

        runner = asyncio.create_task(client.start(token))
        try:
            [(name, channels, members)] = await seen.wait("ready")
            assert name == "Bot Den"
            assert channels == ["General", "Text Channels", "Voice Channels", "general"]
            assert members == ["Pinger", "owner"]

            r = await api.post(
                f"/channels/{channel_id}/messages", headers=owner, json={"content": "ping"}
            )
            sent = r.json()
            messages = await seen.wait("message", 2)
            assert messages[:2] == [
                ("owner", "ping", "general"),
                ("Pinger", "pong: ping", "general"),
            ]
            history = (await api.get(f"/channels/{channel_id}/messages", headers=owner)).json()
            assert history[0]["content"] == "pong: ping" and history[0]["author"]["bot"] is True

            await api.patch(
                f"/channels/{channel_id}/messages/{sent['id']}",
                headers=owner,
                json={"content": "ping!"},
            )
            assert (await seen.wait("edit")) == [("ping", "ping!")]
            await api.put(
                f"/channels/{channel_id}/messages/{sent['id']}/reactions/%F0%9F%91%8D/@me",
                headers=owner,
            )
            assert (await seen.wait("reaction")) == [("👍", "owner", "ping!")]
            await api.post(f"/channels/{channel_id}/typing", headers=owner)
            assert (await seen.wait("typing")) == [("general", "owner")]
            await api.delete(f"/channels/{channel_id}/messages/{sent['id']}", headers=owner)
            assert (await seen.wait("delete")) == ["ping!"]

            invite = (
                await api.post(f"/channels/{channel_id}/invites", headers=owner, json={})
            ).json()
            newcomer = (
                await api.post(
                    "/auth/register",
                    json={"username": "newcomer", "password": "correct horse battery"},
                )
            ).json()
            await api.post(
                f"/invites/{invite['code']}", headers={"Authorization": newcomer["token"]}
            )
            assert (await seen.wait("join")) == [("newcomer", "Bot Den")]
            assert sorted(m.name for m in client.guilds[0].members) == [
                "Pinger",
                "newcomer",
                "owner",
            ]
        finally:
            await client.close()
            await asyncio.wait_for(runner, TIMEOUT)


PAGE = """<html><head><title>fallback</title>
<meta property="og:title" content="Release notes">
<meta property="og:description" content="Everything that changed.">
<meta property="og:site_name" content="Example News">
<meta property="og:image" content="/cover.png">
</head><body></body></html>"""


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 120, 0)).save(out, "PNG")
    return out.getvalue()


async def test_discord_py_sends_a_file_and_a_link_with_a_preview(spectrus, monkeypatch) -> None:
    """The bot uploads a file (multipart, as discord.py does it) and posts a link; it
    sees the attachment in its MESSAGE_CREATE, reads it back through its URL, and sees the
    link's preview arrive as a MESSAGE_UPDATE (on_message_edit)."""
    import io

    from aiohttp import web

    cover = _png(300, 150)

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def image(_request: web.Request) -> web.Response:
        return web.Response(body=cover, content_type="image/png")

    site = web.Application()
    site.add_routes([web.get("/page", page), web.get("/cover.png", image)])
    runner = web.AppRunner(site)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.2", 0)
    await tcp.start()
    page_url = f"http://127.0.0.2:{tcp._server.sockets[0].getsockname()[1]}/page"  # type: ignore[union-attr]

    # The test's web site lives on loopback, which previews never reach unless allowed.
    server = spectrus(SPECTRUS_EMBED_ALLOW_NETWORKS="127.0.0.2/32")
    server.start()
    _point_discord_py_at(server, monkeypatch)
    chart = _png(640, 480)
    async with httpx.AsyncClient(base_url=f"{server.base}/api/v10", timeout=30) as api:
        _owner, _guild, channel_id, token = await _setup(api)
        seen = Recorder()
        intents = discord.Intents.default()
        intents.message_content = True
        client = discord.Client(intents=intents, guild_ready_timeout=0.5)

        @client.event
        async def on_ready() -> None:
            channel = client.get_channel(int(channel_id))
            assert isinstance(channel, discord.TextChannel)
            await channel.send("the chart", file=discord.File(io.BytesIO(chart), "chart.png"))
            await channel.send(f"read this: {page_url}")

        @client.event
        async def on_message(message: discord.Message) -> None:
            for attachment in message.attachments:
                data = await attachment.read()
                seen.record(
                    "file",
                    (
                        attachment.filename,
                        attachment.content_type,
                        attachment.size,
                        (attachment.width, attachment.height),
                        data == chart,
                    ),
                )
            if "read this" in message.content:
                seen.record("link", len(message.embeds))

        @client.event
        async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
            for embed in after.embeds:
                seen.record(
                    "embed",
                    (
                        len(before.embeds),
                        embed.title,
                        embed.description,
                        embed.provider.name,
                        embed.url,
                        (embed.thumbnail.width, embed.thumbnail.height),
                    ),
                )

        runner_task = asyncio.create_task(client.start(token))
        try:
            assert await seen.wait("file") == [
                ("chart.png", "image/png", len(chart), (640, 480), True)
            ]
            assert await seen.wait("link") == [0]  # sent at once, without the preview
            assert await seen.wait("embed") == [
                (
                    0,
                    "Release notes",
                    "Everything that changed.",
                    "Example News",
                    page_url,
                    (300, 150),
                )
            ]
        finally:
            await client.close()
            await asyncio.wait_for(runner_task, TIMEOUT)
            await runner.cleanup()
