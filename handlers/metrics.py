"""Prometheus metrics of the handlers (worker and rules), in the process-wide default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RULES_LOADED = Gauge("router_rules_loaded", "Rules in the rule set in use.")
RULES_RELOAD_FAILURES = Counter(
    "router_rules_reload_failures_total",
    "Reloads of the rules file that failed (the last good rules stay in use).",
)
