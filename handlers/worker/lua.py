"""Running the worker's Lua scripts: EVALSHA, loading a script the first time Redis lacks it;
packed by `common/redis_wire.py`, as they run on every event's path."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from common import redis_wire


@cache
def _sha(script: str) -> str:
    """Redis's id of a script, computed once per script: scripts run on every event's path."""
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324


async def run(redis: Redis, script: str, keys: list[str], args: list[Any]) -> Any:
    """Run `script` atomically; a Redis that restarted (and forgot it) is given it again.

    Raises:
        redis.RedisError: Redis is unreachable, or the script failed.
    """
    command = redis_wire.pack(["EVALSHA", _sha(script), len(keys), *keys, *args])
    (reply,) = await redis_wire.exchange(redis, command, 1)
    if isinstance(reply, NoScriptError):
        await redis.script_load(script)
        (reply,) = await redis_wire.exchange(redis, command, 1)
    if isinstance(reply, Exception):
        raise reply
    return reply
