"""Real `kuflow-router` subprocesses for end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kuflow_router.redis_server import free_port


def router_command() -> list[str]:
    """The console script of the environment running the tests."""
    script = Path(sys.executable).parent / "kuflow-router"
    return [str(script)] if script.exists() else [shutil.which("kuflow-router") or "kuflow-router"]


def router_env(**variables: str) -> dict[str, str]:
    """The current environment without ROUTER_*, plus the given variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update(variables)
    return env


@dataclass
class Router:
    """A running `kuflow-router` process; its output goes to files so no pipe can fill up."""

    base: str
    process: subprocess.Popen[bytes]
    logs: Path
    console: str = ""  # the console of a `run`

    def stop(self) -> tuple[str, str]:
        """SIGTERM the process, wait for it, and return what it printed (stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return (self.logs / "stdout").read_text(), (self.logs / "stderr").read_text()


@contextmanager
def running_router(
    args: list[str], env: dict[str, str], cwd: Path, command: list[str] | None = None
) -> Iterator[Router]:
    """Start `kuflow-router ARGS --port P` in `cwd`, wait until /healthz answers; stop it after."""
    port = free_port()
    console = free_port()
    if args[:1] == ["run"]:  # its console too, on a port of its own
        args = [*args, "--console-port", str(console)]
    logs = Path(tempfile.mkdtemp(prefix="router-logs-", dir=cwd))
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        process = subprocess.Popen(
            [*(command or router_command()), *args, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    router = Router(f"http://127.0.0.1:{port}", process, logs, f"http://127.0.0.1:{console}")
    try:
        _wait_healthy(router)
        yield router
    finally:
        router.stop()


def _wait_healthy(router: Router) -> None:
    # A guard against a hung start-up, not a speed assertion: start-up time is not tested.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if router.process.poll() is not None:
            _, err = router.stop()
            raise AssertionError(f"kuflow-router exited with {router.process.returncode}:\n{err}")
        try:
            if httpx.get(f"{router.base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("kuflow-router did not answer /healthz")


def wait_for(condition: Callable[[], Any], what: str) -> None:
    """Poll until `condition()` holds; the 60 s limit guards against a hang, it is no speed test."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def post_event(base: str, event: dict[str, Any], token: str) -> httpx.Response:
    """POST an event to a router's token URL."""
    return httpx.post(
        f"{base}/webhooks/kuflow/{token}",
        content=json.dumps(event),
        headers={"content-type": "application/json"},
    )
