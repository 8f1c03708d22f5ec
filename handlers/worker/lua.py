"""Running the worker's Lua scripts: EVALSHA, loading a script the first time Redis lacks it;
packed by `common/redis_wire.py`, as they run on every event's path."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from common import redis_wire


async def run(redis: Redis, script: str, keys: list[str], args: list[Any]) -> Any:
    """Run `script` atomically; a Redis that restarted (and forgot it) is given it again.

    Raises:
        redis.RedisError: Redis is unreachable, or the script failed.
    """
    command = redis_wire.pack(["EVALSHA", redis_wire.script_id(script), len(keys), *keys, *args])
    (reply,) = await redis_wire.exchange(redis, command, 1)
    if isinstance(reply, NoScriptError):
        await redis.script_load(script)
        (reply,) = await redis_wire.exchange(redis, command, 1)
    if isinstance(reply, Exception):
        raise reply
    return reply
