"""Alert dedup: one window per alert and cause, in which later alerts are folded into a count."""

from __future__ import annotations

from redis.asyncio import Redis

from store import keys, lua

KEEP_MS = 24 * 3600 * 1000  # a cause's folded count is kept this long after its last alert
_WINDOW = lua.script("alert_window")


async def open_window(redis: Redis, alert: str, cause: str, window_ms: int, now_ms: int) -> int:
    """-1 while the window of (`alert`, `cause`) is open (this alert is folded in); else it
    opens one and answers how many were folded since the last alert sent."""
    return int(
        await lua.run(redis, _WINDOW, [keys.alert(alert, cause)], [now_ms, window_ms, KEEP_MS])
    )
