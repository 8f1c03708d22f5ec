"""Console sessions that logged out: kept until the session would have expired anyway, so a
copied cookie cannot come back."""

from __future__ import annotations

from redis.asyncio import Redis

from store import keys


async def end(redis: Redis, nonce: str, expires: int) -> None:
    """Session `nonce` logged out; it would have expired at `expires` (epoch seconds)."""
    await redis.set(keys.ended_session(nonce), "1", exat=expires)


async def ended(redis: Redis, nonce: str) -> bool:
    """Whether session `nonce` logged out."""
    return bool(await redis.exists(keys.ended_session(nonce)))
