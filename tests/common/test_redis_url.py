"""ROUTER_REDIS_URL through Sentinel: the forms of `redis+sentinel://`, and its passwords masked."""

from __future__ import annotations

import pytest

from common import redact
from common.redis_url import SentinelTarget, client, is_sentinel, parse_sentinel, secrets
from common.settings import CommonSettings, load


@pytest.mark.parametrize(
    ("url", "target"),
    [
        pytest.param(
            "redis+sentinel://s1:26379,s2:26380,s3/mymaster/2",
            SentinelTarget((("s1", 26379), ("s2", 26380), ("s3", 26379)), "mymaster", 2),
            id="three sentinels, a default port, a database",
        ),
        pytest.param(
            "redis+sentinel://:p%40ss@[::1]:26379/cache",
            SentinelTarget((("::1", 26379),), "cache", 0, password="p@ss"),
            id="password before @, IPv6",
        ),
        pytest.param(
            "rediss+sentinel://app:pw@s1/mymaster/0?sentinel_password=sp",
            SentinelTarget((("s1", 26379),), "mymaster", 0, "app", "pw", "sp", tls=True),
            id="ACL user, the sentinels' own password, TLS",
        ),
        pytest.param(
            "redis+sentinel://s1/mymaster?password=pw",
            SentinelTarget((("s1", 26379),), "mymaster", 0, password="pw"),
            id="password as an option",
        ),
    ],
)
def test_the_forms_of_a_sentinel_url(url: str, target: SentinelTarget) -> None:
    assert is_sentinel(url) and parse_sentinel(url) == target


def test_a_plain_url_is_no_sentinel_url() -> None:
    assert not is_sentinel("redis://:pw@redis:6379/0")
    assert secrets("redis://:pw@redis:6379/0") == ["pw"]


def test_both_passwords_are_masked_once_the_settings_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "redis+sentinel://:redis-secret-1@s1:26379/mymaster/0?sentinel_password=sentinel-secret-2"
    monkeypatch.setenv("ROUTER_REDIS_URL", url)
    assert load(CommonSettings).redis_url == url
    assert redact.redact(f"failed: {url}").count("[redacted]") == 2


@pytest.mark.anyio
async def test_a_client_is_made_without_connecting() -> None:
    async with client("redis+sentinel://127.0.0.1:1/mymaster/0") as primary:
        assert primary.connection_pool.service_name == "mymaster"  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_the_primary_moving_leaves_a_sentinel_question_in_flight_alone(
    redis_url: str,
) -> None:
    """redis-py drops idle connections when the primary moves; a sentinel connection another
    coroutine is using at that moment must stay open (it was cut: 'NoneType' has no
    attribute 'writelines' in a job, during a failover). Closing the client closes it."""
    port = redis_url.rsplit(":", 1)[1].split("/")[0]  # any Redis holds a connection
    primary = client(f"redis+sentinel://127.0.0.1:{port}/mymaster/0")
    pool = primary.connection_pool
    sentinel_pool = pool.sentinel_manager.sentinels[0].connection_pool  # type: ignore[attr-defined]
    asking = await sentinel_pool.get_connection()
    await asking.connect()
    await pool.disconnect(inuse_connections=False)  # what redis-py does when the primary moves
    assert asking.is_connected
    await sentinel_pool.release(asking)
    await primary.aclose()
    assert not asking.is_connected
