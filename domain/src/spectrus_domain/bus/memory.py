"""The bus inside one process (``spectrus up``): publish hands events to every
subscription that follows their stream, in order, without copying them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence

from spectrus_domain.bus import PUBLISHED, BusEvent, BusReset


class MemorySubscription:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._streams: set[int] = set()
        self._queue: asyncio.Queue[BusEvent | BusReset | None] = asyncio.Queue()

    async def follow(self, stream_ids: Iterable[int]) -> None:
        self._streams.update(stream_ids)

    async def unfollow(self, stream_ids: Iterable[int]) -> None:
        self._streams.difference_update(stream_ids)

    def deliver(self, event: BusEvent) -> None:
        if event.stream_id in self._streams:
            self._queue.put_nowait(event)

    async def messages(self) -> AsyncIterator[BusEvent | BusReset]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def close(self) -> None:
        self._bus.subscriptions.discard(self)
        self._queue.put_nowait(None)


class MemoryBus:
    def __init__(self) -> None:
        self.subscriptions: set[MemorySubscription] = set()

    async def publish(self, events: Sequence[BusEvent]) -> None:
        PUBLISHED.inc(len(events))
        for subscription in self.subscriptions:
            for event in events:
                subscription.deliver(event)

    async def subscribe(self) -> MemorySubscription:
        subscription = MemorySubscription(self)
        self.subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        for subscription in list(self.subscriptions):
            await subscription.close()
