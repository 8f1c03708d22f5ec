"""The router's Lua scripts (`store/scripts/*.lua`) and their one runner: EVALSHA, loading a
script the first time Redis lacks it; packed by `common/redis_wire.py`, as they run on every
event's path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from common import redis_wire

SCRIPTS = Path(__file__).parent / "scripts"


@dataclass(frozen=True)
class Script:
    """A script's text and its id (the SHA-1 Redis knows it by)."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", redis_wire.script_id(self.text))


def script(*names: str) -> Script:
    """The script of `scripts/NAME.lua`; several names are joined in order (a prelude first,
    such as `clock`)."""
    return Script("".join((SCRIPTS / f"{name}.lua").read_text() for name in names))


async def run(redis: Redis, script: Script, keys: list[str], args: list[Any]) -> Any:
    """Run `script` atomically; a Redis that restarted (and forgot it) is given it again.

    Raises:
        redis.RedisError: Redis is unreachable, or the script failed.
    """
    command = redis_wire.pack(["EVALSHA", script.sha, len(keys), *keys, *args])
    (reply,) = await redis_wire.exchange(redis, command, 1)
    if isinstance(reply, NoScriptError):
        await redis.script_load(script.text)
        (reply,) = await redis_wire.exchange(redis, command, 1)
    if isinstance(reply, Exception):
        raise reply
    return reply
