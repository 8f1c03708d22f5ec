"""Bad input under load: a real receiver answers every malformed request with a 4xx, queues
nothing, and its memory stays flat (issue 8 §5). `-m slow` runs the full size."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from receiver.auth import sign_headers
from store import keys
from tests.chaos.accounting import LINES
from tests.conftest import SECRET, TOKEN, make_event
from tests.processes import router_env, running_router

MAX_BODY = 64 * 1024
GROWTH_LIMIT_MIB = 16  # what the allocator may keep of the largest bodies; a leak grows past it


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# (token in the URL, body, headers, expected status) of one malformed delivery
Delivery = tuple[bool, bytes, dict[str, str], int]
JSON = {"content-type": "application/json"}


def _signed(body: bytes, age_s: int, tamper: bytes = b"") -> dict[str, str]:
    return {**JSON, **sign_headers(SECRET, "msg_1", int(time.time()) - age_s, body + tamper)}


def _missing_field() -> bytes:
    event = make_event()
    del event["data"]["processId"]
    return json.dumps(event).encode()


BAD: list[Callable[[random.Random, bytes], Delivery]] = [
    lambda rng, event: (True, rng.randbytes(rng.randrange(1, 2000)), JSON, 400),
    lambda rng, event: (True, event[: rng.randrange(1, len(event))], JSON, 400),
    lambda rng, event: (True, b"[" * (d := rng.randrange(1000, 30000)) + b"]" * d, JSON, 400),
    lambda rng, event: (True, b'{"id":"' + b"x" * rng.randrange(MAX_BODY - 100) + b'"}', JSON, 400),
    lambda rng, event: (True, b" " * (MAX_BODY + rng.randrange(1, MAX_BODY)), JSON, 413),
    lambda rng, event: (True, event.replace(b'"1"', b'"\xff\xfe"', 1), JSON, 400),
    lambda rng, event: (True, event, {"content-type": rng.choice(["text/plain", "", "x/y"])}, 415),
    lambda rng, event: (False, event, JSON, 401),
    lambda rng, event: (False, event, _signed(event, 0, tamper=b" "), 401),
    lambda rng, event: (False, event, _signed(event, 3600), 401),
    lambda rng, event: (True, _missing_field(), JSON, 400),
    lambda rng, event: (True, json.dumps(rng.choice([[], 1, "x", None])).encode(), JSON, 400),
]


def malformed_http(base: str) -> bytes:
    """A request that is not HTTP at all, sent on a raw socket; returns the status line."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(b"\x16\x03\x01 NOT HTTP\r\n\r\n")
        return sock.recv(100).split(b"\r\n", 1)[0]


async def hammer(base: str, count: int, seed: int) -> Counter[str]:
    """Send `count` malformed deliveries, 32 at a time; count what came back."""
    rng = random.Random(seed)
    outcome: Counter[str] = Counter()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32), timeout=60) as client:

        async def one() -> None:
            event = json.dumps(make_event()).encode()
            with_token, body, headers, expected = rng.choice(BAD)(rng, event)
            url = f"{base}/webhooks/kuflow" + (f"/{TOKEN}" if with_token else "")
            status = (await client.post(url, content=body, headers=headers)).status_code
            outcome["5xx" if status >= 500 else "4xx" if status >= 400 else "2xx"] += 1
            outcome["as expected" if status == expected else f"{expected} got {status}"] += 1

        for start in range(0, count, 32):
            await asyncio.gather(*(one() for _ in range(min(32, count - start))))
    return outcome


@pytest.mark.parametrize(
    "count",
    [pytest.param(1500, id="smoke"), pytest.param(30000, id="full", marks=pytest.mark.slow)],
)
def test_bad_input_under_load_is_refused_and_memory_stays_flat(
    redis_url: str, tmp_path: Path, count: int
) -> None:
    env = router_env(
        ROUTER_REDIS_URL=redis_url,
        ROUTER_WEBHOOK_TOKENS=TOKEN,
        ROUTER_WEBHOOK_SECRETS=SECRET,
        ROUTER_MAX_BODY_BYTES=str(MAX_BODY),
    )
    with running_router(["serve"], env, tmp_path) as router:
        warm_up = count // 10
        first = asyncio.run(hammer(router.base, warm_up, seed=1))
        before = rss_mib(router.process.pid)
        rest = asyncio.run(hammer(router.base, count - warm_up, seed=2))
        after = rss_mib(router.process.pid)
        not_http = [malformed_http(router.base) for _ in range(20)]
        assert router.process.poll() is None
    outcome = first + rest
    queued = redis.Redis.from_url(redis_url).zcard(keys.QUEUE)
    LINES.append(
        f"bad input under load: sent {count}, answered 4xx {outcome['4xx']}, 5xx {outcome['5xx']}, "
        f"2xx {outcome['2xx']}, queued {queued}; receiver RSS {before:.0f} -> {after:.0f} MiB"
    )
    assert outcome["as expected"] == count, outcome
    assert queued == 0
    assert all(line.startswith(b"HTTP/1.1 400") for line in not_http), not_http
    assert after - before < GROWTH_LIMIT_MIB
