"""Serve a Starlette app with uvicorn in a thread; record requests; script failures."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from kuflow_router.redis_server import free_port


@dataclass(frozen=True)
class Received:
    """One request as the double saw it."""

    method: str
    path: str
    raw_path: str  # as sent, percent-encoding intact
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, the form as a dict, or None
    at: float


@dataclass
class Failure:
    """A scripted answer for the next `times` requests matching `method` and `path` (a regex).

    `status` 0 answers normally, only `delay_s` later: before the request is handled
    (`applied=False`), or after it was handled and before the answer goes out (`applied=True`,
    the window where a client that dies never learns that its call took effect).
    """

    method: str
    path: str
    status: int = 500
    times: int = 1
    retry_after: str | None = None
    delay_s: float = 0.0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    applied: bool = False


def error_body(status: int, message: str) -> dict[str, Any]:
    """KuFlow's DefaultError shape (also fine for the other doubles' generic errors)."""
    return {"timestamp": datetime.now(UTC).isoformat(), "status": status, "message": message}


class Double:
    """Base of every API double: a recorder and a failure script in front of the app's routes."""

    def __init__(self, app: Starlette) -> None:
        self.received: list[Received] = []
        self.failures: list[Failure] = []
        self.chaos: list[Failure] = []  # with `chaos_rate`, one of these answers a request
        self.chaos_rate = 0.0
        self._random = random.Random(7)
        self._lock = threading.Lock()
        self.app = app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, method: str, path: str, **options: Any) -> None:
        """Answer the next matching request(s) with a failure instead of the real thing."""
        with self._lock:
            self.failures.append(Failure(method, path, **options))

    def heal(self) -> None:
        """Forget every scripted failure: from now on, answer normally."""
        with self._lock:
            self.failures.clear()

    def slow(self, method: str, path: str, delay_s: float, applied: bool = False) -> None:
        """Answer the next matching request normally, `delay_s` late (see Failure)."""
        self.fail(method, path, status=0, delay_s=delay_s, applied=applied)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Received]:
        """What arrived, optionally filtered by method and a path regex."""
        return [
            r
            for r in list(self.received)
            if (method is None or r.method == method)
            and (path is None or re.fullmatch(path, r.path))
        ]

    def _scripted(self, method: str, path: str) -> Failure | None:
        if self.chaos_rate and self._random.random() < self.chaos_rate:
            return self._random.choice(self.chaos)
        with self._lock:
            for failure in self.failures:
                if (
                    failure.method == method
                    and re.fullmatch(failure.path, path)
                    and failure.times > 0
                ):
                    failure.times -= 1
                    return failure
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        raw = await request.body()
        body: Any = None
        if raw:
            content_type = request.headers.get("content-type", "")
            if "json" in content_type:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
            else:
                body = dict(parse_qsl(raw.decode(errors="replace")))
        self.received.append(
            Received(
                request.method,
                request.url.path,
                scope.get("raw_path", b"").decode(errors="replace"),
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
                time.monotonic(),
            )
        )
        failure = self._scripted(request.method, request.url.path)
        if failure is not None and failure.status:
            await self._fail(failure, scope, receive, send)
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def late(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await asyncio.sleep(failure.delay_s if failure else 0)
            await send(message)

        if failure is not None and not failure.applied:
            await asyncio.sleep(failure.delay_s)
        slow = failure is not None and failure.applied
        await self.app(scope, replay, late if slow else send)

    async def _fail(self, failure: Failure, scope: Scope, receive: Receive, send: Send) -> None:
        if failure.delay_s:
            await asyncio.sleep(failure.delay_s)
        headers = dict(failure.headers)
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        content = (
            failure.body
            if failure.body is not None
            else error_body(failure.status, "scripted failure")
        )
        response: Response = JSONResponse(content, status_code=failure.status, headers=headers)
        await response(scope, receive, send)

    def start(self, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            self,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API double did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # a scripted slow answer must not hold the stop
            self._thread.join(timeout=10)
