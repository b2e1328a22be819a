"""Schemathesis over the served OpenAPI schema, as a member and as a stranger.

Every operation is fuzzed with all of schemathesis' checks, once with a fresh ordinary
member of a real guild (default @everyone permissions) and once with a fresh stranger.
Path ids are either generated or the real guild's, so requests reach real objects. On top
of the built-in checks, an authorization check fails any success a stranger gets on the
guild's objects, and any success a plain member gets on an operation that needs a
permission they lack (or someone else's message). Rate limits are off here (they are
tested on their own), and a 400 counts as accepted: Discord's API answers schema-valid
input that breaks a rule the schema cannot express (an unknown placeholder id, an empty
message, a taken username) with 400 Invalid Form Body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.errors import FailureGroup

pytestmark = pytest.mark.slow

EXAMPLES = 25
GUILD_SCOPED = ("guild_id", "channel_id", "message_id", "role_id", "application_id", "overwrite_id")
# What an ordinary member may not do to the guild's objects or the owner's.
NEEDS_PERMISSION = {
    ("PATCH", "/api/v10/guilds/{guild_id}"),
    ("DELETE", "/api/v10/guilds/{guild_id}"),
    ("POST", "/api/v10/guilds/{guild_id}/channels"),
    ("PATCH", "/api/v10/guilds/{guild_id}/channels"),
    ("PATCH", "/api/v10/channels/{channel_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}"),
    ("PUT", "/api/v10/channels/{channel_id}/permissions/{overwrite_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}/permissions/{overwrite_id}"),
    ("GET", "/api/v10/channels/{channel_id}/invites"),
    ("GET", "/api/v10/guilds/{guild_id}/invites"),
    ("DELETE", "/api/v10/invites/{code}"),
    ("POST", "/api/v10/channels/{channel_id}/messages/bulk-delete"),
    ("PUT", "/api/v10/channels/{channel_id}/messages/pins/{message_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}/messages/pins/{message_id}"),
    ("PUT", "/api/v10/channels/{channel_id}/pins/{message_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}/pins/{message_id}"),
    ("PATCH", "/api/v10/channels/{channel_id}/messages/{message_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}/messages/{message_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}"),
    ("DELETE", "/api/v10/channels/{channel_id}/messages/{message_id}/reactions/{emoji}"),
    ("DELETE", "/api/v10/channels/{channel_id}/messages/{message_id}/reactions"),
    ("POST", "/api/v10/guilds/{guild_id}/roles"),
    ("PATCH", "/api/v10/guilds/{guild_id}/roles"),
    ("PATCH", "/api/v10/guilds/{guild_id}/roles/{role_id}"),
    ("DELETE", "/api/v10/guilds/{guild_id}/roles/{role_id}"),
    ("PATCH", "/api/v10/guilds/{guild_id}/members/{user_id}"),
    ("DELETE", "/api/v10/guilds/{guild_id}/members/{user_id}"),
    ("PUT", "/api/v10/guilds/{guild_id}/members/{user_id}/roles/{role_id}"),
    ("DELETE", "/api/v10/guilds/{guild_id}/members/{user_id}/roles/{role_id}"),
    ("GET", "/api/v10/guilds/{guild_id}/bans"),
    ("GET", "/api/v10/guilds/{guild_id}/bans/{user_id}"),
    ("PUT", "/api/v10/guilds/{guild_id}/bans/{user_id}"),
    ("DELETE", "/api/v10/guilds/{guild_id}/bans/{user_id}"),
    ("GET", "/api/v10/guilds/{guild_id}/audit-logs"),
    ("GET", "/api/v10/applications/{application_id}"),
    ("POST", "/api/v10/applications/{application_id}/bot/reset"),
}


class World:
    """A guild owned by someone else, with one of everything to aim at."""

    def __init__(self, base: str) -> None:
        self.api = httpx.Client(base_url=f"{base}/api/v10", timeout=30)
        self.owner = self.register("fuzz_owner")
        guild = self.call("POST", "/guilds", json={"name": "Fuzzed"})
        channels = self.call("GET", f"/guilds/{guild['id']}/channels")
        channel = next(c["id"] for c in channels if c["type"] == 0)
        message = self.call("POST", f"/channels/{channel}/messages", json={"content": "target"})
        self.call(
            "PUT", f"/channels/{channel}/messages/{message['id']}/reactions/{quote('👍')}/@me"
        )
        role = self.call("POST", f"/guilds/{guild['id']}/roles", json={"name": "target role"})
        self.invite = self.call("POST", f"/channels/{channel}/invites", json={"max_age": 0})["code"]
        app = self.call("POST", "/applications", json={"name": "Target Bot"})
        # An ordinary member to aim moderation at (nobody may moderate the owner at all,
        # which would hide a missing permission check).
        bystander = self.register("fuzz_bystander")
        assert self.api.post(f"/invites/{self.invite}", headers=bystander).status_code == 200
        bystander_id = self.api.get("/users/@me", headers=bystander).json()["id"]
        r = self.api.put(
            f"/channels/{channel}/messages/{message['id']}/reactions/{quote('👍')}/@me",
            headers=bystander,
        )
        assert r.status_code == 204
        self.ids = {
            "guild_id": guild["id"],
            "channel_id": channel,
            "message_id": message["id"],
            "role_id": role["id"],
            "overwrite_id": role["id"],
            "user_id": bystander_id,
            "application_id": app["id"],
            "emoji": "👍",
        }
        self.guild_id = guild["id"]
        self.count = 0

    def register(self, name: str) -> dict[str, str]:
        r = self.api.post(
            "/auth/register", json={"username": name, "password": "correct horse battery"}
        )
        assert r.status_code == 201, r.text
        return {"Authorization": r.json()["token"]}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.api.request(method, path, headers=self.owner, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def identity(self, kind: str) -> dict[str, str]:
        self.count += 1
        user = self.register(f"fuzz_{kind}_{self.count}")
        if kind == "member":
            r = self.api.post(f"/invites/{self.invite}", headers=user)
            assert r.status_code == 200, r.text
        return user


def declared_fields(raw: dict[str, Any], method: str, path: str) -> set[str]:
    """The body fields an operation's schema declares (unknown ones are ignored)."""
    body = raw["paths"][path][method.lower()].get("requestBody", {})
    node = body.get("content", {}).get("application/json", {}).get("schema", {})
    for option in node.get("anyOf", [node]):
        if "$ref" in option:
            return set(
                raw["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]].get("properties", {})
            )
    return set(node.get("properties", {}))


def _bypass(kind: str, case: Any, status: int, real: bool, fields: set[str]) -> str | None:
    method, path = case.operation.method.upper(), case.operation.path
    if status >= 300 or not real:
        return None
    scoped = any("{" + p + "}" in path for p in GUILD_SCOPED)
    if kind == "stranger" and scoped:
        return f"a stranger got {status} on {method} {path}"
    if kind == "member" and (method, path) in NEEDS_PERMISSION:
        body = case.body if isinstance(case.body, dict) else {}
        if method == "PATCH" and not any(body.get(f) is not None for f in fields):
            return None  # nothing asked to change: a read the member may do anyway
        return f"a plain member got {status} on {method} {path} with {case.body!r}"
    return None


def _fuzz(
    operation: Any,
    kind: str,
    auth: dict[str, str],
    fixed: dict[str, str],
    fields: set[str],
    failures: list[str],
) -> int:
    """Run one operation's examples for one identity; return how many requests it sent."""
    sent = 0
    name = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), real=st.booleans())
    def run(case: Any, real: bool) -> None:
        nonlocal sent
        if real:
            for param in case.path_parameters or {}:
                if param in fixed:
                    case.path_parameters[param] = fixed[param]
        sent += 1
        try:
            response = case.call_and_validate(headers=auth)
        except FailureGroup as group:
            failures.extend(f"[{kind}] {name}: {f.title}: {str(f)[:500]}" for f in group.exceptions)
            return
        problem = _bypass(kind, case, response.status_code, real, fields)
        if problem:
            failures.append(f"[{kind}] {problem}")

    run()
    return sent


def test_fuzz_the_api_as_member_and_stranger(spectrus) -> None:
    server = spectrus()
    server.start()
    world = World(server.base)
    schema = schemathesis.openapi.from_url(f"{server.base}/api/v10/openapi.json")
    schema.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx",
        "400",
        "401",
        "403",
        "404",
        "409",
        "429",
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60
    failures: list[str] = []
    requests = 0
    for operation in operations:
        for kind in ("member", "stranger"):
            fixed = dict(world.ids)
            if kind == "member":
                fixed["code"] = world.invite  # strangers would simply join with it
            fields = declared_fields(schema.raw_schema, operation.method, operation.path)
            requests += _fuzz(operation, kind, world.identity(kind), fixed, fields, failures)
    print(f"\n{len(operations)} operations, {requests} requests, {len(failures)} failures")
    assert not failures, "\n".join(sorted(set(failures))[:60])
    # The target objects survived both identities.
    message = world.call(
        "GET", f"/channels/{world.ids['channel_id']}/messages/{world.ids['message_id']}"
    )
    assert message["content"] == "target" and not message["pinned"]
