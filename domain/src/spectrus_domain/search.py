"""Guild message search, Discord's ``GET /guilds/{id}/messages/search``, on PostgreSQL
full-text search.

Words are matched by ``websearch_to_tsquery`` ('simple' configuration: lowercased, no
stemming), so ``"exact phrase"``, ``-excluded`` and ``or`` work as people expect. Only
channels where the searcher may view and read history are searched; that list is
computed first and becomes part of the query, so nothing unreadable is ever fetched.
Each hit carries ``hit: true`` (Discord's shape) and ``matches``, the ``[start, end)``
character ranges of the searched words in its content, for clients to mark.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from spectrus_domain import queries
from spectrus_domain.access import Actor, channel_overwrites, guild_access, permissions_in
from spectrus_domain.context import Context
from spectrus_domain.permissions import Permission

COUNT_CAP = 10_000  # total_results counts this far; deeper pages are not served anyway
MAX_OFFSET = 9_975
HasKind = Literal["attachment", "file", "image", "video", "sound", "link", "embed"]
_WORD = re.compile(r"\"[^\"]*\"|\S+")
_LINK = r"https?://"


@dataclass(frozen=True)
class SearchQuery:
    content: str = ""
    author_ids: list[int] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)
    has: list[HasKind] = field(default_factory=list)
    min_id: int | None = None
    max_id: int | None = None
    pinned: bool | None = None
    mention_everyone: bool | None = None
    author_type: str | None = None  # "user" or "bot"
    sort_by: str = "timestamp"  # or "relevance"
    sort_order: str = "desc"
    limit: int = 25
    offset: int = 0


class _Where:
    """SQL conditions with numbered parameters, built up one filter at a time."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        self.parts.append(condition)

    def sql(self) -> str:
        return " AND ".join(self.parts)


_FILE_KINDS = {"image": "image/%", "video": "video/%", "sound": "audio/%"}


def _has(kind: HasKind) -> str:
    if kind in ("attachment", "file"):
        return "EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id)"
    if kind == "link":
        return f"m.content ~* '{_LINK}'"
    if kind == "embed":
        return "(m.embeds <> '[]'::jsonb OR m.link_embeds <> '[]'::jsonb)"
    pattern = _FILE_KINDS[kind]
    clause = (
        "EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id "
        f"AND a.content_type LIKE '{pattern}')"
    )
    if kind == "image":
        clause = f'({clause} OR m.link_embeds @> \'[{{"type": "image"}}]\'::jsonb)'
    return clause


def searched_words(content: str) -> list[str]:
    """The words a hit was found for: the query minus ``-excluded`` words and ``or``."""
    words: list[str] = []
    for token in _WORD.findall(content):
        if token.startswith("-") or token.lower() == "or":
            continue
        words += re.findall(r"\w+", token.lower())
    return list(dict.fromkeys(words))


def matches(text: str, words: list[str]) -> list[list[int]]:
    """Where ``words`` occur in ``text`` as whole words, as sorted ``[start, end)``."""
    spans = []
    for word in words:
        for found in re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE):
            spans.append([found.start(), found.end()])
    return sorted(spans)


async def search_messages(
    ctx: Context, actor: Actor, guild_id: int, q: SearchQuery
) -> dict[str, Any]:
    async with ctx.db.pool.acquire() as conn:
        access = await guild_access(conn, guild_id, actor.user_id, ctx.now())
        needed = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
        readable = [
            int(ch["id"])
            for ch in await queries.guild_channels(conn, guild_id)
            if permissions_in(access, ch, channel_overwrites(ch)) & needed == needed
        ]
        if q.channel_ids:
            readable = [c for c in readable if c in set(q.channel_ids)]
        where = _Where()
        where.add(f"m.guild_id = {where.arg(guild_id)}")
        where.add(f"m.channel_id = ANY({where.arg(readable)}::bigint[])")
        tsquery = None
        if q.content.strip():
            tsquery = f"websearch_to_tsquery('simple', {where.arg(q.content)})"
            where.add(f"m.search @@ {tsquery}")
        if q.author_ids:
            where.add(f"m.author_id = ANY({where.arg(q.author_ids)}::bigint[])")
        if q.mentions:
            where.add(f"m.mention_ids @> {where.arg(q.mentions)}::bigint[]")
        if q.min_id is not None:
            where.add(f"m.id > {where.arg(q.min_id)}")
        if q.max_id is not None:
            where.add(f"m.id < {where.arg(q.max_id)}")
        if q.pinned is not None:
            where.add("m.pinned_at IS NOT NULL" if q.pinned else "m.pinned_at IS NULL")
        if q.mention_everyone is not None:
            where.add(f"m.mention_everyone = {where.arg(q.mention_everyone)}")
        if q.author_type is not None:
            where.add(
                f"m.author_id IN (SELECT id FROM users WHERE bot = {where.arg(q.author_type == 'bot')})"
            )
        for kind in dict.fromkeys(q.has):
            where.add(_has(kind))
        direction = "ASC" if q.sort_order == "asc" else "DESC"
        order = f"m.id {direction}"
        if q.sort_by == "relevance" and tsquery is not None:
            order = f"ts_rank(m.search, {tsquery}) DESC, m.id DESC"
        total = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM messages m WHERE {where.sql()} LIMIT {COUNT_CAP}) c",
            *where.args,
        )
        rows = await conn.fetch(
            queries.MESSAGE_SELECT
            + f" WHERE {where.sql()} ORDER BY {order}"
            + f" LIMIT {int(q.limit)} OFFSET {int(min(q.offset, MAX_OFFSET))}",
            *where.args,
        )
        found = await queries.messages_from_rows(conn, list(rows), actor.user_id, ctx.urls())
    words = searched_words(q.content)
    for message in found:
        message["hit"] = True
        message["matches"] = matches(message["content"], words)
    return {
        "total_results": int(total),
        "messages": [[m] for m in found],
        "analytics_id": secrets.token_hex(16),
        "doing_deep_historical_index": False,
    }
