"""A worker's own /metrics (ROUTER_WORKER_METRICS_PORT): the counters only a worker keeps —
actions, held calls, breaker transitions, alerts, events processed — for a worker that runs apart
from a receiver (the image's `worker`; `run` shows them on the receiver's /metrics already).

Who may read it is decided as for the receiver's (`receiver/admin.py`).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.admin import metrics_refusal

METRICS_CONCURRENCY = 8  # connections at once; past them uvicorn answers 503


def metrics_app(admin_token: str | None) -> Starlette:
    """The app: `GET /metrics` in Prometheus's text format."""
    expected = admin_token.encode() if admin_token else None

    async def metrics(request: Request) -> Response:
        refusal = metrics_refusal(request, expected)
        if refusal is not None:
            return refusal
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics)])
