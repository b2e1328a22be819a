"""Resumable sessions: what a gateway must know to continue a session anywhere.

A session's record names its user, intents and owner (the gateway connection serving it),
the streams it follows with the position reached in each, and a bounded log mapping each
``s`` it sent to what was sent: a stream event (``e:<stream>:<seq>``), a guild snapshot
(``g:<guild>``), READY (``r``) or an ephemeral payload (``i:<json>``). Entries are
appended *before* the frames leave, so a client resuming with ``s`` gets exactly the
entries after it, re-rendered, and then whatever its streams brought since.

The owner check makes a session belong to one connection at a time: when a client
resumes elsewhere, the old connection's appends fail and it closes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

LOG_LIMIT = 2000
"""Entries kept per session; a client further behind than this must identify again."""
RESUME_WINDOW = 180.0
"""Seconds a session stays resumable after its connection went away."""


@dataclass
class SessionRecord:
    session_id: str
    user_id: int
    bot: bool
    intents: int
    large_threshold: int
    owner: str
    seq: int = 0
    log_start: int = 1
    """The ``s`` of the oldest entry still in the log."""
    cursors: dict[int, int] = field(default_factory=dict)
    """Stream id -> the last seq of it this session has taken into account."""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Append:
    session_id: str
    owner: str
    entries: list[str]
    cursors: dict[int, int]
    """Streams whose position moved (or that the session now follows: a new key)."""
    dropped: list[int] = field(default_factory=list)
    """Streams the session no longer follows."""


MISSING = -1
"""``append``'s answer when the session's record is gone (expired, or the store was
flushed): the owner re-creates it from what it holds and appends again."""


class SessionStore(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def append(self, batch: list[Append]) -> list[int | None]:
        """Append each session's entries; the new ``seq`` of each, None where the caller
        no longer owns the session, or ``MISSING`` where its record is gone."""
        ...

    async def claim(self, session_id: str, owner: str) -> tuple[SessionRecord, list[str]] | None:
        """Take over a session (for RESUME): its record and its whole log."""
        ...

    async def release(self, session_id: str, owner: str) -> None:
        """The connection went away: keep the session resumable for a while."""
        ...

    async def touch(self, session_ids: list[str]) -> None:
        """Keep live sessions from expiring."""
        ...


def entry_event(stream_id: int, seq: int) -> str:
    return f"e:{stream_id}:{seq}"


def entry_guild(guild_id: int) -> str:
    return f"g:{guild_id}"


READY_ENTRY = "r"


class MemorySessionStore:
    """Sessions in this process (``spectrus up``, tests): the same rules as Redis."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._logs: dict[str, list[str]] = {}
        self._expires: dict[str, float] = {}
        self._clock = clock

    def _live(self, session_id: str) -> SessionRecord | None:
        expires = self._expires.get(session_id)
        if expires is not None and expires < self._clock():
            self._records.pop(session_id, None)
            self._logs.pop(session_id, None)
            self._expires.pop(session_id, None)
        return self._records.get(session_id)

    async def create(self, record: SessionRecord) -> None:
        self._records[record.session_id] = record
        self._logs[record.session_id] = []
        self._expires.pop(record.session_id, None)

    async def append(self, batch: list[Append]) -> list[int | None]:
        results: list[int | None] = []
        for item in batch:
            record = self._live(item.session_id)
            if record is None:
                results.append(MISSING)
                continue
            if record.owner != item.owner:
                results.append(None)
                continue
            log = self._logs[item.session_id]
            log.extend(item.entries)
            record.seq += len(item.entries)
            if len(log) > LOG_LIMIT:
                drop = len(log) - LOG_LIMIT
                del log[:drop]
                record.log_start += drop
            record.cursors.update(item.cursors)
            for stream in item.dropped:
                record.cursors.pop(stream, None)
            results.append(record.seq)
        return results

    async def claim(self, session_id: str, owner: str) -> tuple[SessionRecord, list[str]] | None:
        record = self._live(session_id)
        if record is None:
            return None
        record.owner = owner
        self._expires.pop(session_id, None)
        return (
            SessionRecord(**{**record.__dict__, "cursors": dict(record.cursors)}),
            list(self._logs[session_id]),
        )

    async def release(self, session_id: str, owner: str) -> None:
        record = self._live(session_id)
        if record is not None and record.owner == owner:
            self._expires[session_id] = self._clock() + RESUME_WINDOW

    async def touch(self, session_ids: list[str]) -> None:
        return None  # live sessions here have no expiry
