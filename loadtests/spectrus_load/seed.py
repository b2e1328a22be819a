"""Seed a world through the REST API: accounts, guilds with their channels, memberships.

Registration dominates (Argon2id is deliberately slow), so requests run concurrently over
every api process. Threads are used because they work both in a plain process and under
gevent's monkey-patching (where they become greenlets): the locust process seeds too.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from spectrus_load.plan import Account, Guild, Shape, World

PASSWORD = "load test password"  # noqa: S105 - throwaway accounts on a throwaway server
CONCURRENCY = 8


class SeedError(RuntimeError):
    pass


def call(base: str, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URLs we built
        f"{base}/api/v10{path}", data=data, method=method
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        raise SeedError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None
    return json.loads(raw) if raw else None


def seed(shape: Shape, api_urls: list[str], gateway_urls: list[str], media_ca: str) -> World:
    tag = secrets.token_hex(3)

    def api(i: int) -> str:
        return api_urls[i % len(api_urls)]

    def register(i: int) -> tuple[str, str]:
        pair = call(
            api(i),
            "POST",
            "/auth/register",
            body={"username": f"lt{tag}_{i}", "password": PASSWORD},
        )
        return str(pair["user_id"]), str(pair["token"])

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        registered = list(pool.map(register, range(shape.accounts)))
        accounts = [
            Account(index=i, user_id=uid, token=token, guild=i // shape.members_per_guild)
            for i, (uid, token) in enumerate(registered)
        ]

        def make_guild(g: int) -> Guild:
            members = list(range(g * shape.members_per_guild, (g + 1) * shape.members_per_guild))
            owner = accounts[members[0]].token
            channels = [{"name": f"text-{k}", "type": 0} for k in range(shape.text_channels)]
            channels += [{"name": f"voice-{k}", "type": 2} for k in range(shape.voice_channels)]
            guild = call(
                api(g), "POST", "/guilds", owner, {"name": f"load {g}", "channels": channels}
            )
            made = call(api(g), "GET", f"/guilds/{guild['id']}/channels", owner)
            text = [c["id"] for c in sorted(made, key=lambda c: c["position"]) if c["type"] == 0]
            voice = [c["id"] for c in sorted(made, key=lambda c: c["position"]) if c["type"] == 2]
            if len(text) < shape.text_channels or len(voice) < shape.voice_channels:
                raise SeedError(f"guild {guild['id']} has channels {made}")
            return Guild(
                id=str(guild["id"]),
                text_channels=text[: shape.text_channels],
                voice_channels=voice[: shape.voice_channels],
                members=members,
            )

        guilds = list(pool.map(make_guild, range(shape.guilds)))

        invites: dict[int, str] = {}
        for g, guild in enumerate(guilds):
            owner = accounts[guild.members[0]].token
            invite = call(
                api(g), "POST", f"/channels/{guild.text_channels[0]}/invites", owner, {"max_age": 0}
            )
            invites[g] = str(invite["code"])

        def join(i: int) -> None:
            account = accounts[i]
            if guilds[account.guild].members[0] != i:  # the owner is in already
                call(api(i), "POST", f"/invites/{invites[account.guild]}", account.token)

        list(pool.map(join, range(shape.accounts)))
    return World(api_urls, gateway_urls, media_ca, accounts, guilds)
