"""What the worker benchmarks share: a private Redis, the API double, rules, events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from arq import Worker
from redis import Redis as SyncRedis

from kuflow_router.redis_server import RedisServer, free_port
from store import keys

HERE = Path(__file__).resolve().parent
RULES = """\
version: 1
connections:
  api: {{type: http, base_url: "{url}"}}
rules:
  - name: notify
    when: {{type: PROCESS.CREATED, data.processState: RUNNING}}
    do:
      - api.request:
          {{method: POST, path: "/hook/{{{{ data.processId }}}}", json: {{event: "{{{{ id }}}}"}}}}
"""


NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # older events are refused


def event() -> dict[str, object]:
    """A PROCESS.CREATED event with fresh ids (its processId names the double's path)."""
    return {
        "id": str(uuid.uuid4()),
        "version": "1",
        "type": "PROCESS.CREATED",
        "timestamp": NOW,
        "data": {"processId": str(uuid.uuid4()), "processState": "RUNNING"},
    }


def body(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def wait_http(url: str) -> None:
    for _ in range(400):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A private Redis with the append-only file on, as in production."""
    server = RedisServer(workdir / "redis", persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def api_double() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "double.py"), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_arrivals")
        yield url
    finally:
        process.terminate()
        process.wait()


def rules_file(workdir: Path, double_url: str) -> Path:
    path = workdir / "rules.yaml"
    path.write_text(RULES.format(url=double_url))
    return path


@asynccontextmanager
async def console_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a console app, in-process, logged in (the app has no token: loopback)."""
    from console.access import COOKIE

    session = app.state.console.access.new_session()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        client.cookies.set(COOKIE, session)
        yield client


def done_count(redis: SyncRedis) -> int:
    """Events finished `done` in the last few minutes (the minute counts the console reads)."""
    minute = int(time.time() // 60)
    counts: list[Any] = [redis.hget(keys.stats(m), "done") for m in range(minute - 5, minute + 1)]
    return sum(int(count) for count in counts if count)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def env(**variables: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    return {**clean, "ROUTER_LOG_LEVEL": "WARNING", **variables}


TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 (a throwaway credential of the benchmark's own router)


@dataclass
class Deployment:
    """A receiver and a worker, as the image runs them, with what they talk to."""

    url: str  # the webhook URL, token included
    redis_url: str
    double_url: str
    serve: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]


@contextmanager
def deployment() -> Iterator[Deployment]:
    """`kuflow-router serve` and `worker` with the image's defaults, on a private Redis, rules
    calling the local double."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as redis,
        api_double() as double,
    ):
        variables = env(
            ROUTER_REDIS_URL=redis.url,
            ROUTER_WEBHOOK_TOKENS=TOKEN,
            ROUTER_RULES_FILE=str(rules_file(Path(tmp), double)),
        )
        port = free_port()
        script = str(Path(sys.executable).parent / "kuflow-router")
        address = ["--host", "127.0.0.1", "--port", str(port)]
        serve = subprocess.Popen([script, "serve", *address], env=variables)
        worker = subprocess.Popen([script, "worker"], env=variables)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            url = f"http://127.0.0.1:{port}/webhooks/kuflow/{TOKEN}"
            yield Deployment(url, redis.url, double, serve, worker)
        finally:
            for process in (serve, worker):
                process.terminate()
                process.wait()


@contextmanager
def worker_stage() -> Iterator[tuple[str, Path, asyncio.Runner]]:
    """What a worker bench runs on: a private Redis, the local API double with rules pointing at
    it, and a uvloop event loop as in production — (Redis URL, rules file, runner)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as redis,
        api_double() as url,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        yield redis.url, rules_file(Path(tmp), url), runner


async def drain(worker: Worker) -> float:
    """Run `worker` in burst mode until the queue is empty; the seconds it took."""
    worker.burst = True
    started = time.perf_counter()
    try:
        await worker.main()
    finally:
        await worker.close()
    return time.perf_counter() - started
