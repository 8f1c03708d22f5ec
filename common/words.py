"""Words for people: a count with its noun in the right number."""

from __future__ import annotations


def plural(count: int, one: str, many: str = "") -> str:
    """`1 event`, `2 events`; `many` for an irregular plural (`1 entry`, `2 entries`)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
