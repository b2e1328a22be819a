"""Link previews, added after a message is sent as Discord does: the message goes out at
once, a few workers fetch its links, and the previews arrive as a MESSAGE_UPDATE.

The queue is bounded: when it is full a message simply gets no previews (a preview is a
nicety; the send must never wait on someone else's web server). Recent previews are kept
for a while so a link pasted by many people is fetched once. Jobs live in this process
only: previews pending when it stops are not fetched.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from spectrus_api.embeds.fetcher import Refused, SafeFetcher
from spectrus_api.embeds.metadata import embed_for
from spectrus_domain import links, shapes
from spectrus_domain.actions import messages
from spectrus_domain.context import Context

log = logging.getLogger("spectrus.previews")

IMAGE_HEADER_BYTES = 64 << 10  # enough for the dimensions of any common format
CACHE_SIZE = 512
CACHE_SECONDS = 600.0


@dataclass(frozen=True)
class Job:
    channel_id: int
    message_id: int
    urls: list[str]


def image_size(data: bytes) -> tuple[int, int] | None:
    """An image's dimensions from its first bytes (Pillow reads only the header)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # anything unreadable is simply an image without known size
        return None


class LinkPreviewer:
    def __init__(
        self,
        ctx: Context,
        fetcher: SafeFetcher,
        *,
        workers: int = 4,
        queue_size: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.fetcher = fetcher
        self.workers = workers
        self.queue: asyncio.Queue[Job] = asyncio.Queue(queue_size)
        self.dropped = 0
        self._monotonic = monotonic
        self._cache: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []

    def submit(self, message: dict[str, Any]) -> None:
        """Queue the links of a message just sent or edited (a message object)."""
        if message["flags"] & shapes.FLAG_SUPPRESS_EMBEDS:
            return
        urls = links.preview_urls(message["content"])
        if not urls:
            return
        try:
            self.queue.put_nowait(Job(int(message["channel_id"]), int(message["id"]), urls))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("link preview queue full; message %s gets no previews", message["id"])

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await self.run(job)
            except Exception:
                log.exception("link previews for message %d failed", job.message_id)
            finally:
                self.queue.task_done()

    async def run(self, job: Job) -> bool:
        found = await asyncio.gather(*(self.preview(url) for url in job.urls))
        embeds = [e for e in found if e is not None]
        if not embeds:
            return False
        return await messages.set_link_embeds(
            self.ctx, job.channel_id, job.message_id, job.urls, embeds
        )

    async def preview(self, url: str) -> dict[str, Any] | None:
        now = self._monotonic()
        cached = self._cache.get(url)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            self._cache.move_to_end(url)
            return cached[1]
        embed = await self._fetch_preview(url)
        self._cache[url] = (now, embed)
        self._cache.move_to_end(url)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return embed

    async def _fetch_preview(self, url: str) -> dict[str, Any] | None:
        try:
            page = await self.fetcher.fetch(url)
        except Refused as why:
            log.info("no preview for a link: %s", why)
            return None
        if not 200 <= page.status < 300:
            return None
        embed = embed_for(page.url, page.content_type, page.body)
        if embed is None:
            return None
        thumbnail = embed.get("thumbnail")
        if thumbnail is not None:
            if thumbnail["url"] == page.url:  # the link is the image itself
                size = image_size(page.body)
            else:
                size = await self._remote_image_size(thumbnail["url"])
            if size is None:
                del embed["thumbnail"]  # not an image we could read: no broken picture
            else:
                thumbnail["width"], thumbnail["height"] = size
        return embed

    async def _remote_image_size(self, url: str) -> tuple[int, int] | None:
        try:
            image = await self.fetcher.fetch(url, accept="image/*", max_bytes=IMAGE_HEADER_BYTES)
        except Refused:
            return None
        if not 200 <= image.status < 300 or not image.content_type.startswith("image/"):
            return None
        return image_size(image.body)
