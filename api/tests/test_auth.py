"""Accounts and tokens: Argon2id at rest, hashed tokens, refresh rotation, revocation."""

from __future__ import annotations

import pytest

from spectrus_domain import credentials
from spectrus_domain.credentials import token_hash


async def test_register_login_and_me(api) -> None:
    alice = await api.register("alice")
    me = await api.call(alice, "GET", "/users/@me")
    assert me["id"] == alice.id and me["username"] == "alice" and me["discriminator"] == "0"
    assert "bot" not in me and me["verified"] is False
    r = await api.http.post(
        "/auth/login", json={"login": "ALICE", "password": "correct horse battery"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["user_id"] == alice.id and r.json()["token"] != alice.token


async def test_token_carries_the_user_id_like_discord_tokens(api) -> None:
    import base64

    alice = await api.register()
    first = alice.token.split(".")[0]
    assert base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode() == alice.id


async def test_passwords_are_argon2id_with_owasp_parameters_and_tokens_are_hashed(api, db) -> None:
    alice = await api.register("carol", password="a very secret passphrase")
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", int(alice.id))
    assert stored.startswith("$argon2id$v=19$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2 and int(params["p"]) >= 1
    rows = await db.fetch("SELECT token_hash, refresh_hash FROM auth_tokens")
    dumped = repr([tuple(r) for r in rows]) + repr(await db.fetch("SELECT * FROM users"))
    assert alice.token not in dumped and alice.refresh_token not in dumped
    assert "very secret" not in dumped
    assert (
        await db.fetchval(
            "SELECT count(*) FROM auth_tokens WHERE token_hash = $1", token_hash(alice.token)
        )
        == 1
    )


async def test_wrong_password_and_unknown_user_look_the_same(api) -> None:
    await api.register("dave")
    wrong = await api.http.post("/auth/login", json={"login": "dave", "password": "nope nope nope"})
    unknown = await api.http.post(
        "/auth/login", json={"login": "nobody", "password": "nope nope nope"}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["errors"]["login"]["_errors"][0]["code"] == "INVALID_LOGIN"


async def test_usernames_are_unique_regardless_of_case_and_validated(api) -> None:
    await api.register("erin")
    r = await api.http.post(
        "/auth/register", json={"username": "erin", "password": "correct horse battery"}
    )
    assert (
        r.status_code == 400
        and r.json()["errors"]["username"]["_errors"][0]["code"] == "USERNAME_ALREADY_TAKEN"
    )
    for bad in ("Erin", "a", "x" * 33, "two..dots", "spa ce", "émile"):
        r = await api.http.post(
            "/auth/register", json={"username": bad, "password": "correct horse battery"}
        )
        assert r.status_code == 400 and r.json()["code"] == 50035, bad
    r = await api.http.post("/auth/register", json={"username": "frank", "password": "short"})
    assert r.json()["errors"]["password"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"


async def test_requests_without_or_with_bad_tokens_are_401(api) -> None:
    for headers in (
        {},
        {"Authorization": "garbage"},
        {"Authorization": "Bot garbage"},
        {"Authorization": "x" * 2000},
    ):
        r = await api.http.get("/users/@me", headers=headers)
        assert r.status_code == 401 and r.json() == {"message": "401: Unauthorized", "code": 0}


async def test_refresh_rotates_and_reuse_revokes_the_session(api) -> None:
    alice = await api.register()
    r = await api.http.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 200
    rotated = r.json()
    old_token_works = await api.http.get("/users/@me", headers={"Authorization": alice.token})
    assert old_token_works.status_code == 401  # the access token rotated too
    assert (
        await api.http.get("/users/@me", headers={"Authorization": rotated["token"]})
    ).status_code == 200
    # Someone replays the old refresh token: the session is revoked for everyone.
    replay = await api.http.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert replay.status_code == 401
    assert (
        await api.http.get("/users/@me", headers={"Authorization": rotated["token"]})
    ).status_code == 401
    again = await api.http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401


async def test_tokens_expire_and_refresh_tokens_outlive_them(api, clock, ctx) -> None:
    alice = await api.register()
    clock.advance(seconds=ctx.settings.session_ttl + 1)
    assert (await api.http.get("/users/@me", headers=alice.auth)).status_code == 401
    r = await api.http.post("/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 200
    clock.advance(seconds=ctx.settings.refresh_ttl + 1)
    r = await api.http.post("/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
    assert r.status_code == 401


async def test_logout_revokes_only_that_session(api) -> None:
    await api.register("gina")
    one = (
        await api.http.post(
            "/auth/login", json={"login": "gina", "password": "correct horse battery"}
        )
    ).json()
    two = (
        await api.http.post(
            "/auth/login", json={"login": "gina", "password": "correct horse battery"}
        )
    ).json()
    r = await api.http.post("/auth/logout", headers={"Authorization": one["token"]})
    assert r.status_code == 204
    assert (
        await api.http.get("/users/@me", headers={"Authorization": one["token"]})
    ).status_code == 401
    assert (
        await api.http.get("/users/@me", headers={"Authorization": two["token"]})
    ).status_code == 200
    refresh = await api.http.post("/auth/refresh", json={"refresh_token": one["refresh_token"]})
    assert refresh.status_code == 401


async def test_sessions_can_be_listed_and_revoked(api) -> None:
    alice = await api.register("hana")
    other = (
        await api.http.post(
            "/auth/login", json={"login": "hana", "password": "correct horse battery"}
        )
    ).json()
    sessions = (await api.call(alice, "GET", "/auth/sessions"))["user_sessions"]
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    victim = next(s["id"] for s in sessions if not s["current"])
    await api.call(alice, "POST", "/auth/sessions/logout", 204, json={"session_ids": [victim]})
    assert (
        await api.http.get("/users/@me", headers={"Authorization": other["token"]})
    ).status_code == 401


async def test_password_change_signs_out_everywhere_else(api) -> None:
    alice = await api.register("ivan")
    body = await api.call(
        alice,
        "PATCH",
        "/users/@me",
        json={"password": "correct horse battery", "new_password": "another long passphrase"},
    )
    assert (await api.http.get("/users/@me", headers=alice.auth)).status_code == 401
    assert (
        await api.http.get("/users/@me", headers={"Authorization": body["token"]})
    ).status_code == 200
    r = await api.http.post(
        "/auth/login", json={"login": "ivan", "password": "another long passphrase"}
    )
    assert r.status_code == 200
    wrong = await api.http.patch(
        "/users/@me",
        headers={"Authorization": body["token"]},
        json={"password": "not it at all", "new_password": "whatever whatever"},
    )
    assert wrong.status_code == 400


async def test_weak_hashes_are_upgraded_at_login(api, db) -> None:
    from argon2 import PasswordHasher

    alice = await api.register("judy")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", int(alice.id), weak)
    r = await api.http.post(
        "/auth/login", json={"login": "judy", "password": "correct horse battery"}
    )
    assert r.status_code == 200
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", int(alice.id))
    assert stored != weak and not credentials.needs_rehash(stored)


async def test_registration_can_be_closed(api, ctx) -> None:
    ctx.settings = ctx.settings.replace(registration="closed")
    r = await api.http.post(
        "/auth/register", json={"username": "kim", "password": "correct horse battery"}
    )
    assert r.status_code == 403 and r.json()["code"] == 40008


async def test_profile_update(api) -> None:
    alice = await api.register("lena")
    await api.register("taken")
    me = await api.call(alice, "PATCH", "/users/@me", json={"global_name": "Lena L."})
    assert me["global_name"] == "Lena L."
    r = await api.http.patch("/users/@me", headers=alice.auth, json={"username": "TAKEN".lower()})
    assert r.status_code == 400
    me = await api.call(alice, "PATCH", "/users/@me", json={"username": "lena2"})
    assert me["username"] == "lena2"


async def test_user_lookup(api) -> None:
    alice, bob = await api.register(), await api.register()
    user = await api.call(alice, "GET", f"/users/{bob.id}")
    assert user["id"] == bob.id and "email" not in user
    await api.call(alice, "GET", "/users/123", 404)


@pytest.mark.parametrize("field", ["username", "password"])
async def test_nul_and_surrogates_are_rejected_not_500(api, field) -> None:
    body = {"username": "okname", "password": "correct horse battery"}
    for bad in ("a\x00b" * 3, "\ud800abcdefgh"):
        r = await api.http.post(
            "/auth/register",
            content=_json_with(body, field, bad),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400, r.text


def _json_with(body: dict, field: str, value: str) -> bytes:
    import json

    return json.dumps({**body, field: value}).encode()


async def test_database_outage_is_a_clean_500_not_a_leak(api, db) -> None:
    alice = await api.register()
    await db.close()
    r = await api.http.get("/users/@me", headers=alice.auth)
    assert r.status_code == 500 and r.json() == {"message": "500: Internal Server Error", "code": 0}


async def test_oversized_bodies_are_refused_before_parsing(api) -> None:
    alice = await api.register()
    huge = b'{"content": "' + b"x" * (2 << 20) + b'"}'
    r = await api.http.post(
        "/users/@me/channels",
        headers={**alice.auth, "content-type": "application/json"},
        content=huge,
    )
    assert r.status_code == 413 and r.json()["code"] == 40005

    async def chunks():
        for _ in range(40):
            yield b"x" * 65536

    r = await api.http.post(
        "/users/@me/channels",
        headers={**alice.auth, "content-type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413


async def test_unknown_routes_and_methods_have_discord_bodies(api) -> None:
    r = await api.http.get("/no/such/route")
    assert r.status_code == 404 and r.json() == {"message": "404: Not Found", "code": 0}
    r = await api.http.put("/gateway")
    assert r.status_code == 405 and "GET" in r.headers["allow"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 50_000 + b"]" * 50_000,  # deep nesting
        b'{"content": ' + b"9" * 5000 + b"}",  # a number Python refuses to parse
        b'{"content": "\xff\xfe"}',  # not UTF-8
        b'{"content": "\\ud800"}',  # a lone surrogate
        b'{"content": "a\\u0000b"}',  # NUL
        b'{"content": "hi", "nonce": ' + b"9" * 40 + b"}",  # nonce out of range
        b'{"content": "hi", "embeds": {"title": 1}}',  # object where a list belongs
        b"[]",
        b"null",
        b'"text"',
        b"",
        b"{",
    ],
)
async def test_hostile_bodies_get_400_not_500(api, raw) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        r = await api.http.post(
            f"/channels/{channel}/messages",
            headers={**owner.auth, "content-type": content_type},
            content=raw,
        )
        assert 400 <= r.status_code < 500, (content_type, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/json"
