"""A worker's own /metrics (ROUTER_WORKER_METRICS_PORT): the counters only a worker keeps —
actions, held calls, breaker transitions, alerts, events processed — for a worker that runs apart
from a receiver (the image's `worker`; `run` shows them on the receiver's /metrics already).

As the receiver's: with ROUTER_ADMIN_TOKEN set it wants that token as a Bearer; without one it
answers this machine only.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _local(request: Request) -> bool:
    try:
        return request.client is not None and ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def metrics_app(admin_token: str | None) -> Starlette:
    """The app: `GET /metrics` in Prometheus's text format."""
    expected = admin_token.encode() if admin_token else None

    async def metrics(request: Request) -> Response:
        if expected is None and not _local(request):
            detail = "Without ROUTER_ADMIN_TOKEN, /metrics answers only this machine; set it."
            return JSONResponse({"title": "Forbidden", "detail": detail}, status_code=403)
        if expected is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
                return JSONResponse({"title": "Unauthorized", "detail": "Send the admin token."},
                                    status_code=401)  # fmt: skip
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics)])
