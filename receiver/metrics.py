"""Prometheus metrics of the receiver, in the process-wide default registry."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge

from contract.events import type_label
from store.queue import Enqueuer

EVENTS_RECEIVED = Counter(
    "router_events_received_total",
    "Webhook requests received, by event type and outcome.",
    ["type", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "router_queue_depth",
    "Jobs waiting in the queue, timers not yet due aside (refreshed on scrape).",
)
TIMERS_PENDING = Gauge(
    "router_timers_pending",
    "Timers of rules with `after:` waiting to fire or be cancelled (refreshed on scrape).",
)
FAILURES = Gauge(
    "router_failures_in_state",
    "Failures (dead letters of one cause) by state: open, acknowledged, resolved (refreshed on "
    "scrape).",
    ["state"],
)
AUDIT_ENTRIES = Gauge(
    "router_audit_entries",
    "Entries the audit log holds (bounded by ROUTER_AUDIT_MAX_ENTRIES and "
    "ROUTER_AUDIT_RETENTION_DAYS; refreshed on scrape).",
)
PROCESSES_HELD = Gauge(
    "router_processes_held",
    "Processes whose later events wait behind a dead-lettered one (ROUTER_ORDERING_ON_FAILURE="
    "hold; refreshed on scrape).",
)
PROCESS_HELD_LONGEST = Gauge(
    "router_process_held_longest_seconds",
    "How long the longest held process has waited (0: none; refreshed on scrape).",
)
TIMERS_OVERDUE = Gauge(
    "router_timers_overdue",
    "Pending timers past their due time: no worker up, or an earlier event not yet begun "
    "(refreshed on scrape).",
)
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


def received(event_type: str | None, outcome: str) -> Any:
    """The counter of one (type, outcome)."""
    return _received(type_label(event_type), outcome)


@functools.cache  # bounded: the labels are the few known types, "other" and "none"
def _received(label: str, outcome: str) -> Any:
    return EVENTS_RECEIVED.labels(label, outcome)


def watch(enqueuer: Enqueuer) -> None:
    """`router_redis_primary_behind` shows whether `enqueuer` refuses events (store/queue.py)."""
    PRIMARY_BEHIND.set_function(lambda: 1 if enqueuer.behind_since_ms else 0)
