"""Words for people: a count with its noun in the right number."""

from __future__ import annotations

import time


def plural(count: int, one: str, many: str = "") -> str:
    """`1 event`, `2 events`; `many` for an irregular plural (`1 entry`, `2 entries`)."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def elapsed(ms: int) -> str:
    """Time since a start as people read it: `+850 ms`, `+12.5 s`, `+3 min 20 s`, `+2 h 5 min`."""
    if ms < 1000:
        return f"+{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"+{seconds:.1f} s"
    minutes, second = divmod(int(seconds), 60)
    if minutes < 60:
        return f"+{minutes} min {second} s" if second else f"+{minutes} min"
    hours, minute = divmod(minutes, 60)
    return f"+{hours} h {minute} min" if minute else f"+{hours} h"


def rfc3339(ms: int) -> str:
    """A time in epoch milliseconds as RFC 3339 UTC with milliseconds, as KuFlow writes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
