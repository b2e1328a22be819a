"""Publication off the request path: writes never wait for the bus."""

from __future__ import annotations

import asyncio

from spectrus_domain.bus import BackgroundPublisher, BusEvent
from spectrus_domain.bus.memory import MemoryBus


class GatedBus(MemoryBus):
    """A real in-process bus whose publish waits until the test opens the gate (a hung
    Redis, as far as the publisher can tell)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def publish(self, events):  # type: ignore[no-untyped-def]
        await self.gate.wait()
        await super().publish(events)


def _event(n: int) -> BusEvent:
    return BusEvent(1, n, 0, "MESSAGE_CREATE", {"n": n})


async def test_writes_do_not_wait_for_a_stalled_bus_and_order_is_kept() -> None:
    bus = GatedBus()
    sub = await bus.subscribe()
    await sub.follow([1])
    publisher = BackgroundPublisher(bus)
    async with asyncio.timeout(1):  # returns at once although the bus is stuck
        for n in range(1, 51):
            await publisher([_event(n)])
    bus.gate.set()
    got = []
    async with asyncio.timeout(5):
        async for message in sub.messages():
            got.append(message.seq)
            if len(got) == 50:
                break
    assert got == list(range(1, 51))
    await publisher.close()


async def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    bus = GatedBus()
    publisher = BackgroundPublisher(bus, max_batches=3)
    async with asyncio.timeout(1):
        for n in range(10):
            await publisher([_event(n)])
    assert publisher.dropped >= 6
    await publisher.close()
