"""Bad input under load: a real receiver answers every malformed request with a 4xx, queues
nothing, and its memory stays flat (issue 8 §5). `-m slow` runs the full size."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from receiver import keys
from receiver.auth import sign_headers
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


def json_headers(**extra: str) -> dict[str, str]:
    return {"content-type": "application/json", **extra}


def bad_request(rng: random.Random, base: str) -> tuple[str, bytes, dict[str, str], int]:
    """(url, body, headers, expected status) of one malformed delivery, chosen at random."""
    token_url, plain_url = f"{base}/webhooks/kuflow/{TOKEN}", f"{base}/webhooks/kuflow"
    event = json.dumps(make_event()).encode()
    kind = rng.randrange(12)
    if kind == 0:
        return token_url, rng.randbytes(rng.randrange(1, 2000)), json_headers(), 400
    if kind == 1:
        return token_url, event[: rng.randrange(1, len(event))], json_headers(), 400
    if kind == 2:
        depth = rng.randrange(1000, 30000)
        return token_url, b"[" * depth + b"]" * depth, json_headers(), 400
    if kind == 3:
        huge = {"id": "x" * rng.randrange(1000, MAX_BODY - 100)}
        return token_url, json.dumps(huge).encode(), json_headers(), 400
    if kind == 4:
        return token_url, b" " * (MAX_BODY + rng.randrange(1, MAX_BODY)), json_headers(), 413
    if kind == 5:
        return token_url, event.replace(b'"1"', b'"\xff\xfe"', 1), json_headers(), 400
    if kind == 6:
        return token_url, event, {"content-type": rng.choice(["text/plain", "", "x/y"])}, 415
    if kind == 7:
        return plain_url, event, json_headers(), 401
    if kind == 8:
        signed = sign_headers(SECRET, "msg_1", int(time.time()), event + b" ")
        return plain_url, event, json_headers(**signed), 401
    if kind == 9:
        stale = sign_headers(SECRET, "msg_1", int(time.time()) - 3600, event)
        return plain_url, event, json_headers(**stale), 401
    if kind == 10:
        broken = make_event()
        del broken["data"]["processId"]
        return token_url, json.dumps(broken).encode(), json_headers(), 400
    value = rng.choice([[], 1, "event", None, {"data": []}])
    return token_url, json.dumps(value).encode(), json_headers(), 400


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
            url, body, headers, expected = bad_request(rng, base)
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
