"""The gateway's Prometheus metrics: connections, logins, and what reaches clients.

The time from an event's commit to its delivery is not measured: the bus envelope
(``BusEvent``) carries the stream, seq and epoch but no commit time (only the outbox row
has ``created_at``), so this process cannot know it without changing the envelope."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
