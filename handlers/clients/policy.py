"""How gently a connection is used: `limits:` (rate, burst, concurrency) and `breaker:`.

Both are settings of a connection in rules.yaml; `store/gate.py` enforces them across
every worker process through Redis.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from handlers.clients.params import UNIT_SECONDS, Duration

_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(s|m|h)")


def parse_rate(value: Any) -> float:
    """Calls per second from `20/s`, `100/m`, `1000/h` or a bare number per second.

    Raises:
        ValueError: the value is none of these, or not above zero.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        match = _RATE.fullmatch(value.strip())
        if match and float(match.group(1)) > 0:
            return float(match.group(1)) / UNIT_SECONDS[match.group(2)]
    raise ValueError(f"'{value}' is not a rate; write e.g. 20/s, 100/m or 1000/h")


RATE_SCHEMA = {
    "description": "Calls per second (20/s), per minute (100/m) or per hour (1000/h).",
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*/\s*(s|m|h)\s*$"},
    ],
    "examples": ["20/s", "100/m"],
}
Rate = Annotated[float, BeforeValidator(parse_rate), WithJsonSchema(RATE_SCHEMA)]


class Limits(BaseModel):
    """`limits:` — at most `rate` calls (with up to `burst` at once after a quiet spell) and
    `concurrency` calls in flight, shared by every worker. An action over a limit waits for
    its slot; that is not an attempt and not a failure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Rate | None = None
    burst: int | None = Field(default=None, ge=1, le=100_000)
    concurrency: int | None = Field(default=None, ge=1, le=10_000)

    @property
    def burst_calls(self) -> int:
        """The burst in force: as written, else one second's worth of the rate (at least 1)."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.rate or 1))

    def describe(self) -> str:
        """`rate 20/s, burst 40, concurrency 5`, as the dry run and the CLI show it."""
        parts = []
        if self.rate is not None:
            parts.append(f"rate {_rate_text(self.rate)}, burst {self.burst_calls}")
        if self.concurrency is not None:
            parts.append(f"concurrency {self.concurrency}")
        return ", ".join(parts) or "none"


def _rate_text(per_s: float) -> str:
    for unit in ("s", "m", "h"):
        count = per_s * UNIT_SECONDS[unit]
        if count >= 1 and abs(count - round(count)) < 1e-9:
            return f"{round(count)}/{unit}"
    return f"{per_s:g}/s"


class Breaker(BaseModel):
    """`breaker:` — after `open_after` transient failures in a row the connection opens: its
    actions wait, spending no attempts, for `cooldown` (doubling up to `max_cooldown` while
    the probe that follows fails). `breaker: false` turns it off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    open_after: int = Field(default=5, ge=1, le=10_000)
    cooldown: Duration = 30.0
    max_cooldown: Duration = 600.0

    def describe(self) -> str:
        """`opens after 5 failures in a row, cooldown 30s (up to 600s)`."""
        return (
            f"opens after {self.open_after} failures in a row, cooldown {self.cooldown:g}s "
            f"(up to {max(self.cooldown, self.max_cooldown):g}s)"
        )


def _breaker_or_off(value: Any) -> Any:
    return None if value is False else value


BreakerSetting = Annotated[Breaker | None, BeforeValidator(_breaker_or_off)]
