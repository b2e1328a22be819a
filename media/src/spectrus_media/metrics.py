"""The media node's Prometheus metrics, read when scraped: voice sessions and rooms from
the node, packet counts from the native router's counters. Python never sees a packet,
so nothing is counted per packet here; the router sums its threads' counts once per
received batch and ``counters()`` reads the totals.

CPU per forwarded packet is not a metric of its own: dashboards divide
``rate(process_cpu_seconds_total)`` by ``rate(spectrus_voice_packets_forwarded_total)``.
"""

from __future__ import annotations

import collections
import weakref
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from spectrus_domain import metrics
from spectrus_media.node import MediaNode

DROP_PREFIX = "dropped_"


class MediaCollector(Collector):
    """Every running media node of the process (one; tests run several, which add up)."""

    def __init__(self) -> None:
        self.nodes: weakref.WeakSet[MediaNode] = weakref.WeakSet()

    def describe(self) -> Iterator[Metric]:
        return self._families(0, 0, collections.Counter())

    def collect(self) -> Iterator[Metric]:
        sessions = rooms = 0
        counters: collections.Counter[str] = collections.Counter()
        for node in list(self.nodes):
            stats = node.stats()
            sessions += stats.sessions
            rooms += stats.rooms
            counters.update(stats.counters)
        return self._families(sessions, rooms, counters)

    @staticmethod
    def _families(
        sessions: int, rooms: int, counters: collections.Counter[str]
    ) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "spectrus_voice_sessions",
            "Voice connections carrying packets on this node",
            value=sessions,
        )
        yield GaugeMetricFamily(
            "spectrus_voice_rooms", "Voice channels with at least one such connection", value=rooms
        )
        yield CounterMetricFamily(
            "spectrus_voice_packets_received",
            "Datagrams the voice router received",
            value=counters["received"],
        )
        yield CounterMetricFamily(
            "spectrus_voice_packets_forwarded",
            "Datagrams the voice router sent to listeners",
            value=counters["forwarded"],
        )
        dropped = CounterMetricFamily(
            "spectrus_voice_packets_dropped",
            "Datagrams the voice router dropped, by reason",
            labels=["reason"],
        )
        for name, value in sorted(counters.items()):
            if name.startswith(DROP_PREFIX):
                dropped.add_metric([name.removeprefix(DROP_PREFIX)], value)
        yield dropped


NODES = MediaCollector()
metrics.register_collector(NODES)
