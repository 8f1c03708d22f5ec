"""Every listener of the router is bounded like the webhook's: the console's and a worker's
/metrics answer a head over the limit 431 and a head that never ends 408, inside a real `run`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from kuflow_router.redis_server import free_port
from tests.conftest import TOKEN
from tests.processes import Router, router_env, running_router

HANG_GUARD_S = 60


@pytest.fixture
def router(redis_url: str, tmp_path: Path) -> Iterator[tuple[Router, str]]:
    (tmp_path / "rules.yaml").write_text("version: 1\nrules: []\n")
    metrics_port = free_port()
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_TOKENS=TOKEN,
                     ROUTER_WORKER_METRICS_PORT=str(metrics_port))  # fmt: skip
    with running_router(["run"], env, tmp_path) as running:
        metrics = f"http://127.0.0.1:{metrics_port}"
        for _ in range(HANG_GUARD_S * 10):  # the worker starts its listener after the receiver
            try:
                httpx.get(f"{metrics}/metrics")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield running, metrics


def _answer(base: str, head: bytes, filler: int) -> bytes:
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.settimeout(HANG_GUARD_S)
        sock.sendall(head)
        try:
            for _ in range(filler):
                sock.sendall(b"x-filler: " + b"a" * 1014 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed once refused, as it should be
        return sock.recv(4096)


@pytest.mark.parametrize("listener", ["console", "metrics"])
def test_a_megabyte_of_headers_is_refused_431(router: tuple[Router, str], listener: str) -> None:
    running, metrics = router
    base = running.console if listener == "console" else metrics
    answer = _answer(base, b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n", 1024)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    still = httpx.get(f"{base}/{'metrics' if listener == 'metrics' else ''}", follow_redirects=True)
    assert still.status_code == 200  # and serving others


@pytest.mark.parametrize("listener", ["console", "metrics"])
def test_a_head_that_never_ends_is_answered_408(router: tuple[Router, str], listener: str) -> None:
    running, metrics = router
    base = running.console if listener == "console" else metrics
    answer = _answer(base, b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n", 0)  # and then nothing
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]


def test_the_worker_metrics_listen_on_loopback_by_default(router: tuple[Router, str]) -> None:
    _, metrics = router
    port = urlsplit(metrics).port
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = {line.split()[1] for line in listening if line.split()[3] == "0A"}  # LISTEN
    assert f"0100007F:{port:04X}" in local and f"00000000:{port:04X}" not in local
