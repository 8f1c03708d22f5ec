"""Idempotency keys: one stable UUID per action of a rule for an event (SPEC §4).

The namespace is a published constant, so users can compute the ids the router sends:
`uuid5(NAMESPACE, "{event id}/{rule name}/{action index}")`, the index counting from 0 within
the rule's `do` list.
"""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("6f1f4a52-2b7e-5c8e-9d3a-7b0e4c1d2a90")


def action_key(event_id: str, rule: str, index: int) -> str:
    """The idempotency key of action `index` of `rule` for one event."""
    return str(uuid5(NAMESPACE, f"{event_id}/{rule}/{index}"))
