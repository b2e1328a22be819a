"""The operator's Prometheus metrics, served on their own port (kopf's health server is
separate): how often and how long reconciles run, how they end, and what they found."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "spectrus_operator_reconciles_total",
    "Reconciles of Community objects, by how they ended",
    ["result"],  # ok | error
)
RECONCILE_SECONDS = Histogram(
    "spectrus_operator_reconcile_duration_seconds",
    "Time one reconcile of a Community takes",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMMUNITIES = Gauge(
    "spectrus_operator_communities",
    "Communities this operator reconciles, by their Ready condition",
    ["ready"],  # True | False
)
MEDIA_DRAINING = Gauge(
    "spectrus_operator_media_pods_draining",
    "Media pods waiting for their calls to end before deletion",
)
