"""Login back-off: ten wrong tokens a minute from one address are answered 429 with Retry-After,
many addresses together are capped, and a right token from an address with no wrong one still
logs in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from console.throttle import WINDOW_S, LoginThrottle
from tests.console.conftest import ADMIN


def test_one_address_waits_after_ten_wrong_tokens_in_a_minute() -> None:
    throttle = LoginThrottle()
    for second in range(10):
        assert throttle.wait_s("10.0.0.1", now=second) == 0
        throttle.failed("10.0.0.1", now=second)
    assert throttle.wait_s("10.0.0.1", now=10) == 50  # until the first of them is a minute old
    assert throttle.wait_s("10.0.0.2", now=10) == 0
    assert throttle.wait_s("10.0.0.1", now=WINDOW_S + 0.5) == 0


def test_many_addresses_together_are_capped_but_a_new_one_may_try() -> None:
    throttle = LoginThrottle(overall=100)
    for n in range(100):
        throttle.failed(f"10.0.{n // 250}.{n % 250}", now=1.0)
    assert throttle.wait_s("10.0.0.7", now=2.0) == 59  # guessed once: waits with the rest
    assert throttle.wait_s("192.0.2.1", now=2.0) == 0  # never guessed wrong: may log in


@pytest.mark.anyio
async def test_the_console_answers_429_and_lets_another_address_in(
    make_stand: Callable[..., Any],
) -> None:
    async with make_stand() as stand:
        answers = [await stand.login("wrong-token-wrong-token-1") for _ in range(11)]
        blocked = await stand.login()  # even the right token waits, from this address
        app = stand.console._transport.app  # type: ignore[attr-defined]
        other = httpx.ASGITransport(app=app, client=("192.0.2.9", 40000))
        async with httpx.AsyncClient(transport=other, base_url="http://router.test") as client:
            elsewhere = await client.post("/login", data={"token": ADMIN, "next": "/"})
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0
    assert "Too many wrong tokens from this address" in answers[-1].text
    assert blocked.status_code == 429
    assert elsewhere.status_code == 303
