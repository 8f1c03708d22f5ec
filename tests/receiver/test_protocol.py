"""Slow clients cannot hold the receiver: a real `kuflow-router serve` with a 2 s read deadline."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from store import keys
from tests.conftest import TOKEN, make_event
from tests.processes import Router, post_event, router_env, running_router

SLOW_CLIENTS = 60  # of each kind
HANG_GUARD_S = 60  # a socket that gets no answer in this long fails the test: no speed test


@pytest.fixture
def router(redis_url: str, tmp_path: Path) -> Iterator[Router]:
    env = router_env(
        ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_TOKENS=TOKEN, ROUTER_READ_TIMEOUT_S="2"
    )
    with running_router(["serve"], env, tmp_path) as running:
        yield running


def connect(router: Router) -> socket.socket:
    address = urlsplit(router.base)
    sock = socket.create_connection((address.hostname, address.port))
    sock.settimeout(HANG_GUARD_S)
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def request_head(length: int) -> bytes:
    return (
        f"POST /webhooks/kuflow/{TOKEN} HTTP/1.1\r\nhost: router\r\n"
        f"content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    ).encode()


def trickle(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send a byte at a time, as slowloris does, until the server closes or `stop` is set."""
    for byte in data:
        if stop.wait(0.1):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return  # closed by the server: what the test expects


def test_slow_clients_are_cut_off_and_others_are_served(redis_url: str, router: Router) -> None:
    silent = [connect(router) for _ in range(SLOW_CLIENTS)]
    partial_headers = [connect(router) for _ in range(SLOW_CLIENTS)]
    for sock in partial_headers:
        sock.sendall(b"POST /webhooks/kuflow HTTP/1.1\r\nhost: router\r\n")
    stalled_bodies = [connect(router) for _ in range(SLOW_CLIENTS)]
    for sock in stalled_bodies:
        sock.sendall(request_head(500) + b'{"id": "')
    trickling = connect(router)
    stop = threading.Event()
    sender = threading.Thread(target=trickle, args=(trickling, request_head(10) * 100, stop))
    sender.start()

    # While all of them hang on, an ordinary delivery is received.
    event = make_event()
    assert post_event(router.base, event, TOKEN).status_code == 202

    try:
        for sock in silent + partial_headers:
            assert answer_of(sock).startswith(b"HTTP/1.1 408 ")
        for sock in stalled_bodies:
            head, _, body = answer_of(sock).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 ")
            assert b"connection: close" in head.lower()
            assert json.loads(body)["type"].endswith(":request-timeout")
        assert answer_of(trickling).startswith(b"HTTP/1.1 408 ")
    finally:
        stop.set()
        sender.join()

    client = redis.Redis.from_url(redis_url)
    assert client.zrange(keys.QUEUE, 0, -1) == [event["id"].encode()]
    assert post_event(router.base, make_event(), TOKEN).status_code == 202
    # Every slow client is counted: the header deadline's own, and the app's for the bodies.
    scrape = httpx.get(f"{router.base}/metrics").text
    timeouts = re.search(
        r'router_events_received_total\{outcome="timeout",type="none"\} (\S+)', scrape
    )
    assert timeouts and float(timeouts.group(1)) == 3 * SLOW_CLIENTS + 1


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match
    return int(match.group(1))


def test_a_megabyte_of_headers_is_refused_431_and_costs_no_memory(
    router: Router, rdb: redis.Redis
) -> None:
    before = rss_kib(router.process.pid)
    answers = []
    for _ in range(20):  # 20 MB of headers in all, each request refused at 16 KiB
        with connect(router) as sock:
            sock.sendall(f"POST /webhooks/kuflow/{TOKEN} HTTP/1.1\r\nhost: x\r\n".encode())
            try:
                for _ in range(1024):
                    sock.sendall(b"x-filler: " + b"a" * 1014 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed by the receiver, as it should be, once it had refused
            answers.append(sock.recv(4096))
    assert all(a.startswith(b"HTTP/1.1 431 ") for a in answers), answers[0]
    assert b'"status":431' in answers[0]
    assert rss_kib(router.process.pid) - before < 20 * 1024  # not the 20 MB it was sent
    assert rdb.zcard(keys.QUEUE) == 0
    assert post_event(router.base, make_event(), TOKEN).status_code == 202  # still serving


def test_too_many_headers_are_refused_and_ordinary_ones_pass(router: Router) -> None:
    many = {f"x-h{i}": "1" for i in range(150)}
    refused = httpx.post(f"{router.base}/webhooks/kuflow/{TOKEN}", headers=many, content=b"{}")
    assert refused.status_code == 431
    fine = {f"x-h{i}": "1" for i in range(50)}
    event = json.dumps(make_event())
    accepted = httpx.post(
        f"{router.base}/webhooks/kuflow/{TOKEN}",
        headers={**fine, "content-type": "application/json"},
        content=event,
    )
    assert accepted.status_code == 202
