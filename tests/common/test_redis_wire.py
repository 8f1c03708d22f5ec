"""Our packing of commands is byte for byte redis-py's, and an exchange answers in order."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError, ResponseError

from common.redis_wire import exchange, pack, script_id


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    args = ["EVALSHA", "a" * 40, 9, "router:seen:é", 1795792083000, 0, -1, 0.25, 1e-7,
            b"{\r\n\x00}", ""]  # fmt: skip
    assert pack(args) == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("value", [True, None, [1]])
def test_what_redis_py_refuses_is_refused(value: object) -> None:
    with pytest.raises(DataError):
        pack(["SET", "k", value])


@pytest.mark.anyio
async def test_replies_come_back_in_order_an_error_in_its_place(redis_url: str) -> None:
    async with Redis.from_url(redis_url) as redis:
        commands = pack(["SET", "k", "v"]) + pack(["INCR", "k"]) + pack(["GET", "k"])
        ok, error, value = await exchange(redis, commands, 3)
        assert ok is True or ok == b"OK"
        assert isinstance(error, ResponseError) and value == b"v"
        assert await exchange(redis, pack(["PING"]), 1) in ([True], [b"PONG"])  # nothing left over


@pytest.mark.anyio
async def test_a_script_id_is_the_one_redis_gives(redis_url: str) -> None:
    async with Redis.from_url(redis_url) as redis:
        assert await redis.script_load("return 1") == script_id("return 1")
