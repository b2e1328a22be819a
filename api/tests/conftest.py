"""A thin client over the in-process API for readable tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

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
