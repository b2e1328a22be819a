"""Fan-out of committed events to gateways: the event envelope and the bus interface.

PostgreSQL's outbox is the truth; the bus only rings the doorbell, fast. Each envelope
carries the stream, its seq and epoch, and the event itself, so a reader that sees every
message never reads the database, and a reader that sees a gap or a new epoch backfills
from the outbox. It also carries when the event was committed (for the gateways' commit-
to-delivery latency) and, when tracing is on, the ``traceparent`` of the write that made
it, so each gateway's dispatch joins the request's trace. Ephemeral events (presence,
voice states) travel with ``seq=None``: they are not stored and are not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from spectrus_domain import tracing

log = logging.getLogger("spectrus.bus")

_MAX_LINKS = 32

PUBLISHED = Counter(
    "spectrus_bus_published", "Events handed to the bus for publication (committed or ephemeral)"
)
PUBLISH_DROPPED = Counter(
    "spectrus_bus_publish_dropped_batches",
    "Batches of committed events not published because the bus fell behind "
    "(gateways backfill them from the outbox)",
)
BACKFILLS = Counter(
    "spectrus_bus_backfills",
    "Reads of the outbox by a gateway to repair what the bus did not bring "
    "(a gap, a reset, a stream head ahead of it)",
)
BACKFILLED_EVENTS = Counter(
    "spectrus_bus_backfilled_events", "Events a gateway read from the outbox in backfills"
)


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
    committed_at: float | None = None  # Unix time of the commit (the outbox row's, if read)
    trace: str | None = None  # W3C traceparent of the write, when tracing is on

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
                self.committed_at,
                self.trace,
            ]
        )

    @staticmethod
    def decode(raw: bytes | str) -> BusEvent:
        # Envelopes from a release before commit times had 8 fields: a rolling upgrade
        # runs both for a while.
        stream_id, seq, epoch, event, data, guild_id, channel_id, user_ids, *stamp = orjson.loads(
            raw
        )
        return BusEvent(
            stream_id,
            seq,
            epoch,
            event,
            data,
            guild_id,
            channel_id,
            tuple(user_ids) if user_ids is not None else None,
            *stamp[:2],
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


class BackgroundPublisher:
    """Publishes off the request path: writes hand their committed events over and
    return at once; one task publishes them in order. If the bus stalls and the queue
    fills, batches are dropped (and said so): readers repair gaps from the outbox, so a
    slow Redis costs latency, never a write."""

    def __init__(self, bus: Bus, *, max_batches: int = 10_000) -> None:
        self.bus = bus
        self.dropped = 0
        self._queue: asyncio.Queue[list[BusEvent]] = asyncio.Queue(max_batches)
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, events: list[BusEvent]) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            self._queue.put_nowait(events)
        except asyncio.QueueFull:
            self.dropped += 1
            PUBLISH_DROPPED.inc()
            if self.dropped % 1000 == 1:
                log.warning(
                    "bus is not keeping up: %d batches dropped so far (gateways backfill them)",
                    self.dropped,
                )

    def backlog(self) -> int:
        """Batches waiting to be published."""
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            batch = await self._queue.get()
            while not self._queue.empty() and len(batch) < 1000:
                batch += self._queue.get_nowait()
            # A batch mixes the writes of many requests: its span continues the first
            # traced one's trace and links the others.
            traces = list(dict.fromkeys(e.trace for e in batch if e.trace))
            span = (
                tracing.span(
                    "bus publish",
                    kind=SpanKind.PRODUCER,
                    parent=traces[0],
                    links=traces[1:_MAX_LINKS],
                    attributes={"messaging.batch.message_count": len(batch)},
                )
                if traces
                else contextlib.nullcontext()
            )
            with span:
                try:
                    await self.bus.publish(batch)
                except Exception:
                    log.warning("publishing failed; gateways will backfill", exc_info=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
