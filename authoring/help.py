"""What the keys of `limits:`, `breaker:` and `alerts:` mean, in the words an editor shows on
hover (the JSON Schema, `rules.schema.json`). A connection's settings and an operation's
parameters are described on their own fields (handlers/clients/); a test checks that nothing is
left undescribed."""

from __future__ import annotations

# The keys inside `limits:` and `breaker:`.
POLICY = {
    "rate": "At most this many calls: 20/s, 100/m or 1000/h, shared by every worker.",
    "burst": "How many calls may go at once after a quiet spell (default: one second's worth "
    "of the rate).",
    "concurrency": "At most this many calls in flight at once, across every worker.",
    "open_after": "Transient failures in a row (network, timeout, 5xx) that open the breaker "
    "(default 5). A 429 pauses instead.",
    "cooldown": "How long an open breaker holds calls before one probe call tries (default "
    "30s); it doubles while probes fail.",
    "max_cooldown": "The longest the cooldown grows to (default 10m).",
}

# The keys of an item of `alerts:`.
ALERT = {
    "name": "The alert's name, in logs, metrics and the deduplication key.",
    "when": "On what: dead_letter, breaker_opened, breaker_closed, reload_failed (default: all).",
    "window": "At most one alert per cause in this time (default 10m); the rest are counted "
    "into the next one ({{ alert.count }}).",
    "text": "The message; templates see alert.* (text, rule, action, connection, error, "
    "event_id, event_type, count, link …). Default: the router's own words.",
    "send": "One action that sends it: chat.slack: {}, chat.teams: {}, ops.request: {…}, "
    "kuflow.create_task: {…}. Its templates see alert.* only.",
}
