"""A thin client over the in-process API for readable tests, and a web site to link to."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image

_names = itertools.count()


@dataclass
class User:
    id: str
    token: str
    username: str
    refresh_token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": self.token}


class Api:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def register(
        self, name: str | None = None, password: str = "correct horse battery"
    ) -> User:
        username = name or f"user{next(_names)}"
        r = await self.http.post(
            "/auth/register", json={"username": username, "password": password}
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return User(body["user_id"], body["token"], username, body["refresh_token"])

    async def call(
        self, user: User | None, method: str, path: str, expect: int = 200, **kwargs: Any
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers.update(user.auth)
        r = await self.http.request(method, path, headers=headers, **kwargs)
        assert r.status_code == expect, f"{method} {path} -> {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def guild(self, owner: User, name: str = "Guild") -> dict[str, Any]:
        return await self.call(owner, "POST", "/guilds", 201, json={"name": name})

    async def text_channel(self, owner: User, guild: dict[str, Any]) -> str:
        channels = await self.call(owner, "GET", f"/guilds/{guild['id']}/channels")
        return next(c["id"] for c in channels if c["type"] == 0)

    async def join(self, owner: User, member: User, guild: dict[str, Any]) -> None:
        channel = await self.text_channel(owner, guild)
        invite = await self.call(owner, "POST", f"/channels/{channel}/invites", json={})
        await self.call(member, "POST", f"/invites/{invite['code']}")

    async def send(
        self, user: User, channel: str, content: str, expect: int = 200, **extra: Any
    ) -> Any:
        return await self.call(
            user,
            "POST",
            f"/channels/{channel}/messages",
            expect,
            json={"content": content, **extra},
        )


@pytest.fixture
def api(http: httpx.AsyncClient) -> Api:
    return Api(http)


# --- a web site on 127.0.0.2, the tests' stand-in for the public internet ----------------

PAGE = """<html><head>
<title>Fallback title</title>
<meta property="og:title" content="The Real Title">
<meta property="og:description" content="What the page is about.">
<meta property="og:site_name" content="Example Site">
<meta property="og:image" content="/preview.png">
<meta name="theme-color" content="#336699">
</head><body>ignored</body></html>"""


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


@dataclass
class Site:
    host: str
    port: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # of the last page request

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    """/page (OpenGraph, image /preview.png 120x80), /redirect?to=, /huge (4 MiB),
    /slow (answers only at teardown)."""
    served = Site("127.0.0.2")
    released = asyncio.Event()
    preview = png(120, 80)

    async def page(request: web.Request) -> web.Response:
        served.headers = dict(request.headers)
        return web.Response(content_type="text/html", text=PAGE)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def image(_request: web.Request) -> web.Response:
        return web.Response(content_type="image/png", body=preview)

    async def huge(_request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html", body=b"<html><head><title>x</title>" + b"a" * (4 << 20)
        )

    async def slow(_request: web.Request) -> web.Response:
        await released.wait()
        return web.Response(text="late")

    app = web.Application()
    app.add_routes(
        [
            web.get("/page", page),
            web.get("/redirect", redirect),
            web.get("/preview.png", image),
            web.get("/huge", huge),
            web.get("/slow", slow),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, served.host, 0)
    await tcp.start()
    served.port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield served
    released.set()
    await runner.cleanup()
