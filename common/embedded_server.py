"""A uvicorn server inside a process that already owns its signals (`run`'s console, a worker's
/metrics): started as a task, stopped by `should_exit`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """A second server in a process that already runs one: the outer loop owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serving(
    app: Any, host: str, port: int, http: Any = "auto", limit_concurrency: int | None = None
) -> AsyncIterator[None]:
    """Serve `app` on host:port for as long as the block runs; `http`, the protocol (class)
    and `limit_concurrency`, the most connections and requests at once (then 503), as uvicorn
    takes them."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            lifespan="off", http=http,
                            limit_concurrency=limit_concurrency)  # fmt: skip
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
