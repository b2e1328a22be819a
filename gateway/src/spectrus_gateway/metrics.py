"""The gateway's Prometheus metrics: connections, logins, and what reaches clients.

Commit-to-delivery compares the commit time stamped in the event envelope by the
writing process with this process's clock, so across machines it includes their clock
skew (NTP keeps that to a millisecond or so). Events read back from the outbox carry the
time their transaction began instead: a backfill shows as the delay it really was."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from spectrus_domain.metrics import LATENCY_BUCKETS

CONNECTIONS = Gauge(
    "spectrus_gateway_connections",
    "Open gateway WebSocket connections",
    multiprocess_mode="livesum",
)
IDENTIFIES = Counter("spectrus_gateway_identifies", "Sessions started by IDENTIFY (READY sent)")
RESUMES = Counter(
    "spectrus_gateway_resumes",
    "RESUME requests, by whether the session continued (ok) or must identify (invalid)",
    ["result"],
)
DISPATCHES = Counter(
    "spectrus_gateway_dispatches", "Dispatches (op 0) sent to clients, replays included"
)
SLOW_CONSUMERS_DROPPED = Counter(
    "spectrus_gateway_slow_consumers_dropped",
    "Connections cut off because the client did not read its frames (it may resume)",
)

for _result in ("ok", "invalid"):  # both series exist from the start
    RESUMES.labels(_result)
COMMIT_TO_DELIVERY = Histogram(
    "spectrus_gateway_commit_to_delivery_seconds",
    "Time from an event's commit to its hand-off to the connections of the sessions that "
    "see it, once per event and gateway",
    buckets=LATENCY_BUCKETS,
)
