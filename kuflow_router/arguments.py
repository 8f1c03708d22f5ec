"""argparse types shared by the commands: a bad value is a usage error that says why."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

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


def add_pause_parsers(sub: Any, what: str, pause: Any, resume: Any) -> None:
    """`pause NAME [--until TIME] [--reason TEXT]` and `resume NAME` under `sub`, for `what`
    (a connection's calls, a rule's actions), with their handlers."""
    paused = sub.add_parser("pause", help=f"hold {what} on purpose: nothing is lost")
    paused.add_argument("name", metavar="NAME")
    paused.add_argument("--until", type=later_time, metavar="TIME",
                        help="resume by itself then: 2026-12-03T22:00Z, or in 2h")  # fmt: skip
    paused.add_argument("--reason", metavar="TEXT", help="why, for the record and the audit log")
    paused.set_defaults(handler=pause)
    resumed = sub.add_parser("resume", help=f"let {what} go again; held work runs once")
    resumed.add_argument("name", metavar="NAME")
    resumed.set_defaults(handler=resume)
