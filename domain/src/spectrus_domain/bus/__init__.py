"""Fan-out of committed events to gateways: the event envelope and the bus interface.

PostgreSQL's outbox is the truth; the bus only rings the doorbell, fast. Each envelope
carries the stream, its seq and epoch, and the event itself, so a reader that sees every
message never reads the database, and a reader that sees a gap or a new epoch backfills
from the outbox. Ephemeral events (presence, voice states) travel with ``seq=None``:
they are not stored and are not replayed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class BusEvent:
    stream_id: int
    seq: int | None
    epoch: int
    event: str
    data: dict[str, Any]
    guild_id: int | None = None
    channel_id: int | None = None
    user_ids: tuple[int, ...] | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            [
                self.stream_id,
                self.seq,
                self.epoch,
                self.event,
                self.data,
                self.guild_id,
                self.channel_id,
                self.user_ids,
            ]
        )

    @staticmethod
    def decode(raw: bytes | str) -> BusEvent:
        stream_id, seq, epoch, event, data, guild_id, channel_id, user_ids = orjson.loads(raw)
        return BusEvent(
            stream_id,
            seq,
            epoch,
            event,
            data,
            guild_id,
            channel_id,
            tuple(user_ids) if user_ids is not None else None,
        )


@dataclass(frozen=True, slots=True)
class BusReset:
    """The bus lost messages it cannot name (reconnect, restart, flush): every stream a
    reader follows must be checked against the database."""

    reason: str


class Subscription(Protocol):
    """One reader's view of the bus: the streams it follows, and what arrives for them."""

    async def follow(self, stream_ids: Iterable[int]) -> None: ...

    async def unfollow(self, stream_ids: Iterable[int]) -> None: ...

    def messages(self) -> AsyncIterator[BusEvent | BusReset]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    async def publish(self, events: Sequence[BusEvent]) -> None: ...

    async def subscribe(self) -> Subscription: ...

    async def close(self) -> None: ...
