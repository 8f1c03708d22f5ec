"""Dotted paths into an event: `data.processId`, `process.metadata.value.tags.0`.

A segment that is a number indexes a list; any other segment applied to a list is applied to
each element (so `process.entity.value.lines.sku` finds every line's sku). Resolution returns
every value found: an empty list means the path is absent.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

ORDERING_ROOT = "ordering"  # what the router says of the event's turn: late, seq
EVENT_ROOTS = ("id", "type", "version", "timestamp", "data", ORDERING_ROOT)
# What an event holds as it arrives: what cancels a timer may look at (`unless:`).
ARRIVAL_ROOTS = ("id", "type", "version", "timestamp", "data")
ENRICHMENT_ROOTS = ("process", "processItem")
MATCH_ROOTS = EVENT_ROOTS + ENRICHMENT_ROOTS
TIMER_ROOT = "timer"  # a fired timer's due_at, started_by (a rule with `after:`)
TIMER_FIELDS = ("due_at", "started_by")
TEMPLATE_ROOTS = (*MATCH_ROOTS, "results", "rule", "idempotency_key", TIMER_ROOT)

Segments = tuple[str | int, ...]


def parse(path: str) -> Segments:
    """Split a dotted path; numeric segments become list indexes.

    Raises:
        ValueError: an empty segment (`a..b`, a leading or trailing dot).
    """
    parts = path.split(".")
    if any(part == "" for part in parts):
        raise ValueError(f"'{path}' has an empty segment; write segments separated by single dots")
    return tuple(int(part) if part.isdigit() else part for part in parts)


def suggest(word: str, choices: Iterable[str]) -> str:
    """` — did you mean 'x'?` when a close choice exists, else a list of the choices."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f" — did you mean '{close[0]}'?"
    return " (expected one of: " + ", ".join(options) + ")"


def resolve(document: Any, segments: Segments) -> list[Any]:
    """Every value at `segments` in `document` (an empty list when the path is absent)."""
    current = [document]
    for segment in segments:
        found: list[Any] = []
        for value in current:
            _step(value, segment, found)
        if not found:
            return []
        current = found
    return current


def _step(value: Any, segment: str | int, found: list[Any]) -> None:
    if isinstance(value, dict):
        key = str(segment)
        if key in value:
            found.append(value[key])
    elif isinstance(value, list):
        if isinstance(segment, int):
            if segment < len(value):
                found.append(value[segment])
        else:
            for item in value:
                _step(item, segment, found)


def resolve_one(document: Any, segments: Segments) -> tuple[bool, Any]:
    """The single value at a path for templates: (found, value); lists are not flattened."""
    current = document
    for segment in segments:
        if isinstance(current, dict) and str(segment) in current:
            current = current[str(segment)]
        elif isinstance(current, list) and isinstance(segment, int) and segment < len(current):
            current = current[segment]
        else:
            return False, None
    return True, current
