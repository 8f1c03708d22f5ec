"""Prometheus metrics of the receiver, in the process-wide default registry."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge

from receiver.events import KNOWN_TYPES

EVENTS_RECEIVED = Counter(
    "router_events_received_total",
    "Webhook requests received, by event type and outcome.",
    ["type", "outcome"],
)
QUEUE_DEPTH = Gauge("router_queue_depth", "Jobs waiting in the queue (refreshed on scrape).")
PRIMARY_BEHIND = Gauge(
    "router_redis_primary_behind",
    "1 while this receiver refuses events because the Redis primary lacks some it acknowledged "
    "(with ROUTER_REDIS_MIN_REPLICAS), until `kuflow-router failover confirm`.",
)
DLQ_SIZE = Gauge("router_dlq_size", "Entries in the dead-letter queue (refreshed on scrape).")
CONNECTION_STATE = Gauge(
    "router_connection_state",
    "Each connection's circuit breaker, shared by every worker: 0 closed, 1 open, 2 half-open "
    "(`router:connection:*`, refreshed on scrape).",
    ["connection"],
)
WORKERS_ALIVE = Gauge(
    "router_workers_alive",
    "Workers whose heartbeat is fresh (`router:worker:*`, refreshed on scrape).",
)


def type_label(event_type: str | None) -> str:
    """Keep the label set bounded: an unknown type counts as `other`, no parsed type as `none`."""
    if event_type is None:
        return "none"
    return event_type if event_type in KNOWN_TYPES else "other"


def received(event_type: str | None, outcome: str) -> Any:
    """The counter of one (type, outcome)."""
    return _received(type_label(event_type), outcome)


@functools.cache  # bounded: the labels are the few known types, "other" and "none"
def _received(label: str, outcome: str) -> Any:
    return EVENTS_RECEIVED.labels(label, outcome)
