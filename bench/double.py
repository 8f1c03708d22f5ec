"""An API double for benchmarks: answers every request at once and notes when each arrived.

    python bench/double.py PORT

`GET /_arrivals` returns {path: arrival time (epoch seconds)} for every other request seen.
"""

from __future__ import annotations

import sys
import time
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

arrivals: dict[str, float] = {}


async def anything(request: Request) -> Response:
    arrivals.setdefault(request.url.path, time.time())
    await request.body()
    return JSONResponse({"id": str(uuid.uuid4())}, status_code=201)


async def report(request: Request) -> Response:
    return JSONResponse(arrivals)


app = Starlette(
    routes=[
        Route("/_arrivals", report, methods=["GET"]),
        Route("/{path:path}", anything, methods=["GET", "POST", "PUT", "PATCH"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
