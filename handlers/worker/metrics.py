"""Prometheus metrics of the worker, in the process-wide default registry."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_PROCESSED = Counter(
    "router_events_processed_total",
    "Events the worker finished, by outcome (done, partial, dead).",
    ["outcome"],
)
ACTIONS = Counter(
    "router_actions_total",
    "Action tries, by connection, operation and outcome (done, retrying, pending, dead, skipped).",
    ["connection", "operation", "outcome"],
)
EVENTS_REJECTED = Counter(
    "router_events_rejected_total",
    "Events not acted on because KuFlow contradicts them, by reason (unverified).",
    ["reason"],
)
DLQ_TRIMMED = Counter(
    "router_dlq_trimmed_total",
    "Dead-letter entries removed to keep the queue within its limits, by reason (age, size).",
    ["reason"],
)
ACTION_DURATION = Histogram(
    "router_action_duration_seconds",
    "How long one try of an action took, outbound calls included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
