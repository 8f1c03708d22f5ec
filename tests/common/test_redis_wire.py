"""Our packing of commands is byte for byte redis-py's, and an exchange answers in order."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, DataError, ResponseError

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


@pytest.mark.anyio
async def test_a_cancelled_exchange_leaves_no_reply_for_the_next_command(redis_url: str) -> None:
    """Cancelled after sending (a timeout, a stopping worker): the connection goes back to the
    pool with a reply still to come. It must not be used again, or the next command would read
    that reply as its own."""
    pool = ConnectionPool.from_url(redis_url, max_connections=1)  # one connection: it is reused
    try:
        async with Redis(connection_pool=pool) as redis:
            waiting = exchange(redis, pack(["BLPOP", "router:test:empty", 1]), 1)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(waiting, 0.1)
            assert await redis.set("router:test:k", "mine") is True
            assert await redis.get("router:test:k") == b"mine"
    finally:
        await pool.disconnect()  # a pool given to a client is not closed with it


@pytest.mark.anyio
async def test_a_connection_killed_mid_exchange_is_retried_on_a_new_one(redis_url: str) -> None:
    """With a retry on connection errors (the worker's client has one), as redis-py's pipeline."""
    retrying = {"retry": Retry(NoBackoff(), 2), "retry_on_error": [ConnectionError]}
    async with Redis.from_url(redis_url, **retrying) as redis, Redis.from_url(redis_url) as other:
        blocked = asyncio.create_task(exchange(redis, pack(["BLPOP", "router:test:q", 5]), 1))
        for _ in range(200):  # until the BLPOP is on the server
            if any(c.get("cmd") == "blpop" for c in await other.client_list()):
                break
            await asyncio.sleep(0.01)
        await other.client_kill_filter(_type="normal", skipme=True)
        await other.rpush("router:test:q", "x")
        assert await blocked == [[b"router:test:q", b"x"]]
        assert await exchange(redis, pack(["PING"]), 1) in ([True], [b"PONG"])
