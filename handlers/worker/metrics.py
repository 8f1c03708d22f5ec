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
    "Events not acted on because KuFlow contradicts them (unverified) or cannot vouch for "
    "them (cannot_be_verified).",
    ["reason"],
)
FAILURES = Counter(
    "router_failures_total",
    "Failures (dead letters of one cause) opened — a cause not seen before — or reopened after "
    "being resolved.",
    ["rule", "action", "outcome"],
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
CONNECTION_TRANSITIONS = Counter(
    "router_connection_transitions_total",
    "Changes of a connection's breaker this worker caused, by connection and what it became "
    "(opened, half_open, reopened, closed).",
    ["connection", "to"],
)
CALLS_HELD = Counter(
    "router_calls_held_total",
    "Calls held back by a connection's gate (not attempts), by connection and reason (paused, "
    "open, probing, concurrency, rate).",
    ["connection", "reason"],
)
ALERTS = Counter(
    "router_alerts_total",
    "Alerts of rules.yaml's `alerts:`, by alert and outcome (sent, folded, failed).",
    ["alert", "outcome"],
)
TIMERS = Counter(
    "router_timers_total",
    "Timers of rules with `after:`, by rule and what happened (started, fired, cancelled, "
    "refused — a cap was reached and the starting event was dead-lettered).",
    ["rule", "outcome"],
)
TIMER_LATENESS = Histogram(
    "router_timer_lateness_seconds",
    "How long after its due time a timer fired.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


def dlq_trimmed(reason: str, count: int) -> None:
    """Count dead-letter entries the queue's limits removed (store/dlq.py tells of each trim)."""
    DLQ_TRIMMED.labels(reason).inc(count)
