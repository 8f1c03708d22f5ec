"""Console sessions that logged out — kept until the session would have expired anyway, so a
copied cookie cannot come back — and single sign-ons under way (each taken once)."""

from __future__ import annotations

from redis.asyncio import Redis

from store import keys


async def end(redis: Redis, nonce: str, expires: int) -> None:
    """Session `nonce` logged out; it would have expired at `expires` (epoch seconds)."""
    await redis.set(keys.ended_session(nonce), "1", exat=expires)


async def ended(redis: Redis, nonce: str) -> bool:
    """Whether session `nonce` logged out."""
    return bool(await redis.exists(keys.ended_session(nonce)))


async def begin_sso(redis: Redis, state: str, value: str, ttl_s: int) -> None:
    """A sign-on under way, by its `state`: what its return needs (`value`), for `ttl_s`."""
    await redis.set(keys.sso_state(state), value, ex=ttl_s)


async def take_sso(redis: Redis, state: str) -> str | None:
    """What a sign-on's `state` was begun with, once: a second return with it finds nothing."""
    value = await redis.getdel(keys.sso_state(state))
    return value.decode() if value is not None else None
