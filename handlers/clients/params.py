"""The types of an operation's parameters: the base model, and durations as authors write them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
# Of durations and rates (a rate takes s, m, h).
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from `250ms`, `2s`, `10m`, `1h`, `7d` or a bare number of seconds.

    Raises:
        ValueError: the value is none of these.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match:
            return float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    raise ValueError(f"'{value}' is not a duration; write e.g. 250ms, 2s, 10m, 1h, 7d or 30")


def parse_later(text: str) -> int:
    """Epoch ms from `2h` / `+2h` (that long from now) or an ISO 8601 time (`2026-12-03T22:00Z`;
    UTC when it names no offset) that is still to come.

    Raises:
        ValueError: the text is neither, or the time has passed.
    """
    try:
        return int((time.time() + parse_duration(text.strip().removeprefix("+"))) * 1000)
    except ValueError:
        pass
    at_ms = _time_ms(text, "is neither a time (2026-12-03T22:00Z) nor a duration (2h, 30m)")
    if at_ms <= time.time() * 1000:
        raise ValueError(f"'{text}' is in the past")
    return at_ms


def parse_earlier(text: str) -> int:
    """Epoch ms from `24h` (that long ago) or an ISO 8601 time (`2026-12-01T00:00Z`; UTC when it
    names no offset): where a `--since` starts.

    Raises:
        ValueError: the text is neither.
    """
    try:
        return int((time.time() - parse_duration(text.strip())) * 1000)
    except ValueError:
        return _time_ms(text, "is neither a duration (24h, 7d) nor a time (2026-12-01T00:00Z)")


def _time_ms(text: str, not_one: str) -> int:
    """Epoch ms of an ISO 8601 time (UTC when it names no offset); else `'text' not_one`."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' {not_one}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


DURATION_SCHEMA = {
    "description": "A duration: 250ms, 2s, 10m, 1h, 7d, or a number of seconds.",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"},
    ],
    "examples": ["2s", "10m"],
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_SCHEMA)]


class Params(BaseModel):
    """Base of every operation's parameter model: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
