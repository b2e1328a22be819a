"""The whole story against ``./spectrus up``: two people, a guild, moderation, restart."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_two_people_build_a_community(spectrus) -> None:
    server = spectrus()
    server.start()
    api = httpx.Client(base_url=f"{server.base}/api/v10", timeout=30)
    assert "Create the first account" in server.output()

    def register(name: str) -> dict[str, str]:
        r = api.post("/auth/register", json={"username": name, "password": "correct horse battery"})
        assert r.status_code == 201, r.text
        return {"Authorization": r.json()["token"]}

    def ok(r: httpx.Response, status: int = 200) -> object:
        assert r.status_code == status, (
            f"{r.request.method} {r.request.url} -> {r.status_code} {r.text}"
        )
        assert status == 204 or r.headers["content-type"] == "application/json"
        return r.json() if r.content else None

    owner, friend = register("owner"), register("friend")
    friend_id = ok(api.get("/users/@me", headers=friend))["id"]
    guild = ok(api.post("/guilds", headers=owner, json={"name": "Story Guild"}), 201)
    gid = guild["id"]
    topic = ok(
        api.post(
            f"/guilds/{gid}/channels", headers=owner, json={"name": "plans", "topic": "what next"}
        ),
        201,
    )
    ok(api.post(f"/guilds/{gid}/channels", headers=owner, json={"name": "Hangout", "type": 2}), 201)
    role = ok(
        api.post(
            f"/guilds/{gid}/roles", headers=owner, json={"name": "regulars", "color": 0x3366FF}
        )
    )
    invite = ok(api.post(f"/channels/{topic['id']}/invites", headers=owner, json={"max_uses": 1}))
    assert ok(api.get(f"/invites/{invite['code']}"))["guild"]["name"] == "Story Guild"
    ok(api.post(f"/invites/{invite['code']}", headers=friend))
    ok(api.put(f"/guilds/{gid}/members/{friend_id}/roles/{role['id']}", headers=owner), 204)

    hello = ok(
        api.post(f"/channels/{topic['id']}/messages", headers=owner, json={"content": "welcome!"})
    )
    reply = ok(
        api.post(
            f"/channels/{topic['id']}/messages",
            headers=friend,
            json={"content": "thanks", "message_reference": {"message_id": hello["id"]}},
        )
    )
    ok(
        api.patch(
            f"/channels/{topic['id']}/messages/{reply['id']}",
            headers=friend,
            json={"content": "thanks a lot"},
        )
    )
    typo = ok(
        api.post(f"/channels/{topic['id']}/messages", headers=friend, json={"content": "tpyo"})
    )
    ok(api.delete(f"/channels/{topic['id']}/messages/{typo['id']}", headers=friend), 204)
    history = ok(api.get(f"/channels/{topic['id']}/messages", headers=friend))
    assert [(m["author"]["username"], m["content"]) for m in history] == [
        ("friend", "thanks a lot"),
        ("owner", "welcome!"),
    ]
    assert (
        history[0]["edited_timestamp"] is not None
        and history[0]["referenced_message"]["id"] == hello["id"]
    )

    ok(
        api.put(
            f"/guilds/{gid}/bans/{friend_id}",
            headers={**owner, "X-Audit-Log-Reason": "testing%20bans"},
        ),
        204,
    )
    assert api.get(f"/channels/{topic['id']}/messages", headers=friend).status_code == 403
    ok(api.delete(f"/guilds/{gid}/bans/{friend_id}", headers=owner), 204)

    log = ok(api.get(f"/guilds/{gid}/audit-logs", headers=owner))
    kinds = [e["action_type"] for e in log["audit_log_entries"]]
    for expected in (10, 30, 40, 25, 22, 23):  # channel, role, invite, role given, ban, unban
        assert expected in kinds, (expected, kinds)
    ban = next(e for e in log["audit_log_entries"] if e["action_type"] == 22)
    assert ban["target_id"] == friend_id and ban["reason"] == "testing bans"
    assert kinds.index(23) < kinds.index(22)  # newest first

    # Ctrl-C stops cleanly; everything is there after the next start.
    assert server.interrupt() == 0
    assert "Spectrus stopped." in server.output()
    pg_log = (server.data_dir / "postgres" / "server.log").read_text()
    assert pg_log.rstrip().endswith("database system is shut down")
    server.start()
    again = ok(api.get(f"/channels/{topic['id']}/messages", headers=owner))
    assert [m["content"] for m in again] == ["thanks a lot", "welcome!"]
