"""argparse types shared by the commands: a bad value is a usage error that says why."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from handlers.clients.params import parse_duration


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, or a usage error saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return parse


def later_time(text: str) -> int:
    """Epoch ms from `2h` / `+2h` (from now) or an ISO 8601 time (`2026-12-03T22:00Z`; UTC
    when no offset is given)."""
    try:
        return int((time.time() + parse_duration(text.removeprefix("+"))) * 1000)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is neither a time (2026-12-03T22:00Z) nor a duration (2h, 30m)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
