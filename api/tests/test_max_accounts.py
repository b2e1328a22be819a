"""``SPECTRUS_MAX_ACCOUNTS``: an instance holds at most that many accounts, people and
bots alike; at the limit registering and creating applications are refused with one
clear error, also when many try at once."""

from __future__ import annotations

import asyncio

from spectrus_domain.errors import Error

PASSWORD = "correct horse battery"
FULL = Error.MAX_ACCOUNTS.value


async def test_registration_and_bots_stop_at_the_limit(api, ctx, db) -> None:
    ctx.settings = ctx.settings.replace(max_accounts=3)
    owner = await api.register("owner")
    await api.register("second")
    bot = await api.call(owner, "POST", "/applications", 201, json={"name": "Third Is A Bot"})
    assert await db.fetchval("SELECT count(*) FROM users") == 3

    refused = await api.http.post("/auth/register", json={"username": "late", "password": PASSWORD})
    assert refused.status_code == FULL.http_status == 403
    assert refused.json() == {"code": FULL.code, "message": FULL.message}
    r = await api.http.post("/applications", json={"name": "One Too Many"}, headers=owner.auth)
    assert (r.status_code, r.json()["code"]) == (403, FULL.code)
    assert await db.fetchval("SELECT count(*) FROM users") == 3

    # Existing accounts carry on: logging in and using the bot are not account creation.
    login = await api.http.post("/auth/login", json={"login": "owner", "password": PASSWORD})
    assert login.status_code == 200
    reset = await api.call(owner, "POST", f"/applications/{bot['id']}/bot/reset")
    me = await api.http.get("/users/@me", headers={"Authorization": f"Bot {reset['token']}"})
    assert me.status_code == 200

    ctx.settings = ctx.settings.replace(max_accounts=4)
    await api.register("late")
    ctx.settings = ctx.settings.replace(max_accounts=0)  # unlimited
    await api.register("later")
    await api.call(owner, "POST", "/applications", 201, json={"name": "Another Bot"})


async def test_concurrent_registrations_never_pass_the_limit(api, ctx, db) -> None:
    ctx.settings = ctx.settings.replace(max_accounts=5)
    await api.register("first")

    async def attempt(n: int) -> int:
        r = await api.http.post(
            "/auth/register", json={"username": f"racer{n}", "password": PASSWORD}
        )
        assert r.status_code == 201 or r.json()["code"] == FULL.code, r.text
        return r.status_code

    statuses = await asyncio.gather(*(attempt(n) for n in range(12)))
    assert sorted(statuses) == [201] * 4 + [403] * 8
    assert await db.fetchval("SELECT count(*) FROM users") == 5
