"""Login back-off: how many wrong admin tokens the console takes, from one address and from all.

An address that gave `PER_ADDRESS` wrong tokens within `WINDOW_S` is answered 429 until the
oldest of them ages out, before its token is even compared. Past `OVERALL` wrong tokens within
the window from all addresses together (many addresses guessing), every address that has guessed
wrong at all waits likewise — while an address with no wrong token, an operator's, still logs in.
Held in the console's memory: one console process guards its own login.
"""

from __future__ import annotations

import math
import time
from collections import deque

WINDOW_S = 60.0
PER_ADDRESS = 10
OVERALL = 100
MAX_ADDRESSES = 10_000  # addresses remembered at most; the stalest are forgotten first


class LoginThrottle:
    """Counts wrong tokens per address in a sliding window."""

    def __init__(self, per_address: int = PER_ADDRESS, overall: int = OVERALL) -> None:
        self._per_address = per_address
        self._overall = overall
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _prune(self, now: float) -> None:
        horizon = now - WINDOW_S
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        for address in [a for a, times in self._failures.items() if times[-1] <= horizon]:
            del self._failures[address]

    def wait_s(self, address: str, now: float | None = None) -> int:
        """Seconds `address` must wait before its next try (0: it may try now)."""
        now = time.monotonic() if now is None else now
        self._prune(now)
        times = self._failures.get(address)
        if not times:
            return 0
        recent = [t for t in times if t > now - WINDOW_S]
        if len(recent) >= self._per_address:
            return max(1, math.ceil(recent[-self._per_address] + WINDOW_S - now))
        if len(self._all) >= self._overall:
            return max(1, math.ceil(self._all[-self._overall] + WINDOW_S - now))
        return 0

    def failed(self, address: str, now: float | None = None) -> None:
        """Count one wrong token from `address`."""
        now = time.monotonic() if now is None else now
        if address not in self._failures and len(self._failures) >= MAX_ADDRESSES:
            stalest = min(self._failures, key=lambda a: self._failures[a][-1])
            del self._failures[stalest]
        times = self._failures.setdefault(address, deque(maxlen=self._per_address))
        times.append(now)
        self._all.append(now)
        while len(self._all) > self._overall:
            self._all.popleft()
