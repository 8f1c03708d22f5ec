"""Running the worker's Lua scripts: EVALSHA, loading a script the first time Redis lacks it."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


@cache
def _sha(script: str) -> str:
    """Redis's id of a script, computed once per script: scripts run on every event's path."""
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324


async def run(redis: Redis, script: str, keys: list[str], args: list[Any]) -> Any:
    """Run `script` atomically; a Redis that restarted (and forgot it) is given it again."""
    sha = _sha(script)
    try:
        return await redis.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
    except NoScriptError:
        await redis.script_load(script)
        return await redis.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
