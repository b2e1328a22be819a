"""Search checked against brute force: a generated corpus (several authors, channels the
searcher may not read, mentions, links, embeds, files, pins), then edits and deletions,
then many random queries whose results must be exactly the messages a plain Python filter
over our own record of the corpus finds."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from spectrus_domain.permissions import Permission as P

WORDS = ["apple", "river", "stone", "cloud", "ember", "frost", "maple", "onyx", "quill", "raven"]


@dataclass
class Record:
    """What the test knows about one message."""

    id: int
    channel: str
    author: str
    words: list[str]
    mentions: list[str] = field(default_factory=list)
    link: bool = False
    embed: bool = False
    attachment: bool = False
    pinned: bool = False

    def content(self) -> str:
        # Words first: mentions and links after them keep word adjacency (phrases) simple.
        text = " ".join(self.words)
        text += "".join(f" <@{m}>" for m in self.mentions)
        return text + (" https://example.test/page" if self.link else "")


def _matches(words: list[str], query: str) -> bool:
    """websearch_to_tsquery's meaning for the queries generated below."""
    if query.startswith('"'):
        phrase = query.strip('"').split()
        return any(words[i : i + len(phrase)] == phrase for i in range(len(words)))
    tokens = query.split()
    if len(tokens) == 3 and tokens[1] == "or":
        return tokens[0] in words or tokens[2] in words
    return all((t[1:] not in words) if t.startswith("-") else (t in words) for t in tokens)


def _random_query(rng: random.Random) -> str:
    a, b = rng.sample(WORDS, 2)
    return rng.choice([a, f"{a} {b}", f"{a} -{b}", f'"{a} {b}"', f"{a} or {b}", ""])


async def _world(api: Any) -> tuple[Any, ...]:
    owner, alice, bob = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    for user in (alice, bob):
        await api.join(owner, user, guild)
    general = await api.text_channel(owner, guild)
    gid = guild["id"]
    hidden = (
        await api.call(owner, "POST", f"/guilds/{gid}/channels", 201, json={"name": "hidden"})
    )["id"]
    no_history = (
        await api.call(owner, "POST", f"/guilds/{gid}/channels", 201, json={"name": "nohistory"})
    )["id"]
    for channel, denied in ((hidden, P.VIEW_CHANNEL), (no_history, P.READ_MESSAGE_HISTORY)):
        await api.call(
            owner,
            "PUT",
            f"/channels/{channel}/permissions/{alice.id}",
            204,
            json={"type": 1, "deny": str(int(denied))},
        )
    return owner, alice, bob, gid, [general, hidden, no_history]


async def _post(api: Any, user: Any, record: Record) -> dict[str, Any]:
    payload: dict[str, Any] = {"content": record.content()}
    if record.embed:
        payload["embeds"] = [{"title": "embedded", "description": "x"}]
    if not record.attachment:
        return await api.send(
            user,
            record.channel,
            record.content(),
            **{k: v for k, v in payload.items() if k != "content"},
        )
    payload["attachments"] = [{"id": 0, "filename": "f.txt"}]
    return await api.call(
        user,
        "POST",
        f"/channels/{record.channel}/messages",
        data={"payload_json": json.dumps(payload)},
        files=[("files[0]", ("f.txt", b"file", "text/plain"))],
    )


async def _search(api: Any, user: Any, gid: str, params: dict[str, Any]) -> set[int]:
    found: list[int] = []
    total = -1
    offset = 0
    while True:
        page = await api.call(
            user, "GET", f"/guilds/{gid}/messages/search", params={**params, "offset": offset}
        )
        total = page["total_results"]
        found += [int(group[0]["id"]) for group in page["messages"]]
        offset += 25
        if offset >= total:
            break
    assert len(found) == len(set(found)) == total, "pages overlap or miss"
    return set(found)


async def test_search_agrees_with_brute_force(api) -> None:
    rng = random.Random(7)
    owner, alice, bob, gid, channels = await _world(api)
    users = {owner.id: owner, alice.id: alice, bob.id: bob}
    corpus: dict[int, Record] = {}
    for _ in range(160):
        channel = rng.choice(channels)
        author = rng.choice([u for u in users if not (u == alice.id and channel == channels[1])])
        record = Record(
            0,
            channel,
            author,
            rng.choices(WORDS, k=rng.randint(1, 6)),
            mentions=rng.sample(list(users), rng.choice([0, 0, 1, 2])),
            link=rng.random() < 0.2,
            embed=rng.random() < 0.15,
            attachment=rng.random() < 0.15,
        )
        sent = await _post(api, users[author], record)
        record.id = int(sent["id"])
        corpus[record.id] = record
    for record in rng.sample(list(corpus.values()), 25):  # edits change words and mentions
        record.words = rng.choices(WORDS, k=rng.randint(1, 6))
        record.mentions = rng.sample(list(users), rng.choice([0, 1]))
        await api.call(
            users[record.author],
            "PATCH",
            f"/channels/{record.channel}/messages/{record.id}",
            json={"content": record.content()},
        )
    for record in rng.sample(list(corpus.values()), 20):
        await api.call(owner, "DELETE", f"/channels/{record.channel}/messages/{record.id}", 204)
        del corpus[record.id]
    for record in rng.sample(list(corpus.values()), 8):
        await api.call(owner, "PUT", f"/channels/{record.channel}/pins/{record.id}", 204)
        record.pinned = True

    readable = {channels[0]}
    ids = sorted(corpus)
    checked = 0
    for _ in range(60):
        params: dict[str, Any] = {}
        query = _random_query(rng)
        if query:
            params["content"] = query
        if rng.random() < 0.3:
            params["author_id"] = rng.choice(list(users))
        if rng.random() < 0.2:
            params["channel_id"] = rng.choice(channels)
        if rng.random() < 0.2:
            params["mentions"] = rng.choice(list(users))
        if rng.random() < 0.3:
            params["has"] = rng.choice(["link", "embed", "attachment"])
        if rng.random() < 0.2:
            params["min_id"] = rng.choice(ids)
        if rng.random() < 0.1:
            params["pinned"] = "true"
        expected = {
            r.id
            for r in corpus.values()
            if r.channel in readable
            and _matches(r.words, query)
            and params.get("author_id", r.author) == r.author
            and params.get("channel_id", r.channel) == r.channel
            and ("mentions" not in params or params["mentions"] in r.mentions)
            and ("has" not in params or getattr(r, params["has"]))
            and r.id > int(params.get("min_id", 0))
            and (r.pinned or "pinned" not in params)
        }
        found = await _search(api, alice, gid, params)
        assert found == expected, params
        checked += 1 if expected else 0
    assert checked > 25  # most queries found something: the agreement is not vacuous

    everything = await _search(api, owner, gid, {})
    assert everything == set(corpus)  # the owner reads every channel


async def test_hits_mark_the_searched_words_and_sort(api) -> None:
    owner = await api.register()
    guild = await api.guild(owner)
    channel = await api.text_channel(owner, guild)
    first = await api.send(owner, channel, "Raven flies over the raven river, RAVEN!")
    second = await api.send(owner, channel, "one raven")
    page = await api.call(
        owner, "GET", f"/guilds/{guild['id']}/messages/search", params={"content": "raven -stone"}
    )
    hits = [group[0] for group in page["messages"]]
    assert [h["id"] for h in hits] == [second["id"], first["id"]]  # newest first
    assert hits[1]["hit"] is True
    text = hits[1]["content"]
    assert [text[a:b] for a, b in hits[1]["matches"]] == ["Raven", "raven", "RAVEN"]
    ranked = await api.call(
        owner,
        "GET",
        f"/guilds/{guild['id']}/messages/search",
        params={"content": "raven", "sort_by": "relevance"},
    )
    assert ranked["messages"][0][0]["id"] == first["id"]  # three mentions outrank one
    bad = await api.call(
        owner, "GET", f"/guilds/{guild['id']}/messages/search", 400, params={"has": "nonsense"}
    )
    assert bad["code"] == 50035
    outsider = await api.register()
    await api.call(outsider, "GET", f"/guilds/{guild['id']}/messages/search", 403)
    assert re.fullmatch(r"[0-9a-f]{32}", page["analytics_id"])
