"""``SPECTRUS_SECRET_KEY`` through the real API: an attachment URL signed by one API
process opens through another process given the same key (each with its own pool, as
separate pods have), and not through one with another key or with the database's own
secret."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from spectrus_api.app import create_app
from spectrus_api.ratelimit import RateLimiter
from spectrus_domain.config import Settings
from spectrus_domain.context import Context
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage import connect

KEY = "a-secret-the-operator-keeps-in-a-kubernetes-secret"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, rate_limit_scale=0, link_previews=False, secret_key=KEY)


@contextlib.asynccontextmanager
async def another_process(
    dsn: str, settings: Settings, node: int
) -> AsyncIterator[httpx.AsyncClient]:
    db = await connect(dsn, min_size=1, max_size=2, migrate=False)
    try:
        ctx = await Context.open(db, settings, SnowflakeGenerator(node))
        app = create_app(ctx, limiter=RateLimiter(scale=0))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://spectrus.test") as c:
            yield c
    finally:
        await db.close()


async def test_processes_with_one_key_accept_each_others_urls(api, http, db, dsn, settings) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    sent = await api.call(
        owner,
        "POST",
        f"/channels/{channel}/messages",
        data={"payload_json": json.dumps({"content": "a file"})},
        files=[("files[0]", ("a.txt", b"signed once", "text/plain"))],
    )
    url = urlsplit(sent["attachments"][0]["url"])
    target = f"{url.path}?{url.query}"
    assert await db.fetchval("SELECT count(*) FROM instance_secrets") == 0  # nothing stored

    async with another_process(dsn, settings, node=2) as same_key:
        answer = await same_key.get(target)
        assert answer.status_code == 200 and answer.content == b"signed once"
    other = settings.replace(secret_key="another-key-of-thirty-two-characters-or-more")
    async with another_process(dsn, other, node=3) as other_key:
        assert (await other_key.get(target)).status_code == 404
    async with another_process(dsn, settings.replace(secret_key=""), node=4) as no_key:
        assert (await no_key.get(target)).status_code == 404
