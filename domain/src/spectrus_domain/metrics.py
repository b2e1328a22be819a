"""Prometheus metrics: the shared plumbing every Spectrus process uses to serve them.

Each service keeps its own metrics next to its code (the api's request middleware, the
gateway's connection counters, the bus's publish counters, the database pool and the media
node's packet counters); this module only renders them, as ``GET /metrics`` in the text
exposition format (OpenMetrics when the scraper asks for it).

Conventions: names start with ``spectrus_``, values are in base units (seconds, bytes),
counters end in ``_total``, and no label ever carries an id (user, channel, guild,
session): every label has a small, fixed set of values. What lives elsewhere and is cheap
to read when scraped (pool sizes, the native voice router's counters) is read by a
``Collector`` at scrape time, never counted per request or per packet.

One process serves one worker, so the default registry is the whole truth and also brings
``process_*`` (CPU, memory, file descriptors) and ``python_*`` metrics. When
``PROMETHEUS_MULTIPROC_DIR`` is set (several workers forked behind one port),
``/metrics`` aggregates every worker's counters, gauges and histograms from that directory
with prometheus_client's ``MultiProcessCollector``; gauges say how workers add up
(``livesum``). Scrape-time collectors then report the answering worker only, and the
``process_*`` metrics are not available in that mode.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

PREFIX = "spectrus_"

# ``*_created`` series double every counter's series count for a value nobody charts.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Buckets for request-like latencies, in seconds: 1 ms to 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_scrape_time: list[Collector] = []


def register_collector(collector: Collector) -> Collector:
    """Add a scrape-time collector (once per process, at import of its module)."""
    REGISTRY.register(collector)
    _scrape_time.append(collector)
    return collector


def registry() -> CollectorRegistry:
    """What ``/metrics`` shows: the default registry, or every worker's values when
    ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    combined = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    for collector in _scrape_time:
        combined.register(collector)
    return combined


def render(accept: str = "") -> tuple[bytes, str]:
    """The exposition body and its content type, for an ``Accept`` header."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry()), content_type


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class MetricsApp:
    """``GET /metrics`` as a plain ASGI application (the domain imports no web
    framework; every service routes its ``/metrics`` here). An instance, not a function,
    so that Starlette's ``Route`` hands it the raw ASGI call."""

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        await _serve(scope, send)


async def _serve(scope: Scope, send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await send(
            {
                "type": "http.response.start",
                "status": 405,
                "headers": [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"GET /metrics\n"})
        return
    accept = ""
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.decode("latin-1")
    body, content_type = render(accept)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


metrics_app = MetricsApp()
