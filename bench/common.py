"""What the worker benchmarks share: a private Redis, the API double, rules, events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from kuflow_router.redis_server import RedisServer, free_port

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


def event() -> dict[str, object]:
    """A PROCESS.CREATED event with fresh ids (its processId names the double's path)."""
    return {
        "id": str(uuid.uuid4()),
        "version": "1",
        "type": "PROCESS.CREATED",
        "timestamp": "2024-06-14T10:00:00Z",
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


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def env(**variables: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    return {**clean, "ROUTER_LOG_LEVEL": "WARNING", **variables}
