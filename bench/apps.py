"""The receivers compared by bench/receiver_throughput.py, served by uvicorn with the same settings.

bare    reads the body and answers 202: the ceiling for this server stack
naive   the same checks as the router (HMAC, event validation), then arq's own
        `enqueue_job(..., _job_id=id)`: the straightforward implementation
router  kuflow-router's receiver
"""

from __future__ import annotations

import sys
import time

import uvicorn
from arq.connections import ArqRedis, RedisSettings, create_pool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common import tracing
from common.logs import configure_logging
from contract.events import parse_event
from contract.job_format import JOB_FUNCTION
from kuflow_router.serve_commands import freeze_startup_heap
from receiver.app import create_app
from receiver.auth import AuthConfig, check_headers, check_signature
from receiver.settings import ReceiverSettings
from store.queue import QUEUE


def bare() -> Starlette:
    async def receive(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "queued"}, status_code=202)

    return Starlette(routes=[Route("/webhooks/kuflow", receive, methods=["POST"])])


def naive(settings: ReceiverSettings) -> Starlette:
    auth = AuthConfig.from_settings(settings)
    pool: list[ArqRedis] = []

    async def receive(request: Request) -> Response:
        check_headers(auth, None, request.headers, time.time())
        body = await request.body()
        check_signature(auth, request.headers, body)
        event = parse_event(body)
        if not pool:
            pool.append(await create_pool(RedisSettings.from_dsn(str(settings.redis_url))))
        job = await pool[0].enqueue_job(JOB_FUNCTION, body, 0, _job_id=event.id, _queue_name=QUEUE)
        status = "queued" if job else "duplicate"
        return JSONResponse({"id": event.id, "status": status}, status_code=202)

    return Starlette(routes=[Route("/webhooks/kuflow", receive, methods=["POST"])])


def main() -> None:
    kind, port, redis_url, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    settings = ReceiverSettings(redis_url=redis_url, webhook_secrets=secret)
    app = {"bare": bare, "naive": lambda: naive(settings), "router": lambda: create_app(settings)}[
        kind
    ]()
    if kind == "router":  # one JSON log line per event, as `serve` writes (to /dev/null here)
        configure_logging("json", "INFO")
        tracing.configure("receiver")  # as `serve` does: on with OTEL_EXPORTER_OTLP_ENDPOINT
    freeze_startup_heap()  # as `kuflow-router serve` does, for all three alike
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
