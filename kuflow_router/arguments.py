"""argparse types shared by the commands: a bad value is a usage error that says why."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from handlers.clients.params import parse_later


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
    """An argparse type: epoch ms from `2h` / `+2h` (from now) or an ISO 8601 time."""
    try:
        return parse_later(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
